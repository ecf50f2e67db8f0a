import { hash } from 'node:crypto';
import type { Audit } from '../audit/index.ts';
import type { Database, Queryable, Tx } from '../db/index.ts';
import { type CardVault, type KeyHandle, translatePinBlock } from '../keys/index.ts';
import type { Ledger } from '../ledger/index.ts';
import type { Clock } from '../shared/clock.ts';
import { isTillpointError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { Secret } from '../shared/secret.ts';
import type { Terminals } from '../terminals/index.ts';
import type { CardNetwork, NetworkOutcome, NetworkRequest, NetworkReversal } from './card-network.ts';
import { cardOrganization, outcomeOfNetworkCode, outcomeOfResponseCode, responseCodeOf } from './outcomes.ts';
import type { PaymentRow } from './recorder.ts';
import { localFields, networkReferences } from './references.ts';
import { ReversalQueue } from './reversals.ts';
import type {
  CardRequest,
  CardResult,
  Outcome,
  Payment,
  PaymentKind,
  PaymentStatus,
  ReversalRequest,
} from './types.ts';

/** What the payments module needs of the card data protection (keys module): ready() awaited before. */
export type CardDataProtection = Pick<CardVault, 'protectPan' | 'tokenize' | 'vaultStore' | 'vaultReveal'>;

export interface PaymentSettings {
  /** How long the host waits for the card network before answering 98 and reversing upstream. */
  networkTimeoutMs: number;
  /** Field 32 / the network's acquirer id. */
  acquirerCode: string;
  /** The institution's account for what the card network owes it. */
  receivableAccount: string;
  /** Refunds are accepted for this many days after the sale. */
  refundDays: number;
  /** A completion may exceed its pre-authorization by this many percent. */
  completionTolerancePercent: number;
  /** A pre-authorization's hold lapses after this many days. */
  preauthHoldDays: number;
}

export const DEFAULT_SETTINGS: PaymentSettings = {
  networkTimeoutMs: 3000,
  acquirerCode: '48021000',
  receivableAccount: 'network:cup:receivable',
  refundDays: 30,
  completionTolerancePercent: 15,
  preauthHoldDays: 30,
};

export interface PaymentsDeps {
  db: Database;
  ledger: Ledger;
  audit: Audit;
  terminals: Terminals;
  network: CardNetwork;
  cardData: CardDataProtection;
  /** The zone PIN key shared with the card network: PIN blocks are translated to it. */
  zonePinKey: KeyHandle;
  clock: Clock;
  timeZone: string;
  logger: Logger;
  settings?: Partial<PaymentSettings>;
}

export function merchantPendingAccount(merchantId: string): string {
  return `merchant:${merchantId}:pending`;
}

/** The key a terminal gives a request: a retransmission repeats all five parts. */
export function requestKey(
  terminalId: string,
  merchantId: string,
  batchNo: number,
  trace: string,
  mti: string,
): string {
  return `${terminalId}|${merchantId}|${batchNo}|${trace}|${mti}`;
}

export interface PaymentRecordRow {
  id: string;
  terminal_id: string;
  merchant_id: string;
  batch_no: number;
  trace: string;
  request_mti: string;
  kind: PaymentKind;
  status: PaymentStatus;
  response_code: string;
  amount_minor: bigint;
  currency: string;
  pan_hash: string | null;
  pan_masked: string | null;
  card_organization: string | null;
  rrn: string | null;
  auth_code: string | null;
  network_stan: string | null;
  issuer_code: string | null;
  balance_minor: bigint | null;
  local_time: string;
  local_date: string;
  settlement_date: string;
  original_id: string | null;
  request_hash: string;
  refunded_minor: bigint;
  ledger_entry_id: string | null;
  hold_expires_at: Date | null;
  business_date: string;
  created_at: Date;
}

export function toPayment(row: PaymentRecordRow): Payment {
  return {
    id: row.id,
    terminalId: row.terminal_id,
    merchantId: row.merchant_id,
    batchNo: row.batch_no,
    trace: row.trace,
    requestMti: row.request_mti,
    kind: row.kind,
    status: row.status,
    responseCode: row.response_code,
    amountMinor: row.amount_minor,
    currency: row.currency.trim(),
    panMasked: row.pan_masked,
    cardOrganization: row.card_organization,
    rrn: row.rrn?.trim() ?? null,
    authCode: row.auth_code?.trim() ?? null,
    issuerCode: row.issuer_code,
    balanceMinor: row.balance_minor,
    localTime: row.local_time,
    localDate: row.local_date,
    settlementDate: row.settlement_date,
    originalId: row.original_id,
    requestHash: row.request_hash,
    createdAt: row.created_at,
  };
}

export function paymentFromRow(row: PaymentRow): Payment {
  return {
    id: row.id,
    terminalId: row.terminalId,
    merchantId: row.merchantId,
    batchNo: row.batchNo,
    trace: row.trace,
    requestMti: row.requestMti,
    kind: row.kind as PaymentKind,
    status: row.status as PaymentStatus,
    responseCode: row.responseCode,
    amountMinor: row.amountMinor,
    currency: 'CNY',
    panMasked: row.panMasked,
    cardOrganization: row.cardOrganization,
    rrn: row.rrn,
    authCode: row.authCode,
    issuerCode: row.issuerCode,
    balanceMinor: row.balanceMinor,
    localTime: row.localTime,
    localDate: row.localDate,
    settlementDate: row.settlementDate,
    originalId: null,
    requestHash: row.requestHash,
    createdAt: row.createdAt,
  };
}

/** A hash of the fields of a request, for comparing a retransmission with the first transmission. */
export function contentHash(parts: ReadonlyArray<string | number | bigint | undefined | null>): string {
  let text = '';
  for (const part of parts) text += `${part ?? ''}\u0000`;
  return hash('sha256', text, 'hex');
}

/**
 * What every payment flow shares: settings, references, the clock, the network call with its PIN
 * translation, and the reading of payments by their key.
 */
export class PaymentsCore {
  readonly deps: PaymentsDeps;
  readonly settings: PaymentSettings;
  readonly reversals: ReversalQueue;
  readonly log: Logger;

  constructor(deps: PaymentsDeps) {
    this.deps = deps;
    this.settings = { ...DEFAULT_SETTINGS, ...deps.settings };
    this.reversals = new ReversalQueue(this);
    this.log = deps.logger.child({ component: 'payments' });
  }

  enqueueReversal(
    tx: Tx,
    paymentId: string,
    request: { card?: CardRequest['card'] },
    networkRequest: Omit<NetworkRequest, 'pinBlockUnderZpk' | 'card'>,
    reason: NetworkReversal['reason'],
  ): Promise<void> {
    return this.reversals.enqueue(tx, paymentId, request, networkRequest, reason);
  }

  /** A reversal owed for something that could not be recorded (see ReversalQueue.reverseNow). */
  reversalsOwed(
    request: CardRequest,
    networkRequest: Omit<NetworkRequest, 'pinBlockUnderZpk' | 'card'>,
    reason: NetworkReversal['reason'],
  ): void {
    this.reversals.reverseNow(request, networkRequest, reason);
  }

  kickReversals(): void {
    this.reversals.kick();
  }

  /** The answer to a request whose key already has a payment (`row`, or looked up). */
  async answerExisting(request: CardRequest | ReversalRequest, row?: PaymentRecordRow): Promise<CardResult> {
    const mti = 'kind' in request ? request.requestMti : '0400';
    const found =
      row ??
      (await this.findByKey(this.deps.db, {
        terminalId: request.terminal.id,
        merchantId: request.merchant.id,
        batchNo: request.batchNo,
        trace: request.trace,
        mti,
      }));
    if (found === undefined) return this.transient(request, 'system_error');
    return this.answerRetransmission(request, toPayment(found));
  }

  answerRetransmission(request: CardRequest | ReversalRequest, payment: Payment): CardResult {
    if (payment.status === 'blocked') return this.transient(request, 'duplicate');
    if (payment.requestHash !== request.contentHash) return this.transient(request, 'duplicate');
    return { outcome: outcomeOfResponseCode(payment.responseCode), payment, replayed: true };
  }

  /** An answer not recorded as a payment (94, 96): the reply echoes the request. */
  transient(request: CardRequest | ReversalRequest, outcome: Outcome): CardResult {
    const when = this.now();
    return {
      outcome,
      replayed: false,
      payment: {
        id: '',
        terminalId: request.terminal.id,
        merchantId: request.merchant.id,
        batchNo: request.batchNo,
        trace: request.trace,
        requestMti: 'kind' in request ? request.requestMti : '0400',
        kind: 'kind' in request ? request.kind : 'reversal',
        status: 'declined',
        responseCode: responseCodeOf(outcome),
        amountMinor: request.amountMinor,
        currency: 'CNY',
        panMasked: null,
        cardOrganization: null,
        rrn: null,
        authCode: null,
        issuerCode: null,
        balanceMinor: null,
        localTime: when.time,
        localDate: when.date,
        settlementDate: when.date,
        originalId: null,
        requestHash: request.contentHash,
        createdAt: when.at,
      },
    };
  }

  now(): { at: Date; date: string; time: string; businessDate: string } {
    const at = this.deps.clock.now();
    return { at, ...localFields(at, this.deps.timeZone) };
  }

  /** A new payment row for `request` with the outcome given; the caller fills in what the network said. */
  newRow(
    request: CardRequest,
    outcome: Outcome,
    status: PaymentStatus,
    when: ReturnType<PaymentsCore['now']>,
    references: { rrn: string | null; stan: string | null },
  ): PaymentRow {
    const pan = request.card?.pan;
    const protectedPan = pan === undefined ? undefined : this.deps.cardData.protectPan(pan);
    return {
      id: newId(when.at.getTime()),
      terminalId: request.terminal.id,
      merchantId: request.merchant.id,
      batchNo: request.batchNo,
      trace: request.trace,
      requestMti: request.requestMti,
      kind: request.kind,
      status,
      responseCode: responseCodeOf(outcome),
      amountMinor: request.amountMinor,
      panHash: protectedPan?.panHash ?? null,
      panMasked: protectedPan?.panMasked ?? null,
      cardOrganization: pan === undefined ? null : cardOrganization(pan.expose()),
      entryMode: request.card?.entryMode ?? null,
      operatorCode: request.operatorCode ?? null,
      rrn: references.rrn,
      authCode: null,
      networkStan: references.stan,
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
  }

  /** The request's references towards the network (derived from its key: see references.ts). */
  referencesOf(
    request: { terminal: { id: string }; merchant: { id: string }; batchNo: number; trace: string },
    mti: string,
  ): {
    rrn: string;
    stan: string;
  } {
    return networkReferences({
      acquirerCode: this.settings.acquirerCode,
      terminalId: request.terminal.id,
      merchantId: request.merchant.id,
      batchNo: request.batchNo,
      trace: request.trace,
      mti,
    });
  }

  /**
   * Translates the PIN block to the zone key and asks the network. A PIN block that is not a valid
   * ISO 9564 format 0 block never reaches the network: `pin_format_error`.
   */
  async askNetwork(
    request: CardRequest,
    networkRequest: Omit<NetworkRequest, 'pinBlockUnderZpk' | 'card'>,
  ): Promise<NetworkOutcome | { status: 'refused'; outcome: Outcome }> {
    const card = request.card;
    if (card === undefined) return { status: 'refused', outcome: 'format_error' };
    let pinBlockUnderZpk: Secret<Buffer> | undefined;
    if (request.pinBlock !== undefined) {
      if (request.pinKey === undefined) return { status: 'refused', outcome: 'sign_in_required' };
      try {
        pinBlockUnderZpk = new Secret(
          translatePinBlock(request.pinBlock.expose(), card.pan, request.pinKey, this.deps.zonePinKey),
        );
      } catch (error) {
        if (isTillpointError(error)) return { status: 'refused', outcome: 'pin_format_error' };
        throw error;
      }
    }
    return this.deps.network.send(
      { ...networkRequest, card, ...(pinBlockUnderZpk ? { pinBlockUnderZpk } : {}) },
      { timeoutMs: this.settings.networkTimeoutMs },
    );
  }

  baseNetworkRequest(
    request: CardRequest,
    operation: NetworkRequest['operation'],
    references: { rrn: string; stan: string },
    at: Date,
  ): Omit<NetworkRequest, 'pinBlockUnderZpk' | 'card'> {
    return {
      operation,
      stan: references.stan,
      rrn: references.rrn,
      transmittedAt: at,
      amountMinor: request.amountMinor,
      currencyNumeric: '156',
      acquirerCode: this.settings.acquirerCode,
      terminalId: request.terminal.id,
      merchantId: request.merchant.id,
      merchantName: request.merchant.name,
    };
  }

  /** Applies what the network answered to a row: its outcome and the fields the reply needs. */
  applyNetworkOutcome(row: PaymentRow, answer: NetworkOutcome): Outcome {
    switch (answer.status) {
      case 'approved':
        row.status = 'approved';
        row.responseCode = '00';
        row.authCode = answer.authCode;
        row.issuerCode = answer.issuerCode ?? null;
        if (answer.cardOrganization !== undefined) row.cardOrganization = answer.cardOrganization;
        if (answer.balanceMinor !== undefined) row.balanceMinor = answer.balanceMinor;
        return 'approved';
      case 'declined': {
        const outcome = outcomeOfNetworkCode(answer.responseCode);
        row.status = 'declined';
        row.responseCode = responseCodeOf(outcome);
        return outcome;
      }
      case 'unknown':
        row.status = 'failed';
        row.responseCode = responseCodeOf('network_no_answer');
        return 'network_no_answer';
    }
  }

  async findByKey(
    db: Queryable,
    key: { terminalId: string; merchantId: string; batchNo: number; trace: string; mti: string },
  ): Promise<PaymentRecordRow | undefined> {
    const result = await db.query<PaymentRecordRow>(
      `SELECT * FROM card_payments
        WHERE terminal_id = $1 AND merchant_id = $2 AND batch_no = $3 AND trace = $4 AND request_mti = $5`,
      [key.terminalId, key.merchantId, key.batchNo, key.trace, key.mti],
    );
    return result.rows[0];
  }

  async findById(db: Queryable, id: string, forUpdate = false): Promise<PaymentRecordRow | undefined> {
    const result = await db.query<PaymentRecordRow>(
      `SELECT * FROM card_payments WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
      [id],
    );
    return result.rows[0];
  }
}
