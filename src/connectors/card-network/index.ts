// The card-network connector: the built-in simulator (an issuer behind a network, with its own
// tables), its ISO 8583:1987 TCP server, and the ISO 8583:1987 link to an upstream switch. Both
// CardNetwork implementations are chosen by src/main.ts; the payments module sees only the interface.

export { DECLINE_REASONS, type DeclineCode, reasonOf } from './codes.ts';
export { type FaultDecision, FaultInjector, type FaultSettings, type FaultTarget } from './faults.ts';
export { createIso87CardNetwork, type Iso87CardNetwork, type Iso87LinkOptions } from './iso87-link.ts';
export { OPERATION_MESSAGES } from './iso87-mapping.ts';
export {
  type CardNetworkSimulator,
  type CardNetworkSimulatorDeps,
  createCardNetworkSimulator,
  type IssuerAnswer,
  type NewSimCard,
  type SimAuthorizationView,
  type SimCardView,
  type SimReversalView,
} from './simulator.ts';
export {
  type SimulatorServer,
  type SimulatorServerOptions,
  startSimulatorServer,
} from './simulator-server.ts';
export {
  DEFAULT_PER_TRANSACTION_LIMIT_MINOR,
  type SimCardBehaviour,
  type SimCardKind,
  type SimCardStatus,
  TEST_CARD_EXPIRY,
  TEST_CARD_PIN,
  TEST_CARDS,
  type TestCard,
} from './test-cards.ts';
