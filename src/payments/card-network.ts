import type { Secret } from '../shared/secret.ts';

// The card network, as the payments module needs it: the interface every connector implements (the
// built-in simulator, an ISO 8583:1987 link to an upstream switch). The payments module calls it;
// `src/main.ts` chooses the implementation.
//
// An answer is approved, declined, or unknown. Anything but a clear approve or decline (a timeout, a
// broken link, a garbled reply) is `unknown`, and the payments module reverses it upstream: an
// unknown outcome may have moved money at the issuer.

/** What the network is asked to do. */
export type NetworkOperation =
  | 'balance' // balance inquiry
  | 'sale' // purchase
  | 'void' // void of a sale, same day
  | 'refund' // return of (part of) a settled sale
  | 'preauth' // pre-authorization: a hold
  | 'preauth_void' // release of a hold
  | 'completion' // pre-authorization completion: capture of (part of) a hold
  | 'completion_void'; // void of a completion

/** The card as the terminal read it. Never logged: Secret fields print `***`. */
export interface CardData {
  pan: Secret<string>;
  /** YYMM, from track 2 or field 14; absent when the terminal sent neither. */
  expiry?: string;
  /** Track 2 equivalent data (`=` separator), when read from the stripe or chip. */
  track2?: Secret<string>;
  /** Card sequence number (field 23), for chip cards. */
  sequenceNumber?: string;
  /** POS entry mode (field 22), e.g. `021` (stripe, PIN entered), `051` (chip, PIN), `071` (contactless). */
  entryMode: string;
  /** Chip data (field 55), BER-TLV. */
  iccData?: Secret<Buffer>;
}

/** The network's reference of an earlier approved message, to void, refund, complete or reverse it. */
export interface OriginalReference {
  /** Retrieval reference number (field 37) of the original. */
  rrn: string;
  /** Authorization code (field 38) of the original, when it had one. */
  authCode?: string;
  /** System trace audit number the acquirer sent the original with. */
  stan: string;
  /** The original's amount, in minor units. */
  amountMinor: bigint;
  /** Transmission date and time of the original (UTC). */
  transmittedAt: Date;
}

export interface NetworkRequest {
  operation: NetworkOperation;
  /** System trace audit number towards the network (6 digits), unique per acquirer per day. */
  stan: string;
  /** Retrieval reference number (12 characters) the acquirer gives this transaction. */
  rrn: string;
  transmittedAt: Date;
  amountMinor: bigint;
  /** ISO 4217 numeric, `156` for CNY. */
  currencyNumeric: string;
  card: CardData;
  /** The PIN block translated to the zone PIN key shared with the network; absent without PIN. */
  pinBlockUnderZpk?: Secret<Buffer>;
  acquirerCode: string;
  terminalId: string;
  merchantId: string;
  merchantName: string;
  /** For void, refund, completion and their voids: the message it refers to. */
  original?: OriginalReference;
}

export type NetworkOutcome =
  | {
      status: 'approved';
      /** Authorization code (field 38). */
      authCode: string;
      /** Available balance, for balance inquiries (and where the issuer returns it). */
      balanceMinor?: bigint;
      /** Issuer institution code, for field 44. */
      issuerCode?: string;
      /** Card organization, e.g. `CUP`. */
      cardOrganization?: string;
    }
  | {
      status: 'declined';
      /** The ISO 8583 response code the issuer or network answered: 51, 54, 55, 75 … */
      responseCode: string;
      reason: string;
    }
  | {
      status: 'unknown';
      cause: 'timeout' | 'link_down' | 'malformed_reply';
      detail: string;
    };

/** A reversal: undo whatever the network did for `original` (which may have been nothing). */
export interface NetworkReversal {
  /** The reversed message's own request (its operation, amount, card, references). */
  original: NetworkRequest;
  /** Why: `timeout` (no reply in time), `host_failure` (approved but not recorded), `terminal` (the terminal reversed). */
  reason: 'timeout' | 'host_failure' | 'terminal';
  /** 1 for the first send (0420), 2 and on for repeats (0421). */
  attempt: number;
}

export type ReversalOutcome =
  | { status: 'acknowledged' }
  | { status: 'unknown'; cause: 'timeout' | 'link_down' | 'malformed_reply'; detail: string };

export interface CardNetwork {
  /** Sends a request and waits at most `timeoutMs` for its answer. Never throws for network faults. */
  send(request: NetworkRequest, options: { timeoutMs: number }): Promise<NetworkOutcome>;
  /**
   * Reverses a message. Idempotent at the network: the same reversal again is acknowledged again,
   * and a reversal of a message the network never saw is acknowledged (and remembered, so that the
   * original arriving late is refused).
   */
  reverse(reversal: NetworkReversal, options: { timeoutMs: number }): Promise<ReversalOutcome>;
  /** Stops timers and connections. */
  close(): Promise<void>;
}
