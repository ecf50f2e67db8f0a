// The payments module: card payments from terminals (sale, balance inquiry, void, refund, the
// pre-authorization family, reversal), batch settlement and upload, their state and their money.
// It declares the card network it needs (card-network.ts); src/main.ts chooses the implementation.
export {
  hostTotals,
  type SettleRequest,
  type SettleResult,
  totalsEqual,
  type UploadEndResult,
  ZERO_TOTALS,
} from './batches.ts';
export type {
  CardData,
  CardNetwork,
  NetworkOperation,
  NetworkOutcome,
  NetworkRequest,
  NetworkReversal,
  OriginalReference,
  ReversalOutcome,
} from './card-network.ts';
export {
  type CardDataProtection,
  contentHash,
  DEFAULT_SETTINGS,
  merchantPendingAccount,
  type PaymentSettings,
  type PaymentsDeps,
  requestKey,
} from './core.ts';
export { cardOrganization, outcomeOfResponseCode, responseCodeOf } from './outcomes.ts';
export type { RecorderStats } from './recorder.ts';
export { localFields } from './references.ts';
export { CardPayments } from './service.ts';
export type {
  BatchTotals,
  CardRequest,
  CardResult,
  OriginalRef,
  Outcome,
  Payment,
  PaymentKind,
  PaymentStatus,
  ReversalRequest,
  UploadDetail,
} from './types.ts';
