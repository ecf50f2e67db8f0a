import type { ActorType } from '../audit/index.ts';

export type AccountType = 'asset' | 'liability' | 'revenue' | 'expense' | 'equity';
export const ACCOUNT_TYPES: readonly AccountType[] = ['asset', 'liability', 'revenue', 'expense', 'equity'];
export type Side = 'debit' | 'credit';
export type EntryKind = 'posted' | 'pending' | 'post_pending' | 'void_pending' | 'expire_pending';

export interface Account {
  id: string;
  code: string;
  name: string;
  type: AccountType;
  currency: string;
  ownerType: string | null;
  ownerId: string | null;
  status: 'open' | 'closed';
  noNegative: boolean;
  createdAt: Date;
  closedAt: Date | null;
}

export interface OpenAccountInput {
  /** Unique and permanent: lower case, digits and `:._-`, e.g. `merchant:102314054110001:pending`. */
  code: string;
  name: string;
  type: AccountType;
  /** ISO 4217 code; default CNY. */
  currency?: string;
  owner?: { type: string; id: string };
  /** The account may not go negative (its available balance never drops below zero). */
  noNegative?: boolean;
}

export interface PostingInput {
  /** Account code. */
  account: string;
  side: Side;
  amountMinor: bigint;
  /** When given, must equal the account's currency. */
  currency?: string;
}

export interface EntryInput {
  /** Chosen by the caller; the same key twice posts once. */
  idempotencyKey: string;
  description: string;
  /** YYYY-MM-DD; default: today in the institution's time zone. */
  businessDate?: string;
  /** The business object this entry belongs to, e.g. `{ type: 'payment', id }`. */
  reference?: { type: string; id: string };
  postings: readonly PostingInput[];
  /** Two-phase: reserve the amounts now; post, void or let expire later. */
  pending?: { expiresAt?: Date };
}

export interface PostPendingInput {
  idempotencyKey: string;
  pendingEntryId: string;
  /** The part to post; default: all that is pending. Must fit within the pending postings. */
  postings?: readonly PostingInput[];
  description?: string;
  businessDate?: string;
}

export interface VoidPendingInput {
  idempotencyKey: string;
  pendingEntryId: string;
  description?: string;
  businessDate?: string;
}

export interface ReverseInput {
  idempotencyKey: string;
  entryId: string;
  description?: string;
  businessDate?: string;
}

export interface Posting {
  accountId: string;
  accountCode: string;
  currency: string;
  side: Side;
  amountMinor: bigint;
  pending: boolean;
}

export interface Entry {
  id: string;
  idempotencyKey: string;
  kind: EntryKind;
  businessDate: string;
  description: string;
  referenceType: string | null;
  referenceId: string | null;
  pendingEntryId: string | null;
  reversesEntryId: string | null;
  expiresAt: Date | null;
  createdAt: Date;
  postings: Posting[];
}

export interface PostResult {
  entry: Entry;
  /** False when the idempotency key had already posted this entry: nothing was written. */
  created: boolean;
}

export interface Balance {
  account: Account;
  /** Given for a balance as of a past business date (posted amounts only). */
  asOf: string | null;
  debitsPostedMinor: bigint;
  creditsPostedMinor: bigint;
  debitsPendingMinor: bigint;
  creditsPendingMinor: bigint;
  /** Posted balance on the account's normal side (debits − credits for assets and expenses). */
  postedMinor: bigint;
  /** Posted balance less what pending entries reserve against it. */
  availableMinor: bigint;
}

export interface HistoryLine {
  postingId: bigint;
  entryId: string;
  kind: EntryKind;
  side: Side;
  amountMinor: bigint;
  pending: boolean;
  businessDate: string;
  description: string;
  referenceType: string | null;
  referenceId: string | null;
  createdAt: Date;
}

export interface TrialBalanceLine {
  code: string;
  name: string;
  type: AccountType;
  currency: string;
  debitMinor: bigint;
  creditMinor: bigint;
}

export interface TrialBalance {
  asOf: string | null;
  accounts: TrialBalanceLine[];
  totals: Array<{ currency: string; debitMinor: bigint; creditMinor: bigint; differenceMinor: bigint }>;
}

export interface IntegrityReport {
  ok: boolean;
  accountsChecked: number;
  mismatches: Array<{ code: string; field: string; stored: bigint; fromPostings: bigint }>;
  unbalancedEntries: string[];
}

/** Who asks, for the audit line of changes to accounts. */
export interface Actor {
  type: ActorType;
  id: string;
  source?: string;
}

export interface Page<T> {
  data: T[];
  hasMore: boolean;
}
