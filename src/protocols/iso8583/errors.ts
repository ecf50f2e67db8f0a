// The one error of the codec. Every malformed message, every invalid value and every malformed
// BER-TLV ends here, with the field that is wrong, where, and why; never a RangeError from a read.
// It never carries field content: a corrupted bitmap can shift card data into any field's span, so
// the error keeps offsets, and the caller, who holds the bytes, decides what to look at.

/** Why a message, a value or a TLV was refused, in the order the codec meets them. */
export type Iso8583Reason =
  // unpack
  | 'truncated' // the data ends inside a fixed-length element (MTI, bitmap, length prefix, fixed field)
  | 'bad_mti' // the MTI is not four digits (or, for responseMti, not a request)
  | 'bad_bitmap' // a bitmap bit the spec does not allow (secondary bitmap on a primary-only profile), or bad hex
  | 'unknown_field' // a field the spec does not define
  | 'length_not_bcd' // a BCD length prefix with a nibble above 9
  | 'length_not_numeric' // an ASCII length prefix that is not digits
  | 'length_too_long' // a length prefix above the field's maximum
  | 'length_beyond_data' // a length prefix that runs past the end of the message
  | 'bad_bcd_nibble' // a BCD data nibble outside the field's alphabet
  | 'bad_pad_nibble' // the pad nibble of an odd-length BCD field is neither 0 nor (where accepted) F
  | 'bad_character' // a character outside the field's character set (unpack and pack)
  | 'trailing_bytes' // bytes after the last field of the bitmap
  // pack and set
  | 'bad_value_type' // a string where bytes are expected, or the reverse
  | 'bad_length' // a value whose length differs from a fixed-length field's or subfield's
  | 'value_too_long' // a value longer than a variable field's maximum
  | 'subfield_gap' // a subfield set while an earlier subfield of the same field is absent
  // field 48 layouts
  | 'bad_layout' // field 48 does not have the layout asked for (settlement totals, batch-upload details)
  // BER-TLV (field 55)
  | 'tlv_truncated' // the data ends inside a tag or a length
  | 'tlv_bad_tag' // a tag that is not valid BER (e.g. `00`, or a multi-byte tag over 4 bytes)
  | 'tlv_bad_length' // an indefinite length (`80`) or a length of more than 4 bytes
  | 'tlv_length_beyond_data' // a length that runs past the end of its container
  | 'tlv_too_deep'; // constructed objects nested deeper than the decoder allows

export interface Iso8583ErrorDetails {
  /** The field number: 0 for the MTI, 1 for the bitmap(s), 2–128 for data elements. */
  readonly field: number;
  readonly fieldName: string;
  readonly reason: Iso8583Reason;
  /**
   * Unpack: the byte offset in the message (from the MTI) where the wrong element starts.
   * TLV: the byte offset in the TLV data. Pack and set: -1 (the detail says which character).
   */
  readonly offset: number;
  /** Human-readable facts (lengths, positions, never content). */
  readonly detail: string;
  /** The BER-TLV tag (uppercase hex) for `tlv_*` reasons, when it was read. */
  readonly tag?: string | undefined;
  /** The MTI or bitmap bytes for reasons on field 0 or 1 (never data elements). */
  readonly raw?: Uint8Array | undefined;
}

export class Iso8583Error extends Error {
  readonly field: number;
  readonly fieldName: string;
  readonly reason: Iso8583Reason;
  readonly offset: number;
  readonly detail: string;
  readonly tag: string | undefined;
  readonly raw: Uint8Array | undefined;

  constructor(details: Iso8583ErrorDetails) {
    const where = details.offset >= 0 ? ` at byte ${details.offset}` : '';
    const tag = details.tag === undefined ? '' : ` tag ${details.tag}`;
    super(
      `field ${details.field} (${details.fieldName})${tag}${where}: ${details.reason}${details.detail === '' ? '' : `: ${details.detail}`}`,
    );
    this.name = 'Iso8583Error';
    this.field = details.field;
    this.fieldName = details.fieldName;
    this.reason = details.reason;
    this.offset = details.offset;
    this.detail = details.detail;
    this.tag = details.tag;
    this.raw = details.raw;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      field: this.field,
      fieldName: this.fieldName,
      reason: this.reason,
      offset: this.offset,
      detail: this.detail,
      ...(this.tag === undefined ? {} : { tag: this.tag }),
      ...(this.raw === undefined ? {} : { rawHex: Buffer.from(this.raw).toString('hex').toUpperCase() }),
    };
  }
}

export function isIso8583Error(error: unknown, reason?: Iso8583Reason): error is Iso8583Error {
  return error instanceof Iso8583Error && (reason === undefined || error.reason === reason);
}
