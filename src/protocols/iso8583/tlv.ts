// BER-TLV as EMV uses it in field 55: tags of 1 to 4 bytes, short and long-form lengths (up to 4
// length bytes), constructed objects decoded into children. Malformed data is an Iso8583Error on
// field 55 naming the tag (when read) and the offset in the TLV data.

import { Iso8583Error, type Iso8583Reason } from './errors.ts';
import { HEX, HEX_VALUE } from './tables.ts';

export interface TlvObject {
  /** Upper-case hex, e.g. `9F26`. */
  readonly tag: string;
  /** The value bytes (for a constructed object, the encoding of its children). */
  readonly value: Uint8Array;
  /** The decoded children of a constructed object (bit 6 of the first tag byte set). */
  readonly children?: readonly TlvObject[];
}

export type EmvFormat = 'b' | 'n' | 'an' | 'ans' | 'cn';

export interface EmvTagInfo {
  readonly name: string;
  readonly format: EmvFormat;
  /** Value length in bytes: exact, or a range. */
  readonly bytes: number | { readonly min: number; readonly max: number };
}

/** The EMV tags a POS host meets in field 55 (EMV Book 3 Annex A). */
export const emvTags: Readonly<Record<string, EmvTagInfo>> = {
  '5F2A': { name: 'Transaction Currency Code', format: 'n', bytes: 2 },
  '5F34': { name: 'Application PAN Sequence Number', format: 'n', bytes: 1 },
  '82': { name: 'Application Interchange Profile', format: 'b', bytes: 2 },
  '84': { name: 'Dedicated File (DF) Name', format: 'b', bytes: { min: 5, max: 16 } },
  '95': { name: 'Terminal Verification Results', format: 'b', bytes: 5 },
  '9A': { name: 'Transaction Date', format: 'n', bytes: 3 },
  '9C': { name: 'Transaction Type', format: 'n', bytes: 1 },
  '9F02': { name: 'Amount, Authorised (Numeric)', format: 'n', bytes: 6 },
  '9F03': { name: 'Amount, Other (Numeric)', format: 'n', bytes: 6 },
  '9F09': { name: 'Application Version Number (terminal)', format: 'b', bytes: 2 },
  '9F10': { name: 'Issuer Application Data', format: 'b', bytes: { min: 0, max: 32 } },
  '9F1A': { name: 'Terminal Country Code', format: 'n', bytes: 2 },
  '9F1E': { name: 'Interface Device (IFD) Serial Number', format: 'an', bytes: 8 },
  '9F26': { name: 'Application Cryptogram', format: 'b', bytes: 8 },
  '9F27': { name: 'Cryptogram Information Data', format: 'b', bytes: 1 },
  '9F33': { name: 'Terminal Capabilities', format: 'b', bytes: 3 },
  '9F34': { name: 'Cardholder Verification Method (CVM) Results', format: 'b', bytes: 3 },
  '9F35': { name: 'Terminal Type', format: 'n', bytes: 1 },
  '9F36': { name: 'Application Transaction Counter (ATC)', format: 'b', bytes: 2 },
  '9F37': { name: 'Unpredictable Number', format: 'b', bytes: 4 },
  '9F41': { name: 'Transaction Sequence Counter', format: 'n', bytes: { min: 2, max: 4 } },
};

/** Nesting deeper than this is refused (EMV data nests two or three levels). */
export const TLV_MAX_DEPTH = 8;

function tlvError(reason: Iso8583Reason, offset: number, detail: string, tag?: string): Iso8583Error {
  return new Iso8583Error({ field: 55, fieldName: 'ICC data', reason, offset, detail, tag });
}

function decodeLevel(bytes: Uint8Array, from: number, to: number, depth: number): TlvObject[] {
  const objects: TlvObject[] = [];
  let o = from;
  while (o < to) {
    // EMV Book 3 B1: 00 bytes may appear before, between or after objects, and mean nothing.
    if (bytes[o] === 0x00) {
      o++;
      continue;
    }
    const tagStart = o;
    const first = bytes[o++]!;
    let tag = HEX[first]!;
    if ((first & 0x1f) === 0x1f) {
      let more = true;
      while (more) {
        if (o >= to) throw tlvError('tlv_truncated', tagStart, 'the data ends inside a tag');
        if (o - tagStart >= 4) throw tlvError('tlv_bad_tag', tagStart, 'a tag of more than 4 bytes');
        const b = bytes[o++]!;
        tag += HEX[b]!;
        more = (b & 0x80) !== 0;
      }
    }
    if (o >= to) throw tlvError('tlv_truncated', tagStart, 'the data ends before the length', tag);
    const lengthStart = o;
    let length = bytes[o++]!;
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count === 0 || count > 4) {
        throw tlvError(
          'tlv_bad_length',
          lengthStart,
          count === 0 ? 'indefinite length' : `${count} length bytes`,
          tag,
        );
      }
      if (to - o < count)
        throw tlvError('tlv_truncated', lengthStart, 'the data ends inside the length', tag);
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + bytes[o++]!;
    }
    if (to - o < length) {
      throw tlvError(
        'tlv_length_beyond_data',
        lengthStart,
        `declares ${length} bytes, ${to - o} remain`,
        tag,
      );
    }
    const value = new Uint8Array(length);
    for (let i = 0; i < length; i++) value[i] = bytes[o + i]!;
    if ((first & 0x20) !== 0) {
      if (depth >= TLV_MAX_DEPTH)
        throw tlvError('tlv_too_deep', tagStart, `nested deeper than ${TLV_MAX_DEPTH}`, tag);
      objects.push({ tag, value, children: decodeLevel(bytes, o, o + length, depth + 1) });
    } else {
      objects.push({ tag, value });
    }
    o += length;
  }
  return objects;
}

/** Decodes BER-TLV data (e.g. field 55) into objects, constructed ones with their children. */
export function decodeTlv(bytes: Uint8Array): TlvObject[] {
  return decodeLevel(bytes, 0, bytes.length, 0);
}

function tagBytes(tag: string): number[] {
  const bytes: number[] = [];
  const bad = (detail: string): Iso8583Error => tlvError('tlv_bad_tag', -1, detail, tag);
  if (tag.length === 0 || tag.length % 2 !== 0 || tag.length > 8) throw bad('a tag is 1 to 4 bytes of hex');
  for (let i = 0; i < tag.length; i += 2) {
    const high = HEX_VALUE[tag.charCodeAt(i)] ?? -1;
    const low = HEX_VALUE[tag.charCodeAt(i + 1)] ?? -1;
    if (high < 0 || low < 0) throw bad('not hex');
    bytes.push((high << 4) | low);
  }
  const first = bytes[0]!;
  const multi = (first & 0x1f) === 0x1f;
  if (first === 0 || (multi ? bytes.length < 2 : bytes.length !== 1)) throw bad('not a BER tag');
  for (let i = 1; i < bytes.length; i++) {
    const continues = (bytes[i]! & 0x80) !== 0;
    if (continues !== i < bytes.length - 1) throw bad('not a BER tag');
  }
  return bytes;
}

function lengthBytes(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return [0x80 | bytes.length, ...bytes];
}

function encodeObjects(objects: readonly TlvObject[], out: number[]): void {
  for (const object of objects) {
    const tag = tagBytes(object.tag);
    const constructed = (tag[0]! & 0x20) !== 0;
    let value: ArrayLike<number> = object.value;
    if (object.children !== undefined) {
      if (!constructed) throw tlvError('tlv_bad_tag', -1, 'children under a primitive tag', object.tag);
      const inner: number[] = [];
      encodeObjects(object.children, inner);
      value = inner;
    }
    out.push(...tag, ...lengthBytes(value.length));
    for (let i = 0; i < value.length; i++) out.push(value[i]!);
  }
}

/** Encodes objects as BER-TLV; a constructed object with children is encoded from its children. */
export function encodeTlv(objects: readonly TlvObject[]): Uint8Array {
  const out: number[] = [];
  encodeObjects(objects, out);
  return Uint8Array.from(out);
}

/** The first object with this tag, depth first. */
export function findTlv(objects: readonly TlvObject[], tag: string): TlvObject | undefined {
  const wanted = tag.toUpperCase();
  for (const object of objects) {
    if (object.tag === wanted) return object;
    if (object.children !== undefined) {
      const found = findTlv(object.children, wanted);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
