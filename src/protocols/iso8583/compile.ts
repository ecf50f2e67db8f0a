// A spec compiled for the hot path: per field, the small integers and tables the encoder and decoder
// switch on, so that packing and unpacking read no strings and build no closures per message.
// Compiled once per spec object and cached.

import type { FieldSpec, MessageSpec, SubfieldSpec } from './spec.ts';
import { CHARSETS, DIGIT_NIBBLES, type NibbleAlphabet, TRACK_NIBBLES } from './tables.ts';

export const PREFIX_NONE = 0;
export const PREFIX_BCD = 1;
export const PREFIX_ASCII = 2;
export const PREFIX_BINARY = 3;

export const DATA_BCD = 0;
export const DATA_ASCII = 1;
export const DATA_BINARY = 2;

export interface CompiledField {
  readonly number: number;
  readonly name: string;
  readonly spec: FieldSpec;
  readonly isBytes: boolean;
  readonly fixed: boolean;
  /** Fixed length or maximum, in the value's units (digits, characters or bytes). */
  readonly length: number;
  readonly prefix: number;
  /** Bytes of the length prefix: 0, 1 or 2 (BCD, binary), 2 or 3 (ASCII). */
  readonly prefixBytes: number;
  readonly data: number;
  readonly rightAlign: boolean;
  readonly padNibble: number;
  readonly acceptPadF: boolean;
  readonly nibbles: NibbleAlphabet;
  readonly charset: Uint8Array;
  /** `digit`, `digit or =`, `letter, digit or space`, `printable ASCII`: for error details. */
  readonly charsetName: string;
  /** Whether the masked dump shows less than the value (and errors must not hint at content). */
  readonly sensitive: boolean;
  /** The most bytes the field can take on the wire, prefix included. */
  readonly maxBytes: number;
}

export interface CompiledSubfield {
  readonly id: string;
  readonly field: number;
  readonly fieldName: string;
  readonly spec: SubfieldSpec;
  readonly start: number;
  readonly charset: Uint8Array;
}

export interface CompiledSpec {
  readonly spec: MessageSpec;
  /** Indexed by field number; undefined where the spec has no such field. */
  readonly fields: readonly (CompiledField | undefined)[];
  readonly fieldNumbers: readonly number[];
  /** Highest field number the bitmap can carry: 64, or 128 with a secondary bitmap. */
  readonly maxField: number;
  readonly mtiBytes: number;
  /** Bytes of one bitmap: 8 binary, 16 hex. */
  readonly bitmapBytes: number;
  readonly subfields: ReadonlyMap<string, CompiledSubfield>;
  /** The most bytes a message of this spec can take. */
  readonly maxMessageBytes: number;
  /** Scratch output of `maxMessageBytes` for `pack`. */
  readonly scratch: Buffer;
}

const CHARSET_NAMES = {
  n: 'a digit',
  z: 'a digit or =',
  an: 'a letter, digit or space',
  ans: 'printable ASCII',
  b: 'a byte',
} as const;

function compileField(field: FieldSpec): CompiledField {
  const prefix =
    field.prefix === 'bcd'
      ? PREFIX_BCD
      : field.prefix === 'ascii'
        ? PREFIX_ASCII
        : field.prefix === 'binary'
          ? PREFIX_BINARY
          : PREFIX_NONE;
  const lll = field.lengthType === 'lllvar';
  const prefixBytes = prefix === PREFIX_NONE ? 0 : prefix === PREFIX_ASCII ? (lll ? 3 : 2) : lll ? 2 : 1;
  const data = field.encoding === 'bcd' ? DATA_BCD : field.encoding === 'ascii' ? DATA_ASCII : DATA_BINARY;
  const dataBytes = data === DATA_BCD ? (field.length + 1) >> 1 : field.length;
  return {
    number: field.number,
    name: field.name,
    spec: field,
    isBytes: field.format === 'b',
    fixed: field.lengthType === 'fixed',
    length: field.length,
    prefix,
    prefixBytes,
    data,
    rightAlign: field.align === 'right',
    padNibble: field.padNibble,
    acceptPadF: field.padAccepted === 'zero_or_f',
    nibbles: field.format === 'z' ? TRACK_NIBBLES : DIGIT_NIBBLES,
    charset: field.format === 'b' ? CHARSETS.ans : CHARSETS[field.format],
    charsetName: CHARSET_NAMES[field.format],
    sensitive: field.mask !== 'none',
    maxBytes: prefixBytes + dataBytes,
  };
}

function compile(spec: MessageSpec): CompiledSpec {
  const maxField = spec.secondaryBitmap ? 128 : 64;
  const fields: (CompiledField | undefined)[] = new Array(maxField + 1).fill(undefined);
  const subfields = new Map<string, CompiledSubfield>();
  const mtiBytes = spec.mtiEncoding === 'bcd' ? 2 : 4;
  const bitmapBytes = spec.bitmapEncoding === 'binary' ? 8 : 16;
  let maxMessageBytes = mtiBytes + bitmapBytes * (spec.secondaryBitmap ? 2 : 1);
  for (const field of Object.values(spec.fields)) {
    const compiled = compileField(field);
    fields[field.number] = compiled;
    maxMessageBytes += compiled.maxBytes;
    let start = 0;
    for (const [key, sub] of Object.entries(field.subfields ?? {})) {
      const id = `${field.number}.${key}`;
      subfields.set(id, {
        id,
        field: field.number,
        fieldName: field.name,
        spec: sub,
        start,
        charset: CHARSETS[sub.format],
      });
      start += sub.length;
    }
  }
  const fieldNumbers = fields.flatMap((f) => (f === undefined ? [] : [f.number]));
  return {
    spec,
    fields,
    fieldNumbers,
    maxField,
    mtiBytes,
    bitmapBytes,
    subfields,
    maxMessageBytes,
    scratch: Buffer.alloc(maxMessageBytes),
  };
}

const cache = new WeakMap<MessageSpec, CompiledSpec>();

export function compiled(spec: MessageSpec): CompiledSpec {
  let result = cache.get(spec);
  if (result === undefined) {
    result = compile(spec);
    cache.set(spec, result);
  }
  return result;
}
