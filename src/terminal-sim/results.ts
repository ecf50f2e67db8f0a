// What the terminal's transactions answer: the outcome of each exchange, the results of
// card, network-management and settlement transactions, the options that name an original, and the
// reading of a balance (field 54).

import type { SettlementTotals } from '../protocols/iso8583/index.ts';
import type { Secret } from '../shared/secret.ts';
import type { CardData, OriginalRef } from './journal.ts';
import { type FinancialType, type ReversalReason, responseText } from './protocol.ts';
import type { Parameter } from './state.ts';

/** A card at the terminal, with the PIN the cardholder entered (none: no PIN block). */
export interface CardInput extends CardData {
  readonly pin?: Secret<string> | null;
}

/** What became of a reply. */
export type Outcome =
  | 'approved' // 39 = 00
  | 'declined' // another 39
  | 'no_reply' // nothing valid before the timeout
  | 'mac_failed' // the reply's MAC did not verify
  | 'bad_reply'; // approved, but not what was asked (amount): reversed with reason 06

export interface Balance {
  readonly accountType: string;
  readonly amountType: string;
  readonly currency: string;
  readonly amountMinor: bigint;
}

export interface ReversalResult {
  readonly type: FinancialType;
  readonly trace: string;
  readonly reason: ReversalReason;
  readonly outcome: Outcome;
  readonly responseCode: string | null;
  /** The host answered it: it is no longer pending. */
  readonly cleared: boolean;
}

/** What every result carries. */
export interface Common {
  readonly outcome: Outcome;
  readonly approved: boolean;
  readonly responseCode: string | null;
  readonly responseText: string;
  readonly terminalId: string;
  readonly merchantId: string;
  readonly batchNo: string;
  readonly trace: string;
  /** Round trip of this request alone, microseconds (null when nothing was sent). */
  readonly latencyUs: number | null;
  /** The pending reversal sent before this transaction, if there was one. */
  readonly reversal: ReversalResult | null;
  /** The terminal signed in again before this transaction. */
  readonly signedInAgain: boolean;
  /** The host asked for a new sign-in: it happens before the next transaction. */
  readonly signInRequired: boolean;
}

export interface TransactionResult extends Common {
  readonly type: FinancialType;
  readonly nameZh: string;
  readonly nameEn: string;
  readonly merchantName: string | null;
  readonly operator: string | null;
  readonly amountMinor: bigint | null;
  readonly rrn: string | null;
  readonly authCode: string | null;
  /** The host's date and time (13, 12) or the terminal's, with the terminal's year. */
  readonly year: number;
  readonly date: string;
  readonly time: string;
  readonly cardMasked: string;
  readonly cardEntry: CardData['entry'];
  readonly cardOrganization: string | null;
  readonly original: OriginalRef | null;
  readonly balance: Balance | null;
  /** This request is now the pending reversal, with this reason. */
  readonly reversalPending: ReversalReason | null;
}

export interface NetworkResult extends Common {
  readonly type: 'sign_in' | 'sign_out' | 'echo' | 'params';
}

export interface SignInResult extends NetworkResult {
  readonly type: 'sign_in';
  readonly operator: string | null;
  /** The batch the host gave in 60.2 differs from the terminal's: it was adopted. */
  readonly batchChanged: boolean;
  /** Journal entries of the old batch dropped when the batch changed. */
  readonly journalDropped: number;
  readonly keyCheckValues: {
    readonly pin: string;
    readonly mac: string;
    readonly track: string | null;
  } | null;
}

export interface ParamsResult extends NetworkResult {
  readonly type: 'params';
  readonly parameters: readonly Parameter[];
  readonly merchantName: string | null;
}

export interface SettlementResult extends Common {
  readonly type: 'settlement';
  readonly totals: SettlementTotals;
  readonly hostTotals: SettlementTotals | null;
  /** balanced (1), unbalanced (2: the batch was uploaded), error (3: the batch stays open). */
  readonly result: 'balanced' | 'unbalanced' | 'error' | null;
  readonly uploaded: number;
  /** The batch that was closed, and the one now open (equal when nothing closed). */
  readonly closedBatchNo: string | null;
  readonly nextBatchNo: string;
}

export interface VoidOptions {
  /** The card again (it must be the original's); default: the journal's. */
  readonly card?: CardData;
  readonly pin?: Secret<string> | null;
}

export interface RefundOptions extends VoidOptions {
  /** The sale's date MMDD when the journal does not hold the sale. */
  readonly date?: string;
  readonly originalBatchNo?: string;
  readonly originalTrace?: string;
}

export interface PreAuthRefOptions extends VoidOptions {
  /** When the journal does not hold the pre-auth: its authorization code, date MMDD, batch and amount. */
  readonly authCode?: string;
  readonly date?: string;
  readonly originalBatchNo?: string;
  readonly amountMinor?: bigint;
}

export function describeOutcome(outcome: Outcome, responseCode: string | null): string {
  switch (outcome) {
    case 'approved':
    case 'declined':
      return responseCode === null ? 'a reply without a response code' : responseText(responseCode);
    case 'no_reply':
      return 'no reply from the host';
    case 'mac_failed':
      return 'the MAC of the reply failed';
    case 'bad_reply':
      return 'the reply does not match the request (amount)';
  }
}

/** Field 54: account type (2) + amount type (2) + currency (3) + C/D + amount (12), possibly repeated. */
export function parseBalance(field54: string | undefined): Balance | null {
  if (field54 === undefined) return null;
  let chosen: Balance | null = null;
  for (let at = 0; at + 20 <= field54.length; at += 20) {
    const match = /^(\d{2})(\d{2})(\d{3})([CD])(\d{12})$/.exec(field54.slice(at, at + 20));
    if (match === null) return chosen;
    const amount = BigInt(match[5]!);
    const balance: Balance = {
      accountType: match[1]!,
      amountType: match[2]!,
      currency: match[3]!,
      amountMinor: match[4] === 'D' ? -amount : amount,
    };
    if (chosen === null || balance.amountType === '02') chosen = balance;
    if (balance.amountType === '02') break;
  }
  return chosen;
}
