// A message spec is data: one description per field (format, length, encodings, alignment, padding,
// masking, subfields). The codec compiles it once into per-field steps (compile.ts); a vendor or
// algorithm variant is a new spec object, not new code.

import { assert } from '../../shared/assert.ts';

/** n digits, an letters + digits + space, ans printable ASCII, z track data (digits and `=`), b bytes. */
export type FieldFormat = 'n' | 'an' | 'ans' | 'z' | 'b';
export type LengthType = 'fixed' | 'llvar' | 'lllvar';
/** How the data is written: packed BCD (n, z), ASCII characters (any text format), raw bytes (b). */
export type DataEncoding = 'bcd' | 'ascii' | 'binary';
/** How a variable length is written: BCD (1 or 2 bytes), ASCII digits (2 or 3), binary (1 or 2 bytes). */
export type PrefixEncoding = 'none' | 'bcd' | 'ascii' | 'binary';
/** For odd digit counts in BCD: left-aligned puts the pad nibble last, right-aligned first. */
export type Alignment = 'left' | 'right';
/** Which pad nibbles unpack accepts; pack always writes `padNibble`. */
export type PadAccepted = 'zero' | 'zero_or_f';
/**
 * How the masked dump shows the field: in full; `pan` first 6 + last 4; `hidden` as its length only;
 * `batch_pans` (field 48 of the POS profile) in full unless it holds batch-upload details, whose PANs
 * are masked (anything that is neither totals, a batch end nor valid details is hidden).
 */
export type Masking = 'none' | 'pan' | 'hidden' | 'batch_pans';

export interface SubfieldSpec {
  readonly name: string;
  readonly format: 'n' | 'an' | 'ans';
  /** Fixed length in characters, or the maximum when `variable`. */
  readonly length: number;
  /** The last subfield may take the rest of the field, up to `length` characters. */
  readonly variable?: boolean;
}

export type SubfieldSpecs = Readonly<Record<number, SubfieldSpec>>;

export interface FieldSpec<F extends FieldFormat = FieldFormat> {
  readonly number: number;
  readonly name: string;
  readonly format: F;
  readonly lengthType: LengthType;
  /** Fixed length, or the maximum: digits for n and z, characters for an and ans, bytes for b. */
  readonly length: number;
  readonly encoding: DataEncoding;
  readonly prefix: PrefixEncoding;
  readonly align: Alignment;
  /** The nibble pack writes to fill an odd digit count (BCD only). */
  readonly padNibble: 0x0 | 0xf;
  readonly padAccepted: PadAccepted;
  readonly mask: Masking;
  readonly subfields?: SubfieldSpecs;
  /** One line for the profile's field table (meaning, codes). */
  readonly note?: string;
}

export interface MessageSpec {
  readonly name: string;
  readonly description: string;
  readonly mtiEncoding: 'bcd' | 'ascii';
  /** `binary`: 8 bytes per bitmap; `hex`: 16 hex ASCII characters per bitmap (upper case written). */
  readonly bitmapEncoding: 'binary' | 'hex';
  /** Whether bit 1 may announce a secondary bitmap (fields 65–128). */
  readonly secondaryBitmap: boolean;
  readonly fields: Readonly<Record<number, FieldSpec>>;
}

// --- typed access -------------------------------------------------------------------------------

export type FieldNumber<S extends MessageSpec> = keyof S['fields'] & number;

export type FieldValue<S extends MessageSpec, K extends number> = K extends keyof S['fields']
  ? S['fields'][K] extends { readonly format: infer F }
    ? F extends 'b'
      ? Uint8Array
      : string
    : never
  : never;

/** The literal keys of T, without an index signature (FieldSpec's own `subfields?` brings one). */
type LiteralKeys<T> = keyof {
  [K in keyof T as number extends K ? never : string extends K ? never : K]: T[K];
};

type SubfieldIdOf<K extends number, Fs> = Fs extends { readonly subfields: infer Sub }
  ? `${K}.${LiteralKeys<Sub> & number}`
  : never;

/** `'60.2'` and friends: the subfield ids a spec defines (any `n.m` for a spec typed loosely). */
export type SubfieldId<S extends MessageSpec> =
  number extends FieldNumber<S>
    ? `${number}.${number}`
    : { [K in FieldNumber<S>]: SubfieldIdOf<K, S['fields'][K]> }[FieldNumber<S>];

// --- building specs -----------------------------------------------------------------------------

export interface FieldDefaults {
  readonly numericEncoding: 'bcd' | 'ascii';
  readonly prefix: Exclude<PrefixEncoding, 'none'>;
  readonly padAccepted: PadAccepted;
}

export interface FieldOptions {
  readonly lengthType?: LengthType;
  readonly encoding?: DataEncoding;
  readonly prefix?: Exclude<PrefixEncoding, 'none'>;
  readonly align?: Alignment;
  readonly padAccepted?: PadAccepted;
  readonly mask?: Masking;
  readonly note?: string;
}

/** A field constructor with a profile's defaults: `field(2, 'PAN', 'n', 19, { lengthType: 'llvar' })`. */
export function fieldBuilder(defaults: FieldDefaults) {
  return function field<F extends FieldFormat>(
    number: number,
    name: string,
    format: F,
    length: number,
    options: FieldOptions = {},
  ): FieldSpec<F> {
    const lengthType = options.lengthType ?? 'fixed';
    const encoding =
      options.encoding ??
      (format === 'b' ? 'binary' : format === 'n' || format === 'z' ? defaults.numericEncoding : 'ascii');
    return {
      number,
      name,
      format,
      lengthType,
      length,
      encoding,
      prefix: lengthType === 'fixed' ? 'none' : (options.prefix ?? defaults.prefix),
      align: options.align ?? 'left',
      padNibble: 0x0,
      padAccepted: options.padAccepted ?? defaults.padAccepted,
      mask: options.mask ?? 'none',
      ...(options.note === undefined ? {} : { note: options.note }),
    };
  };
}

/** Adds subfields to a field, keeping their numbers in the type (so `get('60.2')` type-checks). */
export function withSubfields<F extends FieldFormat, const S extends SubfieldSpecs>(
  spec: FieldSpec<F>,
  subfields: S,
): FieldSpec<F> & { readonly subfields: S } {
  return { ...spec, subfields };
}

/** Checks a spec's internal consistency once, at definition: a wrong spec is a bug, so it asserts. */
export function defineSpec<const S extends MessageSpec>(spec: S): S {
  for (const [key, field] of Object.entries(spec.fields)) {
    const where = `${spec.name} field ${key}`;
    assert(Number(key) === field.number, `${where}: key and number differ`);
    assert(field.number >= 2 && field.number <= (spec.secondaryBitmap ? 128 : 64), `${where}: out of range`);
    assert(!(spec.secondaryBitmap && field.number === 65), `${where}: bit 65 announces a tertiary bitmap`);
    assert(Number.isInteger(field.length) && field.length >= 1, `${where}: length`);
    assert((field.lengthType === 'fixed') === (field.prefix === 'none'), `${where}: prefix vs length type`);
    const maxPrefixed =
      field.lengthType === 'llvar'
        ? field.prefix === 'binary'
          ? 255
          : 99
        : field.lengthType === 'lllvar'
          ? field.prefix === 'binary'
            ? 65535
            : 999
          : Number.MAX_SAFE_INTEGER;
    assert(field.length <= maxPrefixed, `${where}: length above what its prefix can say`);
    if (field.format === 'b') assert(field.encoding === 'binary', `${where}: b fields are binary`);
    else if (field.format === 'n' || field.format === 'z')
      assert(field.encoding === 'bcd' || field.encoding === 'ascii', `${where}: n/z are BCD or ASCII`);
    else assert(field.encoding === 'ascii', `${where}: text fields are ASCII`);
    if (field.subfields !== undefined) {
      assert(field.format !== 'b' && field.format !== 'z', `${where}: subfields need a text or digit field`);
      let start = 0;
      const numbers = Object.keys(field.subfields).map(Number);
      numbers.forEach((n, i) => {
        assert(n === i + 1, `${where}: subfields are numbered 1, 2, 3…`);
        const sub = field.subfields?.[n];
        assert(sub !== undefined, `${where}.${n}: missing`);
        assert(
          !sub.variable || i === numbers.length - 1,
          `${where}.${n}: only the last subfield is variable`,
        );
        if (field.format === 'n') assert(sub.format === 'n', `${where}.${n}: subfields of n fields are n`);
        start += sub.length;
      });
      assert(start <= field.length, `${where}: subfields longer than the field`);
    }
  }
  return spec;
}

/** `n..19 LLVAR`, `b64`, `ans..163 LLLVAR`: the ISO notation of a field's format and length. */
export function formatNotation(field: FieldSpec): string {
  if (field.lengthType === 'fixed') {
    return field.format === 'b' ? `b${field.length * 8}` : `${field.format}${field.length}`;
  }
  return `${field.format}..${field.length} ${field.lengthType === 'llvar' ? 'LLVAR' : 'LLLVAR'}`;
}
