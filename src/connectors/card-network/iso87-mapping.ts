import type {
  NetworkOperation,
  NetworkOutcome,
  NetworkRequest,
  NetworkReversal,
  OriginalReference,
} from '../../payments/index.ts';
import { iso87Ascii, Message, responseMti } from '../../protocols/iso8583/index.ts';
import { TillpointError } from '../../shared/errors.ts';
import { Secret } from '../../shared/secret.ts';
import { reasonOf } from './codes.ts';

// How a card-network message is written in ISO 8583:1987 (the `iso87Ascii` spec) on the link to an
// upstream switch, and read back: the one table of operation → MTI + processing code (3) + POS
// condition code (25), the fields of requests, replies, reversals and echoes. Both ends use it: the
// link (src/connectors/card-network/iso87-link.ts) and the simulator's TCP server.
//
// | operation       | MTI       | 3      | 25 | original data                                   |
// | --------------- | --------- | ------ | -- | ----------------------------------------------- |
// | balance         | 0200/0210 | 310000 | 00 | –                                               |
// | sale            | 0200/0210 | 000000 | 00 | –                                               |
// | void            | 0200/0210 | 200000 | 00 | 38, 61 (original RRN), 90 (of the sale)         |
// | refund          | 0220/0230 | 200000 | 00 | 38, 61, 90 (of the sale or completion)          |
// | preauth         | 0100/0110 | 030000 | 06 | –                                               |
// | preauth_void    | 0100/0110 | 200000 | 06 | 38, 61, 90 (of the pre-authorization)           |
// | completion      | 0200/0210 | 000000 | 06 | 38, 61, 90 (of the pre-authorization)           |
// | completion_void | 0200/0210 | 200000 | 06 | 38, 61, 90 (of the completion)                  |
// | reversal        | 0420/0430, repeats 0421/0430 | as the reversed message | as it | 39 = reason, 90 = the reversed message |
// | echo            | 0800/0810 | –      | –  | 70 = 301                                        |
//
// The table follows UnionPay's conventions (the terminal profile uses the same codes). Fields of a
// request: 2 PAN, 3, 4 amount, 7 transmission date and time (UTC, MMDDhhmmss), 11 STAN, 14 expiry,
// 22 entry mode, 23 card sequence number, 25, 32 acquirer, 35 track 2, 37 RRN (always the message's
// own), 41 terminal, 42 merchant, 43 merchant name (only when printable ASCII: the field has no room
// for other scripts), 49 currency, 52 PIN block under the zone PIN key (8 bytes: a 3DES ZPK), 53
// `2600000000000000`, 55 ICC data. A reply echoes 3, 4, 7, 11, 25, 32, 37, 41, 42, 49 and adds 39,
// 38 (approvals), 44 (issuer + acquirer institution), 54 (balance: account type 00, amount type 02
// available, currency, C/D, 12 digits), 63 (card organization). A reversal carries the reversed
// message's fields without 35, 52, 53, 55 and its original data, 39 = reason (68 response too
// late, 22 suspected malfunction, 17 cancellation) and 90 = the reversed message.

export interface MessageType {
  mti: string;
  processingCode: string;
  conditionCode: string;
}

export const OPERATION_MESSAGES: Readonly<Record<NetworkOperation, MessageType>> = {
  balance: { mti: '0200', processingCode: '310000', conditionCode: '00' },
  sale: { mti: '0200', processingCode: '000000', conditionCode: '00' },
  void: { mti: '0200', processingCode: '200000', conditionCode: '00' },
  refund: { mti: '0220', processingCode: '200000', conditionCode: '00' },
  preauth: { mti: '0100', processingCode: '030000', conditionCode: '06' },
  preauth_void: { mti: '0100', processingCode: '200000', conditionCode: '06' },
  completion: { mti: '0200', processingCode: '000000', conditionCode: '06' },
  completion_void: { mti: '0200', processingCode: '200000', conditionCode: '06' },
};

/** The MTI of the message a void, refund or completion refers to. */
const ORIGINAL_MTI: Readonly<Partial<Record<NetworkOperation, string>>> = {
  void: '0200',
  refund: '0200',
  preauth_void: '0100',
  completion: '0100',
  completion_void: '0200',
};

const REVERSAL_REASONS: Readonly<Record<NetworkReversal['reason'], string>> = {
  timeout: '68',
  host_failure: '22',
  terminal: '17',
};

export const ECHO_CODE = '301';
export const SECURITY_CONTROL = '2600000000000000';

export type Iso87Message = Message<typeof iso87Ascii>;

const OPERATION_BY_TYPE: ReadonlyMap<string, NetworkOperation> = new Map(
  (Object.entries(OPERATION_MESSAGES) as Array<[NetworkOperation, MessageType]>).map(([operation, type]) => [
    `${type.mti}|${type.processingCode}|${type.conditionCode}`,
    operation,
  ]),
);

/** The operation of a request's MTI (a repeat counts as the original), processing code and 25. */
export function operationOf(
  mti: string,
  processingCode: string,
  conditionCode: string,
): NetworkOperation | undefined {
  return OPERATION_BY_TYPE.get(`${mti.slice(0, 3)}0|${processingCode}|${conditionCode}`);
}

function invalid(param: string, message: string): TillpointError {
  return new TillpointError('TILLPOINT_ERR_VALIDATION', message, { param });
}

function two(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/** MMDDhhmmss in UTC (field 7). */
export function transmissionDateTime(at: Date): string {
  return (
    two(at.getUTCMonth() + 1) +
    two(at.getUTCDate()) +
    two(at.getUTCHours()) +
    two(at.getUTCMinutes()) +
    two(at.getUTCSeconds())
  );
}

const HALF_YEAR_MS = 183 * 24 * 3600 * 1000;

/** Field 7 back to an instant: the year that puts it nearest to `now`. Undefined if not a date. */
export function parseTransmissionDateTime(text: string, now: Date): Date | undefined {
  if (text.length !== 10) return undefined;
  const n = (at: number) => {
    const high = text.charCodeAt(at) - 48;
    const low = text.charCodeAt(at + 1) - 48;
    return high >= 0 && high <= 9 && low >= 0 && low <= 9 ? high * 10 + low : -1;
  };
  const [month, day, h, m, s] = [n(0), n(2), n(4), n(6), n(8)];
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > 31 ||
    h < 0 ||
    h > 23 ||
    m < 0 ||
    m > 59 ||
    s < 0 ||
    s > 59
  ) {
    return undefined;
  }
  const at = (year: number) => Date.UTC(year, month - 1, day, h, m, s);
  const year = now.getUTCFullYear();
  let ms = at(year);
  if (ms - now.getTime() > HALF_YEAR_MS) ms = at(year - 1);
  else if (now.getTime() - ms > HALF_YEAR_MS) ms = at(year + 1);
  const result = new Date(ms);
  return result.getUTCDate() === day ? result : undefined;
}

function padRight(text: string, length: number): string {
  return text.length >= length ? text.slice(0, length) : text + ' '.repeat(length - text.length);
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Original data elements (field 90): MTI, STAN, transmission date and time, acquirer, forwarding institution. */
function originalDataElements(mti: string, stan: string, at: Date, acquirerCode: string): string {
  return `${mti}${stan}${transmissionDateTime(at)}${acquirerCode.padStart(11, '0')}${'0'.repeat(11)}`;
}

function setCommon(message: Iso87Message, request: NetworkRequest, type: MessageType): void {
  if (!/^[0-9]{6}$/.test(request.stan)) throw invalid('stan', 'stan must be 6 digits');
  if (request.rrn.length !== 12) throw invalid('rrn', 'rrn must be 12 characters on an ISO 8583:1987 link');
  if (request.amountMinor < 0n || request.amountMinor > 999_999_999_999n) {
    throw new TillpointError('TILLPOINT_ERR_AMOUNT_INVALID', 'amountMinor must be 0 to 999999999999', {
      param: 'amountMinor',
    });
  }
  message.set(2, request.card.pan.expose());
  message.set(3, type.processingCode);
  message.set(4, request.amountMinor.toString().padStart(12, '0'));
  message.set(7, transmissionDateTime(request.transmittedAt));
  message.set(11, request.stan);
  if (request.card.expiry !== undefined) message.set(14, request.card.expiry);
  message.set(22, request.card.entryMode);
  if (request.card.sequenceNumber !== undefined) message.set(23, request.card.sequenceNumber);
  message.set(25, type.conditionCode);
  message.set(32, request.acquirerCode);
  message.set(37, request.rrn);
  message.set(41, padRight(request.terminalId, 8));
  message.set(42, padRight(request.merchantId, 15));
  if (request.merchantName !== '' && PRINTABLE_ASCII.test(request.merchantName)) {
    message.set(43, padRight(request.merchantName, 40));
  }
  message.set(49, request.currencyNumeric);
}

/** The request message of a network request. Throws a TillpointError for a request the link cannot carry. */
export function encodeRequest(request: NetworkRequest): Iso87Message {
  const type = OPERATION_MESSAGES[request.operation];
  const message = new Message(iso87Ascii, type.mti);
  setCommon(message, request, type);
  if (request.card.track2 !== undefined) message.set(35, request.card.track2.expose());
  const original = request.original;
  if (original !== undefined) {
    if (original.authCode !== undefined && original.authCode !== '')
      message.set(38, padRight(original.authCode, 6));
    message.set(61, original.rrn);
    message.set(
      90,
      originalDataElements(
        ORIGINAL_MTI[request.operation] ?? '0200',
        original.stan,
        original.transmittedAt,
        request.acquirerCode,
      ),
    );
  }
  const pinBlock = request.pinBlockUnderZpk;
  if (pinBlock !== undefined) {
    const bytes = pinBlock.expose();
    if (bytes.length !== 8) {
      throw invalid(
        'pinBlockUnderZpk',
        'the ISO 8583:1987 link carries 8-byte PIN blocks (a 3DES zone PIN key)',
      );
    }
    message.set(52, bytes);
    message.set(53, SECURITY_CONTROL);
  }
  if (request.card.iccData !== undefined) message.set(55, request.card.iccData.expose());
  return message;
}

/** The 0420 (first attempt) or 0421 (repeats) of a reversal. */
export function encodeReversal(reversal: NetworkReversal): Iso87Message {
  const request = reversal.original;
  const type = OPERATION_MESSAGES[request.operation];
  const message = new Message(iso87Ascii, reversal.attempt <= 1 ? '0420' : '0421');
  setCommon(message, request, type);
  message.set(39, REVERSAL_REASONS[reversal.reason]);
  message.set(90, originalDataElements(type.mti, request.stan, request.transmittedAt, request.acquirerCode));
  return message;
}

export function encodeEcho(stan: string, at: Date): Iso87Message {
  return new Message(iso87Ascii, '0800').set(7, transmissionDateTime(at)).set(11, stan).set(70, ECHO_CODE);
}

/** How a reply is matched to its request: response MTI, STAN (11), terminal id (41). */
export function matchKey(mti: string, stan: string | undefined, terminalId: string | undefined): string {
  return `${mti}|${stan ?? ''}|${terminalId ?? ''}`;
}

export function requestMatchKey(message: Iso87Message): string {
  return matchKey(responseMti(message.mti), message.get(11), message.get(41));
}

const RESPONSE_CODE = /^[0-9A-Z]{2}$/;

export type DecodedReply = NetworkOutcome | { status: 'unknown'; cause: 'malformed_reply'; detail: string };

function malformed(detail: string): DecodedReply {
  return { status: 'unknown', cause: 'malformed_reply', detail };
}

/** Field 54's available balance (amount type 02, else 01), or undefined when absent; null when garbled. */
function parseBalance(text: string | undefined): bigint | undefined | null {
  if (text === undefined) return undefined;
  if (text.length === 0 || text.length % 20 !== 0) return null;
  let found: bigint | undefined;
  for (let at = 0; at < text.length; at += 20) {
    const block = text.slice(at, at + 20);
    const match = /^[0-9]{2}([0-9]{2})[0-9]{3}([CD])([0-9]{12})$/.exec(block);
    if (match === null) return null;
    const amount = BigInt(match[3]!) * (match[2] === 'D' ? -1n : 1n);
    if (match[1] === '02') return amount;
    if (match[1] === '01') found = amount;
  }
  return found;
}

/** A reply to a financial request as an outcome; malformed when it does not answer that request. */
export function decodeReply(reply: Iso87Message, request: Iso87Message): DecodedReply {
  if (reply.mti !== responseMti(request.mti)) return malformed(`reply ${reply.mti} to a ${request.mti}`);
  const code = reply.get(39);
  if (code === undefined || !RESPONSE_CODE.test(code))
    return malformed('reply without a valid response code (39)');
  for (const field of [3, 4] as const) {
    const echoed = reply.get(field);
    if (echoed !== undefined && echoed !== request.get(field)) {
      return malformed(`reply field ${field} differs from the request's`);
    }
  }
  if (code !== '00') return { status: 'declined', responseCode: code, reason: reasonOf(code) };
  const balance = parseBalance(reply.get(54));
  if (balance === null) return malformed('reply field 54 (balance) is not readable');
  const issuer = reply.get(44)?.slice(0, 11).trim();
  const organization = reply.get(63)?.trim();
  return {
    status: 'approved',
    authCode: reply.get(38)?.trim() ?? '',
    ...(balance === undefined ? {} : { balanceMinor: balance }),
    ...(issuer === undefined || issuer === '' ? {} : { issuerCode: issuer }),
    ...(organization === undefined || organization === '' ? {} : { cardOrganization: organization }),
  };
}

/** A reversal's reply: acknowledged for 00 (reversed) and 25 (nothing to reverse); anything else is not. */
export function decodeReversalReply(
  reply: Iso87Message,
  request: Iso87Message,
): { status: 'acknowledged' } | { status: 'unknown'; cause: 'malformed_reply'; detail: string } {
  if (reply.mti !== responseMti(request.mti)) {
    return { status: 'unknown', cause: 'malformed_reply', detail: `reply ${reply.mti} to a ${request.mti}` };
  }
  const code = reply.get(39);
  if (code === '00' || code === '25') return { status: 'acknowledged' };
  return {
    status: 'unknown',
    cause: 'malformed_reply',
    detail: `reversal answered ${code === undefined ? 'without a response code' : code}: not acknowledged`,
  };
}

// ---- the server side: requests in, replies out ---------------------------------------------------

export type DecodedRequest = { ok: true; request: NetworkRequest } | { ok: false; detail: string };

/** A request message (0100, 0200, 0220 or their repeats, or the body of a 0420) as a network request. */
export function decodeRequest(message: Iso87Message, now: Date, operationMti?: string): DecodedRequest {
  const fail = (detail: string): DecodedRequest => ({ ok: false, detail });
  const processingCode = message.get(3);
  const conditionCode = message.get(25) ?? '00';
  if (processingCode === undefined) return fail('no processing code (3)');
  const operation = operationOf(operationMti ?? message.mti, processingCode, conditionCode);
  if (operation === undefined)
    return fail(`no operation for ${message.mti} / ${processingCode} / ${conditionCode}`);
  const track2 = message.get(35);
  const pan = message.get(2) ?? track2?.split('=')[0];
  if (pan === undefined || pan === '') return fail('no card number (2 or 35)');
  const expiry = message.get(14) ?? (track2?.includes('=') ? track2.split('=')[1]?.slice(0, 4) : undefined);
  const amount = message.get(4);
  const stan = message.get(11);
  const rrn = message.get(37);
  const acquirerCode = message.get(32);
  const terminalId = message.get(41);
  const merchantId = message.get(42);
  const transmitted = message.get(7);
  if (amount === undefined || stan === undefined || rrn === undefined || acquirerCode === undefined) {
    return fail('a request needs 4, 11, 32 and 37');
  }
  if (terminalId === undefined || merchantId === undefined) return fail('a request needs 41 and 42');
  const transmittedAt = transmitted === undefined ? now : parseTransmissionDateTime(transmitted, now);
  if (transmittedAt === undefined) return fail('field 7 is not a date and time');
  let original: OriginalReference | undefined;
  const originalRrn = message.get(61);
  const originalData = message.get(90);
  if (operationMti === undefined && originalRrn !== undefined && originalData !== undefined) {
    const originalAt = parseTransmissionDateTime(originalData.slice(10, 20), now);
    if (originalAt === undefined) return fail('field 90 has no original date and time');
    const authCode = message.get(38)?.trim();
    original = {
      rrn: originalRrn,
      stan: originalData.slice(4, 10),
      amountMinor: BigInt(amount),
      transmittedAt: originalAt,
      ...(authCode === undefined || authCode === '' ? {} : { authCode }),
    };
  }
  const pinBlock = message.get(52);
  const icc = message.get(55);
  const sequenceNumber = message.get(23);
  return {
    ok: true,
    request: {
      operation,
      stan,
      rrn,
      transmittedAt,
      amountMinor: BigInt(amount),
      currencyNumeric: message.get(49) ?? '156',
      card: {
        pan: new Secret(pan),
        entryMode: message.get(22) ?? '000',
        ...(expiry === undefined ? {} : { expiry }),
        ...(track2 === undefined ? {} : { track2: new Secret(track2) }),
        ...(sequenceNumber === undefined ? {} : { sequenceNumber }),
        ...(icc === undefined ? {} : { iccData: new Secret(Buffer.from(icc)) }),
      },
      ...(pinBlock === undefined ? {} : { pinBlockUnderZpk: new Secret(Buffer.from(pinBlock)) }),
      acquirerCode,
      terminalId: terminalId.trimEnd(),
      merchantId: merchantId.trimEnd(),
      merchantName: message.get(43)?.trim() ?? '',
      ...(original === undefined ? {} : { original }),
    },
  };
}

const REASON_OF_CODE: Readonly<Record<string, NetworkReversal['reason']>> = {
  '68': 'timeout',
  '22': 'host_failure',
  '17': 'terminal',
};

export type DecodedReversal = { ok: true; reversal: NetworkReversal } | { ok: false; detail: string };

/** A 0420/0421 as a reversal of the message its fields (and 90) describe. */
export function decodeReversal(message: Iso87Message, now: Date): DecodedReversal {
  const originalData = message.get(90);
  if (originalData === undefined || originalData.length < 4)
    return { ok: false, detail: 'no original data (90)' };
  const decoded = decodeRequest(message, now, originalData.slice(0, 4));
  if (!decoded.ok) return decoded;
  return {
    ok: true,
    reversal: {
      original: decoded.request,
      reason: REASON_OF_CODE[message.get(39) ?? ''] ?? 'timeout',
      attempt: message.mti === '0421' ? 2 : 1,
    },
  };
}

const ECHOED_FIELDS = [3, 4, 7, 11, 25, 32, 37, 41, 42, 49] as const;

/** The reply to a request: its echoed fields, 39, and for approvals 38, 44, 54, 63. */
export function encodeReply(
  request: Iso87Message,
  outcome: NetworkOutcome & { status: 'approved' | 'declined' },
): Iso87Message {
  const reply = new Message(iso87Ascii, responseMti(request.mti));
  for (const field of ECHOED_FIELDS) {
    const value = request.get(field);
    if (value !== undefined) reply.set(field, value);
  }
  if (outcome.status === 'declined') return reply.set(39, outcome.responseCode);
  reply.set(38, padRight(outcome.authCode, 6)).set(39, '00');
  if (outcome.issuerCode !== undefined) {
    reply.set(44, padRight(outcome.issuerCode, 11) + padRight(request.get(32) ?? '', 11));
  }
  if (outcome.balanceMinor !== undefined) {
    const sign = outcome.balanceMinor < 0n ? 'D' : 'C';
    const magnitude = outcome.balanceMinor < 0n ? -outcome.balanceMinor : outcome.balanceMinor;
    reply.set(54, `0002${request.get(49) ?? '156'}${sign}${magnitude.toString().padStart(12, '0')}`);
  }
  if (outcome.cardOrganization !== undefined) reply.set(63, outcome.cardOrganization);
  return reply;
}

export function encodeReversalReply(request: Iso87Message, responseCode: string): Iso87Message {
  const reply = new Message(iso87Ascii, responseMti(request.mti));
  for (const field of [...ECHOED_FIELDS, 90] as const) {
    const value = request.get(field);
    if (value !== undefined) reply.set(field, value);
  }
  return reply.set(39, responseCode);
}

export function encodeEchoReply(request: Iso87Message): Iso87Message {
  const reply = new Message(iso87Ascii, '0810');
  for (const field of [7, 11, 70] as const) {
    const value = request.get(field);
    if (value !== undefined) reply.set(field, value);
  }
  return reply.set(39, '00');
}
