// Pack and unpack: MTI, bitmap(s), then each field present, driven by the compiled spec. The hot path
// reads and writes bytes with lookup tables, builds no closures and allocates only the values.
// Every failure is an Iso8583Error naming the field; no read goes past the data it was given.

import { assert } from '../../shared/assert.ts';
import {
  type CompiledField,
  type CompiledSpec,
  DATA_ASCII,
  DATA_BCD,
  PREFIX_ASCII,
  PREFIX_BCD,
  PREFIX_BINARY,
} from './compile.ts';
import { Iso8583Error, type Iso8583Reason } from './errors.ts';
import { type AnyFieldValue, type AnyMessage, Message } from './message.ts';
import type { MessageSpec } from './spec.ts';
import { CHAR, DIGIT_NIBBLES, HEX, HEX_VALUE } from './tables.ts';

/** A copy as a plain Uint8Array (`Buffer#slice` would return a view). */
function copyBytes(bytes: Uint8Array, from: number, to: number): Uint8Array {
  const copy = new Uint8Array(to - from);
  for (let i = from; i < to; i++) copy[i - from] = bytes[i]!;
  return copy;
}

function fieldError(
  field: CompiledField,
  reason: Iso8583Reason,
  offset: number,
  detail: string,
): Iso8583Error {
  return new Iso8583Error({ field: field.number, fieldName: field.name, reason, offset, detail });
}

// --- unpack -------------------------------------------------------------------------------------

function readMti(cs: CompiledSpec, bytes: Uint8Array, start: number, end: number): string {
  const size = cs.mtiBytes;
  const raw = (): Uint8Array => copyBytes(bytes, start, Math.min(end, start + size));
  if (end - start < size) {
    throw new Iso8583Error({
      field: 0,
      fieldName: 'message type indicator',
      reason: 'truncated',
      offset: 0,
      detail: `${size} bytes needed, ${end - start} present`,
      raw: raw(),
    });
  }
  let mti = '';
  if (size === 2) {
    const a = bytes[start]!;
    const b = bytes[start + 1]!;
    if (DIGIT_NIBBLES.pairOk[a] === 1 && DIGIT_NIBBLES.pairOk[b] === 1) {
      return DIGIT_NIBBLES.pair[a]! + DIGIT_NIBBLES.pair[b]!;
    }
  } else {
    for (let i = 0; i < 4; i++) {
      const c = bytes[start + i]!;
      if (c < 48 || c > 57) break;
      mti += CHAR[c];
    }
    if (mti.length === 4) return mti;
  }
  throw new Iso8583Error({
    field: 0,
    fieldName: 'message type indicator',
    reason: 'bad_mti',
    offset: 0,
    detail: 'not four digits',
    raw: raw(),
  });
}

function bitmapError(reason: Iso8583Reason, offset: number, detail: string, raw?: Uint8Array): Iso8583Error {
  return new Iso8583Error({ field: 1, fieldName: 'bitmap', reason, offset, detail, raw });
}

/** Reads one bitmap into words[at], words[at + 1] (32 fields each, bit 31 = lowest field). */
function readBitmap(
  cs: CompiledSpec,
  bytes: Uint8Array,
  o: number,
  start: number,
  end: number,
  words: Uint32Array,
  at: number,
): void {
  const size = cs.bitmapBytes;
  if (end - o < size) {
    throw bitmapError(
      'truncated',
      o - start,
      `${size} bytes needed, ${end - o} present`,
      copyBytes(bytes, o, end),
    );
  }
  if (size === 8) {
    words[at] = ((bytes[o]! << 24) | (bytes[o + 1]! << 16) | (bytes[o + 2]! << 8) | bytes[o + 3]!) >>> 0;
    words[at + 1] =
      ((bytes[o + 4]! << 24) | (bytes[o + 5]! << 16) | (bytes[o + 6]! << 8) | bytes[o + 7]!) >>> 0;
    return;
  }
  for (let w = 0; w < 2; w++) {
    let word = 0;
    for (let i = 0; i < 8; i++) {
      const c = bytes[o + w * 8 + i]!;
      const v = c < 128 ? HEX_VALUE[c]! : -1;
      if (v < 0) throw bitmapError('bad_bitmap', o - start, 'not hex', copyBytes(bytes, o, o + size));
      word = (word << 4) | v;
    }
    words[at + w] = word >>> 0;
  }
}

/** The bitmap words of the message being unpacked (unpack runs no user code, so one is enough). */
const bitmapWords = new Uint32Array(4);

function readLength(field: CompiledField, bytes: Uint8Array, o: number, start: number, end: number): number {
  if (end - o < field.prefixBytes) {
    throw fieldError(
      field,
      'truncated',
      o - start,
      `length prefix of ${field.prefixBytes} bytes, ${end - o} present`,
    );
  }
  let length = 0;
  switch (field.prefix) {
    case PREFIX_BCD:
      for (let i = 0; i < field.prefixBytes; i++) {
        const b = bytes[o + i]!;
        if (DIGIT_NIBBLES.pairOk[b] === 0)
          throw fieldError(field, 'length_not_bcd', o - start, 'length prefix');
        length = length * 100 + (b >> 4) * 10 + (b & 15);
      }
      break;
    case PREFIX_ASCII:
      for (let i = 0; i < field.prefixBytes; i++) {
        const c = bytes[o + i]!;
        if (c < 48 || c > 57) throw fieldError(field, 'length_not_numeric', o - start, 'length prefix');
        length = length * 10 + (c - 48);
      }
      break;
    case PREFIX_BINARY:
      length = field.prefixBytes === 1 ? bytes[o]! : (bytes[o]! << 8) | bytes[o + 1]!;
      break;
  }
  if (length > field.length) {
    throw fieldError(field, 'length_too_long', o - start, `declares ${length}, at most ${field.length}`);
  }
  return length;
}

function padOk(field: CompiledField, nibble: number): boolean {
  return nibble === 0 || (nibble === 15 && field.acceptPadF);
}

// Strings are the main cost of unpacking. Rather than one string per field (concatenations, or a
// native decode per field), unpack decodes at most two strings per message: the message bytes as
// latin1 (for ASCII fields), and the digits of all BCD fields, written as characters into a scratch
// buffer. Each field's value is then a substring of one of them.

interface Latin1Buffer {
  latin1Slice(start: number, end: number): string;
}

/**
 * Node's Buffer#latin1Slice (what `toString('latin1', start, end)` calls, without its argument
 * checks) where the runtime has it, which Node has had since v6; the public call otherwise.
 */
const latin1: (buffer: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as unknown as Partial<Latin1Buffer>).latin1Slice === 'function'
    ? (buffer, start, end) => (buffer as unknown as Latin1Buffer).latin1Slice(start, end)
    : (buffer, start, end) => buffer.toString('latin1', start, end);

/** The digits of the message being unpacked, as character codes (grown when a message needs more). */
let digitScratch = Buffer.alloc(4096);
/** Fields whose value is a range of the digit string: field number, start, end. */
const pendingDigits = new Int32Array(3 * 129);

/** Writes the digits of a BCD field into digitScratch at k; returns the new k. */
function readBcd(
  field: CompiledField,
  bytes: Uint8Array,
  o: number,
  digits: number,
  start: number,
  k: number,
): number {
  const { pairOk, code } = field.nibbles;
  const out = digitScratch;
  const odd = (digits & 1) === 1;
  let i = o;
  if (odd && field.rightAlign) {
    const b = bytes[i]!;
    if (!padOk(field, b >> 4))
      throw fieldError(field, 'bad_pad_nibble', i - start, 'first nibble (right-aligned)');
    const c = code[b & 15]!;
    if (c < 0) throw fieldError(field, 'bad_bcd_nibble', i - start, 'digit 0');
    out[k++] = c;
    i++;
  }
  const end = i + (digits >> 1);
  for (; i < end; i++) {
    const b = bytes[i]!;
    if (pairOk[b] === 0) throw fieldError(field, 'bad_bcd_nibble', i - start, `byte ${i - o} of the data`);
    out[k++] = code[b >> 4]!;
    out[k++] = code[b & 15]!;
  }
  if (odd && !field.rightAlign) {
    const b = bytes[i]!;
    const c = code[b >> 4]!;
    if (c < 0) throw fieldError(field, 'bad_bcd_nibble', i - start, `digit ${digits - 1}`);
    if (!padOk(field, b & 15))
      throw fieldError(field, 'bad_pad_nibble', i - start, 'last nibble (left-aligned)');
    out[k++] = c;
  }
  return k;
}

function checkAscii(field: CompiledField, bytes: Uint8Array, o: number, length: number, start: number): void {
  const charset = field.charset;
  for (let i = o; i < o + length; i++) {
    if (charset[bytes[i]!] === 0) {
      throw fieldError(field, 'bad_character', i - start, `character ${i - o} is not ${field.charsetName}`);
    }
  }
}

export interface UnpackOptions {
  /** Where the message starts in the bytes (default 0); error offsets count from here. */
  readonly start?: number;
  /** Where it ends (default: the end of the bytes). */
  readonly end?: number;
  /**
   * Read the fields up to this one and stop, without the trailing-bytes check: a partial message.
   * The host reads 41 and 42 this way to find the terminal, and so its spec (3DES or SM4: the two
   * profiles agree on every field before 52), before unpacking the whole message with that spec.
   */
  readonly throughField?: number;
}

/**
 * Unpacks one message (from the MTI to the end of the last field). The values of b fields are views
 * of `bytes` (no copy): keep the input unchanged while the message lives (FrameReader's frames are
 * never reused).
 */
export function unpack<S extends MessageSpec>(
  spec: S,
  bytes: Uint8Array,
  options: UnpackOptions = {},
): Message<S> {
  const start = options.start ?? 0;
  const end = options.end ?? bytes.length;
  const through = options.throughField ?? 128;
  assert(start >= 0 && start <= end && end <= bytes.length, 'unpack range within the bytes');
  const message = new Message(spec);
  const cs = message.compiled;
  const slots = message.slots;
  message.mti = readMti(cs, bytes, start, end);
  let o = start + cs.mtiBytes;
  const words = bitmapWords;
  words[2] = 0;
  words[3] = 0;
  readBitmap(cs, bytes, o, start, end, words, 0);
  o += cs.bitmapBytes;
  if ((words[0]! & 0x80000000) !== 0) {
    if (!cs.spec.secondaryBitmap) {
      throw bitmapError(
        'bad_bitmap',
        cs.mtiBytes,
        'bit 1 announces a secondary bitmap, which this profile has not',
      );
    }
    readBitmap(cs, bytes, o, start, end, words, 2);
    if ((words[2]! & 0x80000000) !== 0) {
      throw bitmapError(
        'bad_bitmap',
        o - start,
        'bit 65 announces a tertiary bitmap, which this codec does not read',
      );
    }
    o += cs.bitmapBytes;
  }
  const fields = cs.fields;
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  let text: string | undefined;
  if (digitScratch.length < 2 * (end - start)) digitScratch = Buffer.alloc(2 * (end - start));
  let k = 0;
  let pending = 0;
  const w0 = words[0]! & 0x7fffffff;
  const w1 = words[1]!;
  const w2 = words[2]!;
  const w3 = words[3]!;
  let last = 1;
  let lastName = 'bitmap';
  let partial = false;
  for (let w = 0; w < 4 && !partial; w++) {
    let word = w === 0 ? w0 : w === 1 ? w1 : w === 2 ? w2 : w3;
    while (word !== 0) {
      const bit = Math.clz32(word);
      word = (word & ~(0x80000000 >>> bit)) >>> 0;
      const n = w * 32 + bit + 1;
      if (n > through) {
        partial = true;
        break;
      }
      const field = fields[n];
      if (field === undefined) {
        throw new Iso8583Error({
          field: n,
          fieldName: 'unknown',
          reason: 'unknown_field',
          offset: o - start,
          detail: `the bitmap announces field ${n}, which ${cs.spec.name} does not define`,
        });
      }
      const length = field.fixed ? field.length : readLength(field, bytes, o, start, end);
      const fieldStart = o;
      o += field.prefixBytes;
      const dataBytes = field.data === DATA_BCD ? (length + 1) >> 1 : length;
      if (end - o < dataBytes) {
        throw fieldError(
          field,
          field.fixed ? 'truncated' : 'length_beyond_data',
          fieldStart - start,
          `${dataBytes} bytes of data needed, ${end - o} present`,
        );
      }
      if (field.data === DATA_BCD) {
        pendingDigits[pending++] = n;
        pendingDigits[pending++] = k;
        k = readBcd(field, bytes, o, length, start, k);
        pendingDigits[pending++] = k;
      } else if (field.data === DATA_ASCII) {
        checkAscii(field, bytes, o, length, start);
        if (text === undefined) text = latin1(buffer, start, end);
        slots[n] = text.slice(o - start, o - start + length);
      } else {
        slots[n] = new Uint8Array(bytes.buffer, bytes.byteOffset + o, length);
      }
      o += dataBytes;
      last = n;
      lastName = field.name;
    }
  }
  if (pending > 0) {
    const digits = latin1(digitScratch, 0, k);
    for (let p = 0; p < pending; p += 3) {
      slots[pendingDigits[p]!] = digits.slice(pendingDigits[p + 1]!, pendingDigits[p + 2]!);
    }
  }
  if (o !== end && !partial) {
    throw new Iso8583Error({
      field: last,
      fieldName: lastName,
      reason: 'trailing_bytes',
      offset: o - start,
      detail: `${end - o} bytes after the last field`,
    });
  }
  return message;
}

// --- pack ---------------------------------------------------------------------------------------

function writeMti(cs: CompiledSpec, mti: string, out: Uint8Array, o: number): void {
  let ok = mti.length === 4;
  for (let i = 0; ok && i < 4; i++) {
    const c = mti.charCodeAt(i);
    ok = c >= 48 && c <= 57;
  }
  if (!ok) {
    throw new Iso8583Error({
      field: 0,
      fieldName: 'message type indicator',
      reason: 'bad_mti',
      offset: -1,
      detail: 'not four digits',
    });
  }
  if (cs.mtiBytes === 2) {
    out[o] = ((mti.charCodeAt(0) - 48) << 4) | (mti.charCodeAt(1) - 48);
    out[o + 1] = ((mti.charCodeAt(2) - 48) << 4) | (mti.charCodeAt(3) - 48);
  } else {
    for (let i = 0; i < 4; i++) out[o + i] = mti.charCodeAt(i);
  }
}

function writeBitmap(cs: CompiledSpec, high: number, low: number, out: Uint8Array, o: number): void {
  if (cs.bitmapBytes === 8) {
    out[o] = high >>> 24;
    out[o + 1] = high >>> 16;
    out[o + 2] = high >>> 8;
    out[o + 3] = high;
    out[o + 4] = low >>> 24;
    out[o + 5] = low >>> 16;
    out[o + 6] = low >>> 8;
    out[o + 7] = low;
    return;
  }
  for (let i = 0; i < 4; i++) {
    const h = HEX[(high >>> (24 - 8 * i)) & 255]!;
    const l = HEX[(low >>> (24 - 8 * i)) & 255]!;
    out[o + 2 * i] = h.charCodeAt(0);
    out[o + 2 * i + 1] = h.charCodeAt(1);
    out[o + 8 + 2 * i] = l.charCodeAt(0);
    out[o + 8 + 2 * i + 1] = l.charCodeAt(1);
  }
}

function nibbleOf(field: CompiledField, value: string, i: number): number {
  const c = value.charCodeAt(i);
  const nibble = c < 128 ? field.nibbles.nibble[c]! : -1;
  if (nibble < 0) throw fieldError(field, 'bad_character', -1, `character ${i} is not ${field.charsetName}`);
  return nibble;
}

function writePrefix(field: CompiledField, length: number, out: Uint8Array, o: number): number {
  switch (field.prefix) {
    case PREFIX_BCD:
      if (field.prefixBytes === 2) out[o++] = ((length / 1000) | 0) * 16 + (((length / 100) | 0) % 10);
      out[o++] = (((length / 10) | 0) % 10) * 16 + (length % 10);
      break;
    case PREFIX_ASCII:
      if (field.prefixBytes === 3) out[o++] = 48 + (((length / 100) | 0) % 10);
      out[o++] = 48 + (((length / 10) | 0) % 10);
      out[o++] = 48 + (length % 10);
      break;
    case PREFIX_BINARY:
      if (field.prefixBytes === 2) out[o++] = length >>> 8;
      out[o++] = length & 255;
      break;
  }
  return o;
}

function checkLength(field: CompiledField, length: number): void {
  if (field.fixed ? length !== field.length : length > field.length) {
    throw field.fixed
      ? fieldError(field, 'bad_length', -1, `${length}, expects ${field.length}`)
      : fieldError(field, 'value_too_long', -1, `${length}, at most ${field.length}`);
  }
}

function checkRoom(needed: number, room: number): void {
  assert(needed <= room, 'the output buffer has room for the message');
}

function writeBytes(
  field: CompiledField,
  value: Uint8Array,
  out: Uint8Array,
  o: number,
  room: number,
): number {
  const length = value.length;
  checkLength(field, length);
  checkRoom(o + field.prefixBytes + length, room);
  o = writePrefix(field, length, out, o);
  if (length > 16) out.set(value, o);
  else for (let i = 0; i < length; i++) out[o + i] = value[i]!;
  return o + length;
}

function writeString(field: CompiledField, value: string, out: Uint8Array, o: number, room: number): number {
  const length = value.length;
  checkLength(field, length);
  checkRoom(o + field.prefixBytes + (field.data === DATA_BCD ? (length + 1) >> 1 : length), room);
  o = writePrefix(field, length, out, o);
  if (field.data === DATA_ASCII) {
    const charset = field.charset;
    for (let i = 0; i < length; i++) {
      const c = value.charCodeAt(i);
      if (c > 255 || charset[c] === 0) {
        throw fieldError(field, 'bad_character', -1, `character ${i} is not ${field.charsetName}`);
      }
      out[o + i] = c;
    }
    return o + length;
  }
  let i = 0;
  const odd = (length & 1) === 1;
  if (odd && field.rightAlign) {
    out[o++] = (field.padNibble << 4) | nibbleOf(field, value, 0);
    i = 1;
  }
  if (field.nibbles === DIGIT_NIBBLES) {
    for (; i + 1 < length; i += 2) {
      const high = value.charCodeAt(i) - 48;
      const low = value.charCodeAt(i + 1) - 48;
      if (high >>> 0 > 9 || low >>> 0 > 9) nibbleOf(field, value, high >>> 0 > 9 ? i : i + 1);
      out[o++] = (high << 4) | low;
    }
  } else {
    const table = field.nibbles.nibble;
    for (; i + 1 < length; i += 2) {
      const high = table[value.charCodeAt(i)] ?? -1;
      const low = table[value.charCodeAt(i + 1)] ?? -1;
      if ((high | low) < 0) nibbleOf(field, value, high < 0 ? i : i + 1);
      out[o++] = (high << 4) | low;
    }
  }
  if (odd && !field.rightAlign) out[o++] = (nibbleOf(field, value, length - 1) << 4) | field.padNibble;
  return o;
}

function writeField(
  field: CompiledField,
  value: AnyFieldValue,
  out: Uint8Array,
  o: number,
  room: number,
): number {
  if (typeof value === 'string') {
    if (!field.isBytes) return writeString(field, value, out, o, room);
  } else if (field.isBytes && value instanceof Uint8Array) {
    return writeBytes(field, value, out, o, room);
  }
  throw fieldError(
    field,
    'bad_value_type',
    -1,
    field.isBytes ? 'expects bytes (Uint8Array)' : 'expects a string',
  );
}

/**
 * Packs a message into `out` at `offset` (MTI, bitmap computed from the fields present, fields) and
 * returns the bytes written. Every value is checked against its field; the first wrong one throws.
 */
export function packInto(message: AnyMessage, out: Uint8Array, offset = 0): number {
  const cs = message.compiled;
  const slots = message.slots;
  const numbers = cs.fieldNumbers;
  let high = 0;
  let low = 0;
  let high2 = 0;
  let low2 = 0;
  for (let k = 0; k < numbers.length; k++) {
    const n = numbers[k]!;
    if (slots[n] === undefined) continue;
    if (n <= 32) high |= 0x80000000 >>> (n - 1);
    else if (n <= 64) low |= 0x80000000 >>> (n - 33);
    else if (n <= 96) high2 |= 0x80000000 >>> (n - 65);
    else low2 |= 0x80000000 >>> (n - 97);
  }
  const secondary = (high2 | low2) !== 0;
  if (secondary) high |= 0x80000000;
  const headBytes = cs.mtiBytes + cs.bitmapBytes * (secondary ? 2 : 1);
  assert(offset >= 0 && offset + headBytes <= out.length, 'the output buffer has room for the message');
  writeMti(cs, message.mti, out, offset);
  let o = offset + cs.mtiBytes;
  writeBitmap(cs, high, low, out, o);
  o += cs.bitmapBytes;
  if (secondary) {
    writeBitmap(cs, high2, low2, out, o);
    o += cs.bitmapBytes;
  }
  const fields = cs.fields;
  const room = out.length;
  for (let k = 0; k < numbers.length; k++) {
    const n = numbers[k]!;
    const value = slots[n];
    if (value !== undefined) o = writeField(fields[n]!, value, out, o, room);
  }
  return o - offset;
}

/**
 * Packs a message into new bytes (MTI, bitmap, fields): a Buffer from Node's pool, since a fresh
 * Uint8Array of a few hundred bytes costs more than the whole pack.
 */
export function pack(message: AnyMessage): Uint8Array {
  const scratch = message.compiled.scratch;
  const length = packInto(message, scratch, 0);
  const out = Buffer.allocUnsafe(length);
  scratch.copy(out, 0, 0, length);
  return out;
}
