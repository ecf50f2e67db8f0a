// Parameter download (60.3 360): field 62 of the 0810 is a list of tag (2 ASCII digits) + length (3
// ASCII digits, counting bytes) + value. Values are text: UTF-8, or GBK as Chinese terminals
// traditionally print merchant names.

import { TerminalError } from './errors.ts';
import type { Parameter } from './state.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const gbk = new TextDecoder('gbk');

function decodeText(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return gbk.decode(bytes);
  }
}

function asciiDigits(bytes: Uint8Array, from: number, count: number): string | undefined {
  let text = '';
  for (let i = from; i < from + count; i++) {
    const c = bytes[i];
    if (c === undefined || c < 0x30 || c > 0x39) return undefined;
    text += String.fromCharCode(c);
  }
  return text;
}

export function decodeParameters(field62: Uint8Array): Parameter[] {
  const parameters: Parameter[] = [];
  let at = 0;
  while (at < field62.length) {
    const tag = asciiDigits(field62, at, 2);
    const length = asciiDigits(field62, at + 2, 3);
    if (tag === undefined || length === undefined) {
      throw new TerminalError(
        'reply_invalid',
        `field 62 of the parameter download: no tag (2 digits) and length (3 digits) at byte ${at}`,
      );
    }
    const start = at + 5;
    const end = start + Number(length);
    if (end > field62.length) {
      throw new TerminalError(
        'reply_invalid',
        `field 62 of the parameter download: tag ${tag} says ${Number(length)} bytes, ${field62.length - start} remain`,
      );
    }
    parameters.push({ tag, value: decodeText(field62.subarray(start, end)) });
    at = end;
  }
  return parameters;
}

/** The inverse, for tests and fake hosts: values written as UTF-8. */
export function encodeParameters(parameters: readonly Parameter[]): Buffer {
  return Buffer.concat(
    parameters.map(({ tag, value }) => {
      const bytes = Buffer.from(value, 'utf8');
      return Buffer.concat([Buffer.from(`${tag}${String(bytes.length).padStart(3, '0')}`, 'ascii'), bytes]);
    }),
  );
}
