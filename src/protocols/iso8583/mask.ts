// The masked dump, for logs: each field as the spec's masking says (PAN first 6 + last 4; track
// data, PIN blocks, ICC data and keys as their length only). Nothing here throws: a dump is taken
// when something already went wrong.

import { type CompiledField, DATA_BCD } from './compile.ts';
import { BATCH_END_DIGITS, decodeBatchUploadDetails, SETTLEMENT_TOTALS_DIGITS } from './layouts.ts';
import type { AnyMessage } from './message.ts';
import { HEX } from './tables.ts';

export interface MessageDump {
  readonly spec: string;
  readonly mti: string;
  /** By field number: the value, its masked form, or `[hidden N bytes]`. */
  readonly fields: Readonly<Record<string, string>>;
}

/** `6222021000000013` → `622202******0013`; under 10 characters, every character is masked. */
export function maskPan(pan: string): string {
  if (pan.length < 10) return '*'.repeat(pan.length);
  return `${pan.slice(0, 6)}${'*'.repeat(pan.length - 10)}${pan.slice(-4)}`;
}

function hidden(bytes: number): string {
  return `[hidden ${bytes} bytes]`;
}

function hex(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i++) text += HEX[bytes[i]!];
  return text;
}

/** Field 48 shows totals and batch ends in full, batch-upload details with masked PANs, anything else hidden. */
function batchPans(text: string, dataBytes: number): string {
  if (text.length === SETTLEMENT_TOTALS_DIGITS || text.length === BATCH_END_DIGITS) return text;
  try {
    const details = decodeBatchUploadDetails(text);
    const shown = details.map(
      (d) =>
        `${d.cardOrganization} ${d.trace} ${maskPan(d.panZeroPadded)} ${d.amountMinor.toString().padStart(12, '0')}`,
    );
    return `${text.slice(0, 2)}|${shown.join('|')}`;
  } catch {
    return hidden(dataBytes);
  }
}

/** A field's value as a dump shows it: in clear, masked, or as its length only. */
function shown(field: CompiledField, value: string | Uint8Array): string {
  const dataBytes =
    typeof value === 'string'
      ? field.data === DATA_BCD
        ? (value.length + 1) >> 1
        : value.length
      : value.length;
  switch (field.spec.mask) {
    case 'none':
      return typeof value === 'string' ? value : hex(value);
    case 'pan':
      return typeof value === 'string' ? maskPan(value) : hidden(dataBytes);
    case 'hidden':
      return hidden(dataBytes);
    case 'batch_pans':
      return typeof value === 'string' ? batchPans(value, dataBytes) : hidden(dataBytes);
  }
}

/** Visits the message's fields in order with what a dump shows of each. */
function eachShown(message: AnyMessage, visit: (n: number, shown: string) => void): void {
  const compiled = message.compiled;
  for (const n of compiled.fieldNumbers) {
    const value = message.slots[n];
    const field = compiled.fields[n];
    if (value !== undefined && field !== undefined) visit(n, shown(field, value));
  }
}

export function dumpMessage(message: AnyMessage): MessageDump {
  const fields: Record<string, string> = {};
  eachShown(message, (n, text) => {
    fields[String(n)] = text;
  });
  return { spec: message.spec.name, mti: message.mti, fields };
}

/** One line: `0200 2=622202******0013 3=000000 … 52=[hidden 8 bytes]`. */
export function formatDump(message: AnyMessage): string {
  // Straight from the slots, with no record in between: the host dumps every message it sees.
  let line = message.mti === '' ? '(no MTI)' : message.mti;
  eachShown(message, (n, text) => {
    line += ` ${n}=${text}`;
  });
  return line;
}
