import { transaction } from '../db/index.ts';
import type { PreparedEntry } from '../ledger/index.ts';
import { MAX_AMOUNT_MINOR } from '../shared/money.ts';
import {
  expireHolds,
  type SettleRequest,
  type SettleResult,
  settle,
  type UploadEndResult,
  uploadDetails,
  uploadEnd,
} from './batches.ts';
import type { NetworkOutcome, NetworkRequest } from './card-network.ts';
import {
  PaymentsCore as Core,
  merchantPendingAccount,
  type PaymentRecordRow,
  type PaymentsCore,
  type PaymentsDeps,
  paymentFromRow,
  requestKey,
  toPayment,
} from './core.ts';
import { completeOrVoid, refund, voidSale } from './originals.ts';
import { responseCodeOf } from './outcomes.ts';
import { insertRow, PaymentRecorder, type PaymentRow, type RecorderStats } from './recorder.ts';
import { type ReversalQueue, reverseForTerminal } from './reversals.ts';
import type { CardRequest, CardResult, Outcome, ReversalRequest } from './types.ts';

/**
 * Card payments from terminals. `process` answers a sale, balance inquiry, void, refund or one of
 * the pre-authorization family; `reverse` a terminal's reversal. Each answer is given only after
 * what it decided is committed: the payment, its ledger entry, the change to its original. A
 * retransmission (same terminal, merchant, batch, trace and MTI) gets the first answer again, or
 * 94 when its content differs. An answer the network did not give clearly is reversed upstream.
 */
export class CardPayments {
  readonly #core: PaymentsCore;
  readonly #recorder: PaymentRecorder;
  readonly #inFlight = new Map<string, Promise<CardResult>>();

  constructor(deps: PaymentsDeps) {
    this.#core = new Core(deps);
    this.#recorder = new PaymentRecorder({ db: deps.db, ledger: deps.ledger });
  }

  /** The reversals this host owes the network (store and forward): start its sender with the server. */
  get reversals(): ReversalQueue {
    return this.#core.reversals;
  }

  get core(): PaymentsCore {
    return this.#core;
  }

  /** The group commit of sales and balance inquiries, as counted so far (for benchmarks). */
  get recorderStats(): RecorderStats {
    return { ...this.#recorder.stats };
  }

  /** Answers a card request, once per key; a request already in flight on this node is awaited. */
  process(request: CardRequest): Promise<CardResult> {
    const key = requestKey(
      request.terminal.id,
      request.merchant.id,
      request.batchNo,
      request.trace,
      request.requestMti,
    );
    const earlier = this.#inFlight.get(key);
    if (earlier !== undefined)
      return earlier.then((result) => this.#core.answerRetransmission(request, result.payment));
    const work = this.#dispatch(request).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, work);
    return work;
  }

  /** The answer to a request in flight on this node with that key, if there is one. */
  inFlight(key: string): Promise<CardResult> | undefined {
    return this.#inFlight.get(key);
  }

  /** Batch settlement (0500): 1 balanced and closed, 2 unbalanced (the terminal uploads), 3 error. */
  settle(request: SettleRequest): Promise<SettleResult> {
    return settle(this.#core, request);
  }

  /** Batch upload details (0320 201). */
  uploadDetails(request: Parameters<typeof uploadDetails>[1]): Promise<Outcome> {
    return uploadDetails(this.#core, request);
  }

  /** Batch upload end (0320 202): reconcile, record exceptions, close the batch. */
  uploadEnd(request: Parameters<typeof uploadEnd>[1]): Promise<UploadEndResult> {
    return uploadEnd(this.#core, request);
  }

  /** Stops the reversal sender and gives back the connection of the group commit. */
  async close(): Promise<void> {
    await this.#core.reversals.stop();
    this.#recorder.close();
  }

  /** Releases lapsed pre-authorization holds; run periodically by the server. */
  expireHolds(limit?: number): Promise<number> {
    return expireHolds(this.#core, limit);
  }

  reverse(request: ReversalRequest): Promise<CardResult> {
    const key = requestKey(request.terminal.id, request.merchant.id, request.batchNo, request.trace, '0400');
    const earlier = this.#inFlight.get(key);
    if (earlier !== undefined)
      return earlier.then((result) => this.#core.answerRetransmission(request, result.payment));
    const original = this.#inFlight.get(
      requestKey(
        request.terminal.id,
        request.merchant.id,
        request.batchNo,
        request.trace,
        request.originalMti,
      ),
    );
    const work = (async () => {
      // The original may still be on its way through this node: let it finish, then reverse it.
      if (original !== undefined) await original.catch(() => undefined);
      return reverseForTerminal(this.#core, request);
    })().finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, work);
    return work;
  }

  async #dispatch(request: CardRequest): Promise<CardResult> {
    const existing = await this.#recordedBefore(request);
    if (existing !== undefined) return this.#core.answerRetransmission(request, toPayment(existing));
    switch (request.kind) {
      case 'sale':
      case 'balance':
        return this.#saleOrBalance(request);
      case 'void':
        return voidSale(this.#core, request);
      case 'refund':
        return refund(this.#core, request);
      case 'preauth':
        return this.#saleOrBalance(request);
      case 'preauth_void':
      case 'completion':
      case 'completion_void':
        return completeOrVoid(this.#core, request);
    }
  }

  /**
   * Sales, balance inquiries and pre-authorizations are the volume: they are checked, sent to the
   * network, and recorded through the group commit (or, for pre-authorizations, with their hold).
   * Other kinds look their payment up only when they are new to this node: a retransmission after
   * a restart is found when its row conflicts.
   */
  async #recordedBefore(request: CardRequest): Promise<PaymentRecordRow | undefined> {
    if (request.kind === 'sale' || request.kind === 'balance') return undefined;
    return this.#core.findByKey(this.#core.deps.db, {
      terminalId: request.terminal.id,
      merchantId: request.merchant.id,
      batchNo: request.batchNo,
      trace: request.trace,
      mti: request.requestMti,
    });
  }

  async #saleOrBalance(request: CardRequest): Promise<CardResult> {
    const core = this.#core;
    const when = core.now();
    const refs = core.referencesOf(request, request.requestMti);
    const row = core.newRow(request, 'approved', 'approved', when, refs);
    const refusal = this.#check(request);
    let outcome: Outcome;
    let answer: NetworkOutcome | undefined;
    let networkRequest: Omit<NetworkRequest, 'pinBlockUnderZpk' | 'card'> | undefined;
    if (refusal !== undefined) {
      outcome = refusal;
    } else {
      networkRequest = core.baseNetworkRequest(
        request,
        request.kind as NetworkRequest['operation'],
        refs,
        when.at,
      );
      const asked = await core.askNetwork(request, networkRequest);
      if (asked.status === 'refused') outcome = asked.outcome;
      else {
        answer = asked;
        outcome = core.applyNetworkOutcome(row, asked);
      }
    }
    if (outcome !== 'approved') {
      row.status = row.status === 'failed' ? 'failed' : 'declined';
      row.responseCode = responseCodeOf(outcome);
    }
    if (request.kind === 'balance') row.amountMinor = 0n;
    if (answer?.status === 'unknown' && networkRequest !== undefined) {
      // The network may have acted: record the failure with a reversal owed to it, in one transaction.
      return this.#recordUnknown(request, row, networkRequest);
    }
    if (request.kind === 'preauth' && outcome === 'approved') {
      return this.#recordHold(request, row, networkRequest!);
    }
    let entry: PreparedEntry | undefined;
    if (outcome === 'approved' && request.kind === 'sale') {
      entry = await core.deps.ledger.prepare({
        idempotencyKey: `card:${row.id}`,
        description: `Card sale ${row.panMasked ?? ''} at terminal ${row.terminalId}`,
        businessDate: row.businessDate,
        reference: { type: 'card_payment', id: row.id },
        postings: [
          { account: core.settings.receivableAccount, side: 'debit', amountMinor: row.amountMinor },
          { account: merchantPendingAccount(row.merchantId), side: 'credit', amountMinor: row.amountMinor },
        ],
      });
      row.ledgerEntryId = entry.id;
    }
    let recorded: Awaited<ReturnType<PaymentRecorder['record']>>;
    try {
      recorded = await this.#recorder.record({ row, ...(entry ? { entry } : {}) });
    } catch (error) {
      core.log.error({ err: error, paymentId: row.id }, 'a payment could not be recorded');
      if (outcome === 'approved' && networkRequest !== undefined) {
        this.#core.reversals.reverseNow(request, networkRequest, 'host_failure');
      }
      return this.#core.transient(request, 'system_error');
    }
    if (recorded.status === 'conflict') {
      // A retransmission recorded elsewhere (or before a restart), or a trace a reversal blocked:
      // answer as that row says. Nothing to take back upstream: the network was sent the same
      // message (same references) and answered it as it had; a blocked trace has its reversal owed.
      const existing = await core.findByKey(core.deps.db, {
        terminalId: row.terminalId,
        merchantId: row.merchantId,
        batchNo: row.batchNo,
        trace: row.trace,
        mti: row.requestMti,
      });
      return this.#core.answerRetransmission(request, toPayment(existing!));
    }
    return { outcome, payment: paymentFromRow(row), replayed: false };
  }

  /** Checks made before the network is asked. */
  #check(request: CardRequest): Outcome | undefined {
    if (request.card === undefined) return 'format_error';
    if (request.kind === 'balance') return undefined;
    if (request.amountMinor <= 0n || request.amountMinor > MAX_AMOUNT_MINOR) return 'invalid_amount';
    if (request.amountMinor > request.merchant.singleLimitMinor) return 'amount_limit';
    return undefined;
  }

  async #recordUnknown(
    request: CardRequest,
    row: PaymentRow,
    networkRequest: Omit<NetworkRequest, 'pinBlockUnderZpk' | 'card'>,
  ): Promise<CardResult> {
    const core = this.#core;
    row.status = 'failed';
    row.responseCode = responseCodeOf('network_no_answer');
    try {
      await transaction(core.deps.db, async (tx) => {
        const inserted = await insertRow(tx, row);
        if (!inserted) return;
        await this.#core.reversals.enqueue(tx, row.id, request, networkRequest, 'timeout');
      });
    } catch (error) {
      core.log.error({ err: error, paymentId: row.id }, 'a failed payment could not be recorded');
      this.#core.reversals.reverseNow(request, networkRequest, 'timeout');
      return this.#core.transient(request, 'system_error');
    }
    this.#core.reversals.kick();
    return { outcome: 'network_no_answer', payment: paymentFromRow(row), replayed: false };
  }

  /** An approved pre-authorization: its row and its hold (a pending ledger entry) in one transaction. */
  async #recordHold(
    request: CardRequest,
    row: PaymentRow,
    networkRequest: Omit<NetworkRequest, 'pinBlockUnderZpk' | 'card'>,
  ): Promise<CardResult> {
    const core = this.#core;
    const expiresAt = new Date(row.createdAt.getTime() + core.settings.preauthHoldDays * 86_400_000);
    try {
      const inserted = await transaction(core.deps.db, async (tx) => {
        const { entry } = await core.deps.ledger.post(
          {
            idempotencyKey: `card:${row.id}`,
            description: `Pre-authorization hold ${row.panMasked ?? ''} at terminal ${row.terminalId}`,
            businessDate: row.businessDate,
            reference: { type: 'card_payment', id: row.id },
            postings: [
              { account: core.settings.receivableAccount, side: 'debit', amountMinor: row.amountMinor },
              {
                account: merchantPendingAccount(row.merchantId),
                side: 'credit',
                amountMinor: row.amountMinor,
              },
            ],
            pending: {},
          },
          { tx },
        );
        row.ledgerEntryId = entry.id;
        const ok = await insertRow(tx, row, expiresAt);
        if (!ok) throw new ConflictSignal();
        return true;
      });
      if (inserted) return { outcome: 'approved', payment: paymentFromRow(row), replayed: false };
    } catch (error) {
      if (!(error instanceof ConflictSignal)) {
        this.#core.reversals.reverseNow(request, networkRequest, 'host_failure');
        core.log.error({ err: error, paymentId: row.id }, 'a pre-authorization could not be recorded');
        return this.#core.transient(request, 'system_error');
      }
    }
    const existing = await core.findByKey(core.deps.db, {
      terminalId: row.terminalId,
      merchantId: row.merchantId,
      batchNo: row.batchNo,
      trace: row.trace,
      mti: row.requestMti,
    });
    return this.#core.answerRetransmission(request, toPayment(existing!));
  }
}

class ConflictSignal extends Error {}
