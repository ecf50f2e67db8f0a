// What can stop a terminal from completing a transaction, as one error class with a named reason.
// A decline is not an error: it is a result with a response code. A reply that never came is not an
// error either: it is a result (`no_reply`) that leaves a pending reversal.

export type TerminalErrorReason =
  | 'invalid_input' // a flag or argument the terminal cannot use (card, amount, trace, …)
  | 'state_invalid' // the state file cannot be read or is not a terminal's state
  | 'not_signed_in' // a MAC'd transaction without working keys: sign in first
  | 'connect_failed' // the host cannot be reached
  | 'original_not_found' // void / refund / completion of a transaction the journal does not hold
  | 'original_not_eligible' // the original is of the wrong type, already voided, or over-refunded
  | 'reversal_unanswered' // the pending reversal got no valid reply: the next transaction waits
  | 'sign_in_failed' // the host refused the sign-in, or its keys do not check out
  | 'reply_invalid' // a reply the terminal cannot use (parameters it cannot decode, …)
  | 'settlement_failed'; // the settlement or its batch upload did not complete

export class TerminalError extends Error {
  readonly reason: TerminalErrorReason;

  constructor(reason: TerminalErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerminalError';
    this.reason = reason;
  }
}

export function isTerminalError(error: unknown, reason?: TerminalErrorReason): error is TerminalError {
  return error instanceof TerminalError && (reason === undefined || error.reason === reason);
}
