// The ledger module: accounts, journal entries and postings. The only way money moves in Tillpoint.
export { SYSTEM_ACTOR } from './accounts.ts';
export { type Guard, Ledger, type LedgerDeps, type PreparedEntry, type WriteOptions } from './ledger.ts';
export { normalSideOf } from './rules.ts';
export type {
  Account,
  AccountType,
  Actor,
  Balance,
  Entry,
  EntryInput,
  EntryKind,
  HistoryLine,
  IntegrityReport,
  OpenAccountInput,
  Page,
  Posting,
  PostingInput,
  PostPendingInput,
  PostResult,
  ReverseInput,
  Side,
  TrialBalance,
  TrialBalanceLine,
  VoidPendingInput,
} from './types.ts';
export { ACCOUNT_TYPES } from './types.ts';
