// The payments module: card payments from terminals (sale, void, refund, pre-authorization family,
// reversal, balance inquiry), their state and their money. It declares the card network it needs.
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
