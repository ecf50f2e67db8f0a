import { type Tx, transaction } from '../db/index.ts';
import { assert } from '../shared/assert.ts';
import { newId } from '../shared/ids.ts';
import type { CardData, NetworkOperation, NetworkRequest, NetworkReversal } from './card-network.ts';
import type { PaymentRecordRow, PaymentsCore } from './core.ts';
import { merchantPendingAccount, paymentFromRow } from './core.ts';
import { responseCodeOf } from './outcomes.ts';
import { insertRow, type PaymentRow } from './recorder.ts';
import type { CardRequest, CardResult, ReversalRequest } from './types.ts';

// Reversals, both ways.
// - From a terminal (0400): undo the request with that key exactly once, whatever became of it. A
//   request never seen leaves a `blocked` row under its key, so that it is refused if it comes late.
// - To the network (store and forward): every reversal this host owes — for a terminal's reversal,
//   a timeout, or an approval it could not record — is a row in `network_reversals`, sent until the
//   network acknowledges it: first as a reversal (0420), then as repeats (0421).

/** What is kept of a network request to send its reversal later (no card data: that is in the vault). */
interface StoredRequest {
  operation: NetworkOperation;
  stan: string;
  rrn: string;
  transmittedAt: string;
  amountMinor: string;
  currencyNumeric: string;
  acquirerCode: string;
  terminalId: string;
  merchantId: string;
  merchantName: string;
  entryMode: string;
  expiry?: string;
}

const RETRY_DELAYS_MS = [1000, 2000, 5000, 10_000, 30_000, 60_000];
/** A claimed reversal is the sender's for this long; after that another node may send it. */
const CLAIM_MS = 30_000;

export class ReversalQueue {
  readonly #core: PaymentsCore;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;

  constructor(core: PaymentsCore) {
    this.#core = core;
  }

  /** Records, within `tx`, a reversal owed to the network for `paymentId`. */
  async enqueue(
    tx: Tx,
    paymentId: string,
    request: { card?: CardData },
    networkRequest: Omit<NetworkRequest, 'pinBlockUnderZpk' | 'card'>,
    reason: NetworkReversal['reason'],
  ): Promise<void> {
    const card = request.card;
    // Every request that reaches the network has a card (the payments module checks it first).
    assert(card !== undefined, 'a reversal owed to the network has its card');
    const token = (await this.#core.deps.cardData.tokenize(card.pan, { tx })).token;
    await this.#core.deps.cardData.vaultStore(token, card.pan, { tx });
    const stored: StoredRequest = {
      operation: networkRequest.operation,
      stan: networkRequest.stan,
      rrn: networkRequest.rrn,
      transmittedAt: networkRequest.transmittedAt.toISOString(),
      amountMinor: networkRequest.amountMinor.toString(),
      currencyNumeric: networkRequest.currencyNumeric,
      acquirerCode: networkRequest.acquirerCode,
      terminalId: networkRequest.terminalId,
      merchantId: networkRequest.merchantId,
      merchantName: networkRequest.merchantName,
      entryMode: card?.entryMode ?? '012',
      ...(card?.expiry ? { expiry: card.expiry } : {}),
    };
    await tx.query(
      `INSERT INTO network_reversals (id, payment_id, reason, request, card_token) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (payment_id) DO NOTHING`,
      [newId(), paymentId, reason, JSON.stringify(stored), token],
    );
  }

  /**
   * A reversal owed when the payment could not be recorded: kept in the database like the others
   * when it can be (keyed by a fresh id), else retried from memory until the network acknowledges.
   */
  reverseNow(
    request: CardRequest,
    networkRequest: Omit<NetworkRequest, 'pinBlockUnderZpk' | 'card'>,
    reason: NetworkReversal['reason'],
  ): void {
    void transaction(this.#core.deps.db, (tx) =>
      this.enqueue(tx, newId(), request, networkRequest, reason),
    ).then(
      () => this.kick(),
      async (error: unknown) => {
        this.#core.log.error(
          { err: error, rrn: networkRequest.rrn },
          'cannot store a reversal: sending it from memory',
        );
        for (let attempt = 1; ; attempt++) {
          assert(request.card !== undefined, 'a reversal owed to the network has its card');
          const card = request.card;
          const outcome = await this.#core.deps.network.reverse(
            { original: { ...networkRequest, card }, reason, attempt },
            { timeoutMs: this.#core.settings.networkTimeoutMs },
          );
          if (outcome.status === 'acknowledged') return;
          await new Promise((resolve) =>
            setTimeout(resolve, RETRY_DELAYS_MS[Math.min(attempt - 1, RETRY_DELAYS_MS.length - 1)]),
          );
        }
      },
    );
  }

  /** Sends what is due soon, without waiting for the next tick. */
  kick(): void {
    if (this.#stopped) return;
    setImmediate(() => void this.runDue());
  }

  start(intervalMs = 1000): void {
    this.#stopped = false;
    this.#timer = setInterval(() => void this.runDue(), intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#running;
  }

  /** Sends every due reversal once; returns how many the network acknowledged. */
  async runDue(limit = 50): Promise<number> {
    if (this.#running !== undefined) {
      await this.#running;
      return 0;
    }
    let acknowledged = 0;
    this.#running = (async () => {
      const db = this.#core.deps.db;
      const due = await db.query<{
        id: string;
        reason: NetworkReversal['reason'];
        request: StoredRequest;
        card_token: string | null;
        attempts: number;
      }>(
        `UPDATE network_reversals SET next_attempt_at = now() + make_interval(secs => $2 / 1000.0),
                attempts = attempts + 1
          WHERE id IN (SELECT id FROM network_reversals WHERE status = 'pending' AND next_attempt_at <= now()
                        ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
          RETURNING id, reason, request, card_token, attempts`,
        [limit, CLAIM_MS],
      );
      for (const reversal of due.rows) {
        const stored = reversal.request;
        assert(reversal.card_token !== null, 'a stored reversal has its card token');
        const pan = await this.#core.deps.cardData.vaultReveal(
          reversal.card_token,
          { type: 'system', id: 'reversals' },
          'reversal to the card network',
        );
        const card: CardData = {
          pan,
          entryMode: stored.entryMode,
          ...(stored.expiry ? { expiry: stored.expiry } : {}),
        };
        const original: NetworkRequest = {
          operation: stored.operation,
          stan: stored.stan,
          rrn: stored.rrn,
          transmittedAt: new Date(stored.transmittedAt),
          amountMinor: BigInt(stored.amountMinor),
          currencyNumeric: stored.currencyNumeric,
          card,
          acquirerCode: stored.acquirerCode,
          terminalId: stored.terminalId,
          merchantId: stored.merchantId,
          merchantName: stored.merchantName,
        };
        const outcome = await this.#core.deps.network.reverse(
          { original, reason: reversal.reason, attempt: reversal.attempts },
          { timeoutMs: this.#core.settings.networkTimeoutMs },
        );
        if (outcome.status === 'acknowledged') {
          acknowledged++;
          await db.query(
            `UPDATE network_reversals SET status = 'acknowledged', acknowledged_at = now(), last_error = NULL
              WHERE id = $1`,
            [reversal.id],
          );
        } else {
          const delayMs = RETRY_DELAYS_MS[Math.min(reversal.attempts - 1, RETRY_DELAYS_MS.length - 1)]!;
          await db.query(
            `UPDATE network_reversals SET next_attempt_at = now() + make_interval(secs => $2 / 1000.0), last_error = $3
              WHERE id = $1`,
            [reversal.id, delayMs, `${outcome.cause}: ${outcome.detail}`],
          );
        }
      }
    })().finally(() => {
      this.#running = undefined;
    });
    await this.#running;
    return acknowledged;
  }
}

/** The network operation of a payment kind, to reverse it. */
function operationOf(kind: PaymentRecordRow['kind']): NetworkOperation | undefined {
  switch (kind) {
    case 'sale':
    case 'void':
    case 'preauth':
    case 'preauth_void':
    case 'completion':
    case 'completion_void':
    case 'balance':
    case 'refund':
      return kind;
    case 'reversal':
      return undefined;
  }
}

class Conflict extends Error {}

/** Undoes, within `tx`, what an approved payment did to its original and to the ledger. */
async function undo(
  core: PaymentsCore,
  tx: Tx,
  original: PaymentRecordRow,
  reversalId: string,
): Promise<void> {
  const ledger = core.deps.ledger;
  const key = `card:${reversalId}`;
  const restore = async (id: string | null, from: string) => {
    if (id !== null) {
      await tx.query(
        "UPDATE card_payments SET status = 'approved', updated_at = now() WHERE id = $1 AND status = $2",
        [id, from],
      );
    }
  };
  switch (original.kind) {
    case 'sale':
    case 'completion':
    case 'void':
    case 'completion_void':
      if (original.ledger_entry_id !== null) {
        await ledger.reverse(
          {
            idempotencyKey: key,
            entryId: original.ledger_entry_id,
            description: `Reversal of ${original.kind} ${original.rrn}`,
          },
          { tx },
        );
      }
      if (original.kind === 'void') await restore(original.original_id, 'voided');
      if (original.kind === 'completion_void') await restore(original.original_id, 'voided');
      return;
    case 'preauth':
      if (original.ledger_entry_id !== null) {
        await ledger.voidPending({ idempotencyKey: key, pendingEntryId: original.ledger_entry_id }, { tx });
      }
      return;
    case 'preauth_void': {
      // The hold comes back: a new pending entry for the pre-authorization.
      const preauth =
        original.original_id === null ? undefined : await core.findById(tx, original.original_id, true);
      if (preauth !== undefined && preauth.status === 'voided') {
        const { entry } = await ledger.post(
          {
            idempotencyKey: key,
            description: `Hold restored by the reversal of a pre-authorization void ${preauth.rrn}`,
            reference: { type: 'card_payment', id: preauth.id },
            postings: [
              { account: core.settings.receivableAccount, side: 'debit', amountMinor: preauth.amount_minor },
              {
                account: merchantPendingAccount(preauth.merchant_id),
                side: 'credit',
                amountMinor: preauth.amount_minor,
              },
            ],
            pending: {},
          },
          { tx },
        );
        await tx.query(
          "UPDATE card_payments SET status = 'approved', ledger_entry_id = $2, updated_at = now() WHERE id = $1",
          [preauth.id, entry.id],
        );
      }
      return;
    }
    case 'balance':
    case 'refund':
    case 'reversal':
      return;
  }
}

/**
 * A terminal's reversal: recorded with its original's undoing in one transaction, answered 00
 * whatever the original became (nothing to undo is still a reversal done), and a reversal owed to
 * the network whenever the original may have moved money there.
 */
export async function reverseForTerminal(core: PaymentsCore, request: ReversalRequest): Promise<CardResult> {
  const db = core.deps.db;
  const key = {
    terminalId: request.terminal.id,
    merchantId: request.merchant.id,
    batchNo: request.batchNo,
    trace: request.trace,
  };
  const earlier = await core.findByKey(db, { ...key, mti: '0400' });
  if (earlier !== undefined) return core.answerExisting(request, earlier);
  if (request.originalKind === 'refund') return core.transient(request, 'invalid_transaction');
  const when = core.now();
  const row: PaymentRow = {
    id: newId(when.at.getTime()),
    ...key,
    requestMti: '0400',
    kind: 'reversal',
    status: 'approved',
    responseCode: responseCodeOf('approved'),
    amountMinor: request.amountMinor,
    panHash: null,
    panMasked: null,
    cardOrganization: null,
    entryMode: request.card?.entryMode ?? null,
    operatorCode: null,
    rrn: null,
    authCode: null,
    networkStan: null,
    issuerCode: null,
    balanceMinor: null,
    requestHash: request.contentHash,
    localTime: when.time,
    localDate: when.date,
    settlementDate: when.date,
    businessDate: when.businessDate,
    createdAt: when.at,
    ledgerEntryId: null,
  };
  if (request.card !== undefined) {
    const protectedPan = core.deps.cardData.protectPan(request.card.pan);
    row.panHash = protectedPan.panHash;
    row.panMasked = protectedPan.panMasked;
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const original = await core.findByKey(db, { ...key, mti: request.originalMti });
      await transaction(db, async (tx) => {
        if (original === undefined) {
          // Never seen: block the key so that the original, if it comes, is refused.
          const blocked: PaymentRow = {
            ...row,
            id: newId(),
            requestMti: request.originalMti,
            kind: request.originalKind,
            status: 'blocked',
            responseCode: responseCodeOf('approved'),
          };
          if (!(await insertRow(tx, blocked))) throw new Conflict(); // the original came in the meantime
          if (!(await insertRow(tx, row))) throw new Conflict();
          // The host may have sent the original and died before recording it: the network is told to
          // reverse the message of that key (same references), and to refuse it if it comes later.
          const refs = core.referencesOf(request, request.originalMti);
          if (request.card === undefined) return; // no card to name it by: nothing can be sent
          await core.enqueueReversal(
            tx,
            row.id,
            request,
            {
              operation: operationOf(request.originalKind)!,
              stan: refs.stan,
              rrn: refs.rrn,
              transmittedAt: when.at,
              amountMinor: request.amountMinor,
              currencyNumeric: '156',
              acquirerCode: core.settings.acquirerCode,
              terminalId: request.terminal.id,
              merchantId: request.merchant.id,
              merchantName: request.merchant.name,
            },
            'terminal',
          );
          return;
        }
        if (!(await insertRow(tx, row, null, original.id))) throw new Conflict();
        const locked = (await core.findById(tx, original.id, true))!;
        if (locked.status !== 'approved') return; // declined, failed, already voided or reversed: nothing to undo
        await tx.query("UPDATE card_payments SET status = 'reversed', updated_at = now() WHERE id = $1", [
          locked.id,
        ]);
        await undo(core, tx, locked, row.id);
        const operation = operationOf(locked.kind);
        if (operation !== undefined && locked.rrn !== null) {
          await core.enqueueReversal(
            tx,
            row.id,
            request,
            {
              operation,
              stan: locked.network_stan ?? '000000',
              rrn: locked.rrn.trim(),
              transmittedAt: locked.created_at,
              amountMinor: locked.amount_minor,
              currencyNumeric: '156',
              acquirerCode: core.settings.acquirerCode,
              terminalId: locked.terminal_id,
              merchantId: locked.merchant_id,
              merchantName: request.merchant.name,
            },
            'terminal',
          );
        }
      });
      core.kickReversals();
      return { outcome: 'approved', payment: paymentFromRow(row), replayed: false };
    } catch (error) {
      if (!(error instanceof Conflict)) throw error;
      const reversal = await core.findByKey(db, { ...key, mti: '0400' });
      if (reversal !== undefined) return core.answerExisting(request, reversal);
      // The original was recorded between the look-up and the block: look again.
    }
  }
  return core.transient(request, 'system_error');
}
