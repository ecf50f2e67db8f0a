import { type Tx, transaction } from '../db/index.ts';
import type { NetworkOperation, NetworkRequest, OriginalReference } from './card-network.ts';
import {
  merchantPendingAccount,
  type PaymentRecordRow,
  type PaymentsCore,
  paymentFromRow,
  toPayment,
} from './core.ts';
import { responseCodeOf } from './outcomes.ts';
import { insertRow, type PaymentRow } from './recorder.ts';
import type { CardRequest, CardResult, Outcome } from './types.ts';

// The requests that act on an earlier payment: void of a sale, refund, pre-authorization void,
// completion and completion void. Each finds its original, checks it may act on it, asks the
// network, and then — in ONE transaction — records itself, changes its original (checked again
// under a row lock) and books the money. If the original changed between the check and the lock
// (a concurrent void, say), what the network approved is reversed upstream and the request declined.

interface Flow {
  operation: NetworkOperation;
  /** Finds the original, or says why it cannot be acted on. */
  find(core: PaymentsCore, request: CardRequest): Promise<PaymentRecordRow | Outcome>;
  /** Rules on the original as it is (also re-checked under the lock). */
  check(core: PaymentsCore, request: CardRequest, original: PaymentRecordRow): Outcome | undefined;
  /** Inside the transaction, after the row is in: the original's change and the ledger entry. */
  apply(
    core: PaymentsCore,
    tx: Tx,
    request: CardRequest,
    original: PaymentRecordRow,
    row: PaymentRow,
  ): Promise<void>;
}

class StateChanged extends Error {
  readonly outcome: Outcome;
  constructor(outcome: Outcome) {
    super(outcome);
    this.outcome = outcome;
  }
}
class Conflict extends Error {}

async function lookUp(
  core: PaymentsCore,
  request: CardRequest,
  key: { batchNo: number | undefined; trace: string | undefined; mti: string },
): Promise<PaymentRecordRow | undefined> {
  if (key.batchNo === undefined || key.trace === undefined) return undefined;
  return core.findByKey(core.deps.db, {
    terminalId: request.terminal.id,
    merchantId: request.merchant.id,
    batchNo: key.batchNo,
    trace: key.trace,
    mti: key.mti,
  });
}

/** Original references named by the request (37, 38) must be the original's. */
function referencesMatch(request: CardRequest, original: PaymentRecordRow): boolean {
  const rrn = request.original?.rrn;
  const authCode = request.original?.authCode;
  if (rrn !== undefined && rrn.trim() !== '' && rrn !== original.rrn?.trim()) return false;
  if (authCode !== undefined && authCode.trim() !== '' && authCode !== original.auth_code?.trim())
    return false;
  return true;
}

async function changeStatus(tx: Tx, id: string, from: string, to: string): Promise<void> {
  const updated = await tx.query(
    'UPDATE card_payments SET status = $3, updated_at = now() WHERE id = $1 AND status = $2',
    [id, from, to],
  );
  if (updated.rowCount !== 1) throw new StateChanged('invalid_transaction');
}

/**
 * A void of a sale or of a completion: within the open batch, of the full amount, of an original still
 * approved and not refunded; its ledger entry reverses the original's.
 */
function voidFlow(
  operation: 'void' | 'completion_void',
  originalKind: 'sale' | 'completion',
  what: string,
): Flow {
  return {
    operation,
    async find(core, request) {
      // A void acts within the open batch only: a settled sale is refunded, not voided.
      if (request.original?.batchNo !== request.batchNo) return 'invalid_transaction';
      const original = await lookUp(core, request, {
        batchNo: request.batchNo,
        trace: request.original.trace,
        mti: '0200',
      });
      if (original === undefined || original.kind !== originalKind) return 'original_not_found';
      return original;
    },
    check(_core, request, original) {
      if (!referencesMatch(request, original)) return 'original_not_found';
      if (original.status !== 'approved' || original.refunded_minor > 0n) return 'invalid_transaction';
      if (original.amount_minor !== request.amountMinor) return 'original_amount_incorrect';
      return undefined;
    },
    async apply(core, tx, _request, original, row) {
      await changeStatus(tx, original.id, 'approved', 'voided');
      const { entry } = await core.deps.ledger.reverse(
        {
          idempotencyKey: `card:${row.id}`,
          entryId: original.ledger_entry_id!,
          description: `Void of ${what} ${original.rrn}`,
        },
        { tx },
      );
      await setLedgerEntry(tx, row.id, entry.id);
    },
  };
}

const VOID_SALE = voidFlow('void', 'sale', 'card sale');

const REFUND: Flow = {
  operation: 'refund',
  async find(core, request) {
    const rrn = request.original?.rrn;
    if (rrn === undefined || rrn.trim() === '') return 'original_not_found';
    const result = await core.deps.db.query<PaymentRecordRow>(
      `SELECT * FROM card_payments WHERE rrn = $1 AND merchant_id = $2 AND kind IN ('sale', 'completion')
        ORDER BY created_at LIMIT 1`,
      [rrn, request.merchant.id],
    );
    const original = result.rows[0];
    if (original === undefined) return 'original_not_found';
    if (request.original?.trace !== undefined && request.original.trace !== original.trace)
      return 'original_not_found';
    return original;
  },
  check(core, request, original) {
    if (original.status !== 'approved') return 'invalid_transaction';
    const ageMs = core.deps.clock.now().getTime() - original.created_at.getTime();
    if (ageMs > core.settings.refundDays * 86_400_000) return 'invalid_transaction';
    if (request.amountMinor <= 0n) return 'invalid_amount';
    if (original.refunded_minor + request.amountMinor > original.amount_minor)
      return 'original_amount_incorrect';
    return undefined;
  },
  async apply(core, tx, request, original, row) {
    const updated = await tx.query(
      `UPDATE card_payments SET refunded_minor = refunded_minor + $2, updated_at = now()
        WHERE id = $1 AND status = 'approved' AND refunded_minor + $2 <= amount_minor`,
      [original.id, request.amountMinor],
    );
    if (updated.rowCount !== 1) throw new StateChanged('original_amount_incorrect');
    const { entry } = await core.deps.ledger.post(
      {
        idempotencyKey: `card:${row.id}`,
        description: `Refund of card sale ${original.rrn}`,
        businessDate: row.businessDate,
        reference: { type: 'card_payment', id: row.id },
        postings: [
          {
            account: merchantPendingAccount(original.merchant_id),
            side: 'debit',
            amountMinor: request.amountMinor,
          },
          { account: core.settings.receivableAccount, side: 'credit', amountMinor: request.amountMinor },
        ],
      },
      { tx },
    );
    await setLedgerEntry(tx, row.id, entry.id);
  },
};

const PREAUTH_VOID: Flow = {
  operation: 'preauth_void',
  async find(core, request) {
    const original = await lookUp(core, request, {
      batchNo: request.original?.batchNo,
      trace: request.original?.trace,
      mti: '0100',
    });
    if (original === undefined || original.kind !== 'preauth') return 'original_not_found';
    return original;
  },
  check(_core, request, original) {
    if (!referencesMatch(request, original)) return 'original_not_found';
    if (original.status !== 'approved') return 'invalid_transaction';
    if (original.amount_minor !== request.amountMinor) return 'original_amount_incorrect';
    return undefined;
  },
  async apply(core, tx, _request, original, row) {
    await changeStatus(tx, original.id, 'approved', 'voided');
    const { entry } = await core.deps.ledger.voidPending(
      { idempotencyKey: `card:${row.id}`, pendingEntryId: original.ledger_entry_id! },
      { tx },
    );
    await setLedgerEntry(tx, row.id, entry.id);
  },
};

const COMPLETION: Flow = {
  operation: 'completion',
  async find(core, request) {
    const original = await lookUp(core, request, {
      batchNo: request.original?.batchNo,
      trace: request.original?.trace,
      mti: '0100',
    });
    if (original === undefined || original.kind !== 'preauth') return 'original_not_found';
    return original;
  },
  check(core, request, original) {
    if (!referencesMatch(request, original)) return 'original_not_found';
    if (original.status !== 'approved') return 'invalid_transaction';
    if (request.amountMinor <= 0n) return 'invalid_amount';
    const ceiling =
      original.amount_minor +
      (original.amount_minor * BigInt(core.settings.completionTolerancePercent)) / 100n;
    if (request.amountMinor > ceiling) return 'amount_limit';
    return undefined;
  },
  async apply(core, tx, request, original, row) {
    await changeStatus(tx, original.id, 'approved', 'completed');
    // The hold is released and the captured amount booked.
    await core.deps.ledger.voidPending(
      { idempotencyKey: `card:${row.id}:release`, pendingEntryId: original.ledger_entry_id! },
      { tx },
    );
    const { entry } = await core.deps.ledger.post(
      {
        idempotencyKey: `card:${row.id}`,
        description: `Pre-authorization completion ${original.rrn}`,
        businessDate: row.businessDate,
        reference: { type: 'card_payment', id: row.id },
        postings: [
          { account: core.settings.receivableAccount, side: 'debit', amountMinor: request.amountMinor },
          {
            account: merchantPendingAccount(original.merchant_id),
            side: 'credit',
            amountMinor: request.amountMinor,
          },
        ],
      },
      { tx },
    );
    await setLedgerEntry(tx, row.id, entry.id);
  },
};

const COMPLETION_VOID = voidFlow('completion_void', 'completion', 'pre-authorization completion');

async function setLedgerEntry(tx: Tx, paymentId: string, entryId: string): Promise<void> {
  await tx.query('UPDATE card_payments SET ledger_entry_id = $2 WHERE id = $1', [paymentId, entryId]);
}

function originalReference(original: PaymentRecordRow): OriginalReference {
  return {
    rrn: original.rrn?.trim() ?? '',
    ...(original.auth_code ? { authCode: original.auth_code.trim() } : {}),
    stan: original.network_stan?.trim() ?? '',
    amountMinor: original.amount_minor,
    transmittedAt: original.created_at,
  };
}

async function run(core: PaymentsCore, request: CardRequest, flow: Flow): Promise<CardResult> {
  const when = core.now();
  const refs = core.referencesOf(request, request.requestMti);
  const row = core.newRow(request, 'approved', 'approved', when, refs);
  const found = await flow.find(core, request);
  const original = typeof found === 'string' ? undefined : found;
  let outcome: Outcome | undefined = typeof found === 'string' ? found : flow.check(core, request, found);
  let networkRequest: Omit<NetworkRequest, 'pinBlockUnderZpk' | 'card'> | undefined;
  if (outcome === undefined && original !== undefined) {
    networkRequest = {
      ...core.baseNetworkRequest(request, flow.operation, refs, when.at),
      original: originalReference(original),
    };
    const asked = await core.askNetwork(request, networkRequest);
    outcome = asked.status === 'refused' ? asked.outcome : core.applyNetworkOutcome(row, asked);
    if (asked.status === 'unknown') {
      return recordFailed(core, request, row, networkRequest, original.id);
    }
  }
  outcome ??= 'system_error';
  if (outcome !== 'approved' || original === undefined) {
    row.status = 'declined';
    row.responseCode = responseCodeOf(outcome);
    return recordPlain(core, request, row, outcome, original?.id ?? null);
  }
  try {
    await transaction(core.deps.db, async (tx) => {
      if (!(await insertRow(tx, row, null, original.id))) throw new Conflict();
      const locked = await core.findById(tx, original.id, true);
      const changed = locked === undefined ? 'original_not_found' : flow.check(core, request, locked);
      if (changed !== undefined) throw new StateChanged(changed);
      await flow.apply(core, tx, request, locked!, row);
    });
    return {
      outcome: 'approved',
      payment: { ...paymentFromRow(row), originalId: original.id },
      replayed: false,
    };
  } catch (error) {
    // The request's key was taken (a retransmission): the network saw the same message, answered as
    // before; nothing to take back.
    if (error instanceof Conflict) return core.answerExisting(request);
    // Anything else stopped the record after the network approved: take it back.
    core.reversalsOwed(request, networkRequest!, 'host_failure');
    if (error instanceof StateChanged) {
      row.status = 'declined';
      row.responseCode = responseCodeOf(error.outcome);
      return recordPlain(core, request, row, error.outcome, original.id);
    }
    core.log.error({ err: error, paymentId: row.id }, 'a payment on an original could not be recorded');
    return core.transient(request, 'system_error');
  }
}

/** Records a declined request (no money moved) and answers it. */
async function recordPlain(
  core: PaymentsCore,
  request: CardRequest,
  row: PaymentRow,
  outcome: Outcome,
  originalId: string | null,
): Promise<CardResult> {
  const inserted = await insertRow(core.deps.db, row, null, originalId);
  if (!inserted) return core.answerExisting(request);
  return { outcome, payment: { ...paymentFromRow(row), originalId }, replayed: false };
}

async function recordFailed(
  core: PaymentsCore,
  request: CardRequest,
  row: PaymentRow,
  networkRequest: Omit<NetworkRequest, 'pinBlockUnderZpk' | 'card'>,
  originalId: string,
): Promise<CardResult> {
  row.status = 'failed';
  row.responseCode = responseCodeOf('network_no_answer');
  try {
    const inserted = await transaction(core.deps.db, async (tx) => {
      if (!(await insertRow(tx, row, null, originalId))) return false;
      await core.enqueueReversal(tx, row.id, request, networkRequest, 'timeout');
      return true;
    });
    if (!inserted) return core.answerExisting(request);
  } catch (error) {
    core.log.error({ err: error, paymentId: row.id }, 'a failed payment could not be recorded');
    core.reversalsOwed(request, networkRequest, 'timeout');
    return core.transient(request, 'system_error');
  }
  return { outcome: 'network_no_answer', payment: { ...paymentFromRow(row), originalId }, replayed: false };
}

export function voidSale(core: PaymentsCore, request: CardRequest): Promise<CardResult> {
  return run(core, request, VOID_SALE);
}

export function refund(core: PaymentsCore, request: CardRequest): Promise<CardResult> {
  return run(core, request, REFUND);
}

export function completeOrVoid(core: PaymentsCore, request: CardRequest): Promise<CardResult> {
  switch (request.kind) {
    case 'preauth_void':
      return run(core, request, PREAUTH_VOID);
    case 'completion':
      return run(core, request, COMPLETION);
    default:
      return run(core, request, COMPLETION_VOID);
  }
}

export { toPayment };
