import type { KeyHandle } from '../keys/index.ts';
import type { Merchant } from '../merchants/index.ts';
import type { Secret } from '../shared/secret.ts';
import type { Terminal } from '../terminals/index.ts';
import type { CardData } from './card-network.ts';
import type { paymentKinds, paymentStatuses } from './schema.ts';

export type PaymentKind = (typeof paymentKinds)[number];
export type PaymentStatus = (typeof paymentStatuses)[number];

/**
 * The outcome of a terminal's request, in the order of precedence the host checks them. `approved`
 * first; every other one is a decline with a reason. The edges map it once each: to field 39
 * (`src/host/response-codes.ts`) and, later, to an HTTP answer.
 */
export type Outcome =
  | 'approved'
  | 'invalid_merchant' // 03
  | 'do_not_honour' // 05
  | 'invalid_transaction' // 12
  | 'invalid_amount' // 13
  | 'invalid_card' // 14
  | 'original_not_found' // 25
  | 'format_error' // 30
  | 'not_supported' // 40
  | 'lost_card' // 41
  | 'stolen_card' // 43
  | 'insufficient_funds' // 51
  | 'expired_card' // 54
  | 'pin_incorrect' // 55
  | 'not_permitted_card' // 57
  | 'not_permitted_terminal' // 58
  | 'amount_limit' // 61
  | 'original_amount_incorrect' // 64
  | 'frequency_limit' // 65
  | 'pin_tries_exceeded' // 75
  | 'sign_in_required' // 77
  | 'cut_off' // 90
  | 'duplicate' // 94
  | 'system_error' // 96
  | 'terminal_not_registered' // 97
  | 'network_no_answer' // 98
  | 'pin_format_error' // 99
  | 'mac_failed'; // A0

/** What the original of a void, refund, completion or reversal is found by (fields 37, 38, 61). */
export interface OriginalRef {
  batchNo?: number;
  trace?: string;
  /** MMDD of the original (61.3), for refunds and completions. */
  date?: string;
  rrn?: string;
  authCode?: string;
}

/** A card request from a terminal, whatever the edge it came through. */
export interface CardRequest {
  kind: Exclude<PaymentKind, 'reversal'>;
  /** The request's MTI (0100, 0200, 0220): part of the key a retransmission repeats. */
  requestMti: string;
  terminal: Terminal;
  merchant: Merchant;
  batchNo: number;
  trace: string;
  operatorCode?: string;
  amountMinor: bigint;
  card?: CardData;
  /** The PIN block as the terminal sent it, under its working PIN key. */
  pinBlock?: Secret<Buffer>;
  pinKey?: KeyHandle;
  original?: OriginalRef;
  /** A hash of everything the request asked (not its MAC): a retransmission must match it. */
  contentHash: string;
  /** Where it came from (IP:port), for the record. */
  source: string;
}

/** A reversal (0400) from a terminal: undo the request with this key, whatever became of it. */
export interface ReversalRequest {
  terminal: Terminal;
  merchant: Merchant;
  batchNo: number;
  trace: string;
  /** The MTI of the request being reversed (0100 or 0200). */
  originalMti: string;
  originalKind: Exclude<PaymentKind, 'reversal'>;
  amountMinor: bigint;
  /** Why the terminal reverses (its field 39: 98, A0, 06). */
  terminalReason: string;
  /** The card data the reversal repeats from its original (for the reversal owed to the network). */
  card?: CardData;
  contentHash: string;
  source: string;
}

/** A recorded payment, as the host needs it to answer (and to answer a retransmission the same). */
export interface Payment {
  id: string;
  terminalId: string;
  merchantId: string;
  batchNo: number;
  trace: string;
  requestMti: string;
  kind: PaymentKind;
  status: PaymentStatus;
  responseCode: string;
  amountMinor: bigint;
  currency: string;
  panMasked: string | null;
  cardOrganization: string | null;
  rrn: string | null;
  authCode: string | null;
  issuerCode: string | null;
  balanceMinor: bigint | null;
  localTime: string;
  localDate: string;
  settlementDate: string;
  originalId: string | null;
  requestHash: string;
  createdAt: Date;
}

export interface CardResult {
  outcome: Outcome;
  payment: Payment;
  /** True when this answers a retransmission: the payment was recorded before. */
  replayed: boolean;
}

/** Field 48 totals of a batch: debits (sales, completions) and credits (refunds), domestic and foreign. */
export interface BatchTotals {
  debitAmountMinor: bigint;
  debitCount: number;
  creditAmountMinor: bigint;
  creditCount: number;
  foreignDebitAmountMinor: bigint;
  foreignDebitCount: number;
  foreignCreditAmountMinor: bigint;
  foreignCreditCount: number;
}

export interface UploadDetail {
  cardOrganization: string;
  trace: string;
  pan: Secret<string>;
  amountMinor: bigint;
}
