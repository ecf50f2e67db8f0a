import type { CardData, OriginalRef } from '../payments/index.ts';
import type { AnyMessage, Message, MessageSpec } from '../protocols/iso8583/index.ts';
import { Secret } from '../shared/secret.ts';

// Reading a request's fields into domain values: the card, the original's references, the amount.
// What is malformed here (a track 2 whose PAN is not field 2's, an amount that is not digits) is a
// format error (30) for the pipeline.

export class FieldProblem extends Error {
  readonly field: number;
  constructor(field: number, detail: string) {
    super(`field ${field}: ${detail}`);
    this.field = field;
  }
}

export function text(message: AnyMessage, id: number | string): string | undefined {
  const value = (message as Message<MessageSpec>).get(id as never) as string | Uint8Array | undefined;
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : Buffer.from(value).toString('latin1');
}

export function bytes(message: AnyMessage, id: number): Uint8Array | undefined {
  const value = (message as Message<MessageSpec>).get(id as never) as string | Uint8Array | undefined;
  return value === undefined || typeof value === 'string' ? undefined : value;
}

/** Field 4 (n12, fen) as bigint; absent is zero. */
export function amountOf(message: AnyMessage): bigint {
  const value = text(message, 4);
  if (value === undefined) return 0n;
  if (!/^\d{12}$/.test(value)) throw new FieldProblem(4, 'the amount is not 12 digits');
  return BigInt(value);
}

/** The card as the terminal read it: PAN from field 2 or track 2, expiry from 14 or track 2. */
export function cardOf(message: AnyMessage): CardData | undefined {
  const field2 = text(message, 2);
  const track2 = text(message, 35);
  let pan = field2;
  let expiry = text(message, 14);
  if (track2 !== undefined) {
    const separator = track2.indexOf('=');
    if (separator < 12 || separator > 19) throw new FieldProblem(35, 'track 2 has no PAN and separator');
    const trackPan = track2.slice(0, separator);
    if (pan !== undefined && pan !== trackPan)
      throw new FieldProblem(2, "field 2 is not track 2's card number");
    pan = trackPan;
    const trackExpiry = track2.slice(separator + 1, separator + 5);
    if (/^\d{4}$/.test(trackExpiry)) expiry ??= trackExpiry;
  }
  if (pan === undefined) return undefined;
  if (!/^\d{12,19}$/.test(pan)) throw new FieldProblem(2, 'the card number is not 12 to 19 digits');
  const entryMode = text(message, 22) ?? '000';
  const icc = bytes(message, 55);
  const sequenceNumber = text(message, 23);
  return {
    pan: new Secret(pan),
    entryMode,
    ...(expiry !== undefined ? { expiry } : {}),
    ...(track2 !== undefined ? { track2: new Secret(track2) } : {}),
    ...(sequenceNumber !== undefined ? { sequenceNumber } : {}),
    ...(icc !== undefined ? { iccData: new Secret(Buffer.from(icc)) } : {}),
  };
}

/** The PIN block of field 52, when the terminal sent one: only ISO 9564 format 0 (53.1 = 2) is taken. */
export function pinBlockOf(
  message: AnyMessage,
): { block: Secret<Buffer> } | { formatError: true } | undefined {
  const block = bytes(message, 52);
  if (block === undefined) return undefined;
  const security = text(message, 53);
  if (security !== undefined && security[0] !== '2') return { formatError: true };
  return { block: new Secret(Buffer.from(block)) };
}

/** Field 61 (61.1 batch, 61.2 trace, 61.3 date) with 37 and 38: how the original is named. */
export function originalOf(message: AnyMessage): OriginalRef {
  const batch = text(message, '61.1');
  const trace = text(message, '61.2');
  const date = text(message, '61.3');
  const rrn = text(message, 37);
  const authCode = text(message, 38);
  return {
    ...(batch !== undefined && /^\d{6}$/.test(batch) ? { batchNo: Number(batch) } : {}),
    ...(trace !== undefined ? { trace } : {}),
    ...(date !== undefined ? { date } : {}),
    ...(rrn !== undefined ? { rrn } : {}),
    ...(authCode !== undefined ? { authCode } : {}),
  };
}

export function batchOf(message: AnyMessage): number | undefined {
  const batch = text(message, '60.2');
  return batch !== undefined && /^\d{6}$/.test(batch) ? Number(batch) : undefined;
}

export function pad(value: number | bigint | string, width: number): string {
  return String(value).padStart(width, '0');
}
