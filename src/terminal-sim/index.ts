// The terminal simulator: a real ISO 8583 terminal of the Tillpoint profile (sign-in with working
// keys, PIN blocks, MACs, reversals, batch journal and settlement) and a load generator of many of
// them. The only file other code imports.

export { isTerminalError, TerminalError, type TerminalErrorReason } from './errors.ts';
export {
  type CardData,
  type CardEntry,
  type EntryStatus,
  Journal,
  type JournalEntry,
  type OriginalRef,
} from './journal.ts';
export {
  DEFAULT_ENDPOINT,
  type Endpoint,
  formatEndpoint,
  type Link,
  parseEndpoint,
  TcpLink,
} from './link.ts';
export {
  type LatencySummary,
  LOAD_TYPES,
  type LoadOptions,
  type LoadProgress,
  type LoadReport,
  type LoadType,
  type MixEntry,
  parseCards,
  parseMix,
  parseTerminalIds,
  runLoad,
  type TypeReport,
  terminalIdsFromPrefix,
} from './load.ts';
export {
  buildBatchEnd,
  buildBatchUpload,
  buildFinancialRequest,
  buildNetworkManagement,
  buildReversal,
  buildSettlement,
  buildSignIn,
  DEFAULT_HEADER,
  DEFAULT_TPDU,
  type Envelope,
  type FinancialRequest,
  frameRequest,
  type PosMessage,
  parseTpdu,
  reversalFieldsOf,
  specFor,
  type TerminalIdentity,
} from './messages.ts';
export { decodeParameters, encodeParameters } from './params.ts';
export {
  DEMO_OPERATOR,
  DEMO_TERMINALS,
  DEMO_TMK_HEX,
  FINANCIAL,
  type FinancialType,
  PARAM_TAG_MERCHANT_NAME,
  type ReversalReason,
  responseText,
  type SignInKeySet,
  type TransactionType,
} from './protocol.ts';
export {
  type Balance,
  type CardInput,
  describeOutcome,
  type NetworkResult,
  type Outcome,
  type ParamsResult,
  type PreAuthRefOptions,
  type RefundOptions,
  type ReversalResult,
  type SettlementResult,
  type SignInResult,
  type TransactionResult,
  type VoidOptions,
} from './results.ts';
export { formatSlip, type SlipOptions } from './slip.ts';
export {
  applyStateOptions,
  defaultStateDir,
  FileStateStore,
  memoryStore,
  newTerminalState,
  type Parameter,
  type PendingReversal,
  type StateOptions,
  type StateStore,
  stateFileOf,
  stateFromJson,
  stateToJson,
  type TerminalAlgorithm,
  type TerminalMacAlgorithm,
  type TerminalState,
} from './state.ts';
export { DEFAULT_TIMEOUT_MS, merchantNameOf, Terminal, type TerminalOptions } from './terminal.ts';
