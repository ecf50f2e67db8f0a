// The terminals module: terminals bound to merchants, their sign-in sessions (working keys through the
// keys module) and their batches.
export {
  MAC_FAILURES_BEFORE_SIGN_IN,
  type ProvisionInput,
  type SignInRefusal,
  type SignInResult,
  type Terminal,
  type TerminalAlgorithm,
  type TerminalContext,
  type TerminalMacAlgorithm,
  Terminals,
  type TerminalsDeps,
  type WorkingKeyHandles,
} from './terminals.ts';
