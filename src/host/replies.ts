import type { Payment } from '../payments/index.ts';
import { type AnyMessage, Message, type MessageSpec, responseMti } from '../protocols/iso8583/index.ts';
import { pad, text } from './fields.ts';
import type { TransactionDefinition } from './transactions.ts';

// Reply messages. A reply is a pure function of the request and of what was decided (the recorded
// payment, the keys, the totals): a retransmission, answered from the recorded payment, gets the
// same bytes as the first answer (only the MAC is computed again).

type AnyMutable = Message<MessageSpec>;

function set(reply: AnyMutable, id: number | string, value: string | Uint8Array | undefined): void {
  if (value !== undefined) reply.set(id as never, value as never);
}

/** The reply skeleton: the response MTI and the fields every reply echoes (11, 41, 42, 60). */
export function replyTo(request: AnyMessage, responseCode: string): AnyMutable {
  const reply = new Message(request.spec, responseMti(request.mti)) as AnyMutable;
  set(reply, 11, text(request, 11));
  set(reply, 39, responseCode);
  set(reply, 41, text(request, 41));
  set(reply, 42, text(request, 42));
  const field60 = text(request, 60);
  if (field60 !== undefined) set(reply, 60, field60);
  return reply;
}

/** Host date and time fields (12, 13) of the moment the request was decided. */
export function stamp(reply: AnyMutable, localTime: string, localDate: string): void {
  set(reply, 12, localTime);
  set(reply, 13, localDate);
}

export interface CardReplyContext {
  acquirerCode: string;
}

/** A reply to a financial request or reversal, from the payment recorded for it. */
export function cardReply(
  request: AnyMessage,
  definition: TransactionDefinition,
  payment: Payment,
  context: CardReplyContext,
): AnyMutable {
  const reply = replyTo(request, payment.responseCode);
  set(reply, 3, text(request, 3));
  if (definition.type !== 'balance') set(reply, 4, text(request, 4));
  stamp(reply, payment.localTime, payment.localDate);
  set(reply, 14, text(request, 14));
  set(reply, 15, payment.settlementDate);
  set(reply, 25, text(request, 25));
  set(reply, 32, context.acquirerCode);
  set(reply, 37, payment.rrn ?? undefined);
  if (payment.responseCode === '00') set(reply, 38, payment.authCode ?? undefined);
  if (payment.responseCode === '00' && payment.issuerCode !== null) {
    set(
      reply,
      44,
      `${payment.issuerCode.padEnd(11).slice(0, 11)}${context.acquirerCode.padEnd(11).slice(0, 11)}`,
    );
  }
  set(reply, 49, text(request, 49));
  if (payment.balanceMinor !== null && payment.responseCode === '00') {
    // account type 10 (savings/debit), amount type 02 (available), currency, C/D, 12 digits
    const sign = payment.balanceMinor < 0n ? 'D' : 'C';
    const absolute = payment.balanceMinor < 0n ? -payment.balanceMinor : payment.balanceMinor;
    set(reply, 54, `1002156${sign}${pad(absolute, 12)}`);
  }
  set(reply, 61, text(request, 61));
  if (payment.cardOrganization !== null && definition.type !== 'reversal')
    set(reply, 63, payment.cardOrganization);
  return reply;
}

/**
 * Parameters (60.3 360) in field 62: tag (2 ASCII digits), length (3 ASCII digits, in bytes), value.
 * 01 merchant name (UTF-8), 02 merchant id, 03 terminal id, 04 host timeout (seconds), 05 and 06
 * receipt header lines, 07 operators (codes, comma separated), 08 acquiring institution code.
 */
export function encodeParameters(parameters: ReadonlyArray<[tag: string, value: string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [tag, value] of parameters) {
    const bytes = Buffer.from(value, 'utf8');
    parts.push(Buffer.from(`${tag}${pad(bytes.length, 3)}`, 'latin1'), bytes);
  }
  return Buffer.concat(parts);
}
