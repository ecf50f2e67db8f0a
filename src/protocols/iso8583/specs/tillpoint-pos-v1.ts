// Tillpoint terminal profile v1: the field table of /work/shared/docs/terminal-protocol.md, as data.
// BCD numerics, BCD length prefixes (LLVAR 1 byte, LLLVAR 2 bytes; digits for n and z, bytes for
// the rest), ASCII text, primary bitmap only. Pad nibble written 0, accepted 0 or F.

import { defineSpec, fieldBuilder, withSubfields } from '../spec.ts';

const field = fieldBuilder({ numericEncoding: 'bcd', prefix: 'bcd', padAccepted: 'zero_or_f' });

export const tillpointPosV1 = defineSpec({
  name: 'tillpoint-pos-v1',
  description: 'Tillpoint terminal profile v1 (UnionPay-style, 3DES terminals): BCD, primary bitmap',
  mtiEncoding: 'bcd',
  bitmapEncoding: 'binary',
  secondaryBitmap: false,
  fields: {
    2: field(2, 'primary account number', 'n', 19, { lengthType: 'llvar', mask: 'pan' }),
    3: field(3, 'processing code', 'n', 6),
    4: field(4, 'amount, in fen', 'n', 12),
    11: field(11, 'system trace audit number', 'n', 6, { note: 'POS trace, printed as 凭证号' }),
    12: field(12, 'local time hhmmss', 'n', 6),
    13: field(13, 'local date MMDD', 'n', 4),
    14: field(14, 'card expiry YYMM', 'n', 4),
    15: field(15, 'settlement date MMDD', 'n', 4),
    22: field(22, 'POS entry mode', 'n', 3, {
      note: '01x manual, 02x magnetic stripe, 05x chip, 07x contactless; last digit 1 PIN entered, 2 no PIN',
    }),
    23: field(23, 'card sequence number', 'n', 3, { align: 'right' }),
    25: field(25, 'POS condition code', 'n', 2, { note: '00 normal, 06 pre-authorization' }),
    26: field(26, 'PIN capture code', 'n', 2, { note: '12' }),
    32: field(32, 'acquiring institution code', 'n', 11, { lengthType: 'llvar' }),
    35: field(35, 'track 2', 'z', 37, {
      lengthType: 'llvar',
      mask: 'hidden',
      note: 'separator `=` as nibble D',
    }),
    36: field(36, 'track 3', 'z', 104, { lengthType: 'lllvar', mask: 'hidden', note: 'as field 35' }),
    37: field(37, 'retrieval reference number', 'an', 12),
    38: field(38, 'authorization code', 'an', 6),
    39: field(39, 'response code', 'an', 2),
    41: field(41, 'terminal id', 'ans', 8),
    42: field(42, 'merchant id', 'ans', 15),
    44: field(44, 'additional response data', 'an', 25, {
      lengthType: 'llvar',
      note: 'issuer institution (11) + acquirer institution (11)',
    }),
    48: withSubfields(
      field(48, 'additional data', 'n', 322, {
        lengthType: 'lllvar',
        mask: 'batch_pans',
        note: 'settlement totals (0500/0510, subfields 48.1–48.10); batch-upload details or end (0320)',
      }),
      {
        1: { name: 'domestic debit amount', format: 'n', length: 12 },
        2: { name: 'domestic debit count', format: 'n', length: 3 },
        3: { name: 'domestic credit amount', format: 'n', length: 12 },
        4: { name: 'domestic credit count', format: 'n', length: 3 },
        5: { name: 'domestic result', format: 'n', length: 1 },
        6: { name: 'foreign debit amount', format: 'n', length: 12 },
        7: { name: 'foreign debit count', format: 'n', length: 3 },
        8: { name: 'foreign credit amount', format: 'n', length: 12 },
        9: { name: 'foreign credit count', format: 'n', length: 3 },
        10: { name: 'foreign result', format: 'n', length: 1 },
      },
    ),
    49: field(49, 'currency code', 'an', 3, { note: '`156`' }),
    52: field(52, 'PIN block', 'b', 8, { mask: 'hidden', note: 'ISO 9564 format 0 under the PIN key' }),
    53: withSubfields(
      field(53, 'security control', 'n', 16, {
        note: '53.1: 2 = ISO 9564 format 0 with PAN; 53.2: 6 = double-length 3DES; 53.3: 0 none, 1 encrypted',
      }),
      {
        1: { name: 'PIN block format', format: 'n', length: 1 },
        2: { name: 'encryption algorithm', format: 'n', length: 1 },
        3: { name: 'track encryption', format: 'n', length: 1 },
        4: { name: 'reserved', format: 'n', length: 13 },
      },
    ),
    54: field(54, 'balance', 'an', 20, {
      lengthType: 'lllvar',
      note: 'account type (2) + amount type (2) + currency (3) + C/D + amount (12)',
    }),
    55: field(55, 'ICC data', 'b', 255, { lengthType: 'lllvar', mask: 'hidden', note: 'BER-TLV' }),
    60: withSubfields(
      field(60, 'reserved private', 'n', 17, {
        lengthType: 'lllvar',
        note: '8 to 17 digits; 60.3–60.5 may be absent; digits after 60.5 are kept but have no name',
      }),
      {
        1: { name: 'message type code', format: 'n', length: 2 },
        2: { name: 'batch number', format: 'n', length: 6 },
        3: { name: 'network management code', format: 'n', length: 3 },
        4: { name: 'terminal read capability', format: 'n', length: 1 },
        5: { name: 'chip condition code', format: 'n', length: 1 },
      },
    ),
    61: withSubfields(field(61, 'original data', 'n', 29, { lengthType: 'lllvar' }), {
      1: { name: 'original batch number', format: 'n', length: 6 },
      2: { name: 'original trace', format: 'n', length: 6 },
      3: { name: 'original date MMDD', format: 'n', length: 4 },
    }),
    62: field(62, 'keys or parameters', 'b', 512, {
      lengthType: 'lllvar',
      mask: 'hidden',
      note: 'sign-in reply: working keys under the TMK; parameter download: tag + length + value',
    }),
    63: withSubfields(field(63, 'reserved private', 'ans', 163, { lengthType: 'lllvar' }), {
      1: { name: 'operator code or card organization', format: 'an', length: 3 },
      2: { name: 'other data', format: 'ans', length: 160, variable: true },
    }),
    64: field(64, 'MAC', 'b', 8),
  },
});

/**
 * The same profile for SM4 terminals: the 16-byte PIN block (format-0 block ‖ 8 bytes FF, under
 * SM4) is the one field whose length differs.
 */
export const tillpointPosV1Sm4 = defineSpec({
  ...tillpointPosV1,
  name: 'tillpoint-pos-v1-sm4',
  description: 'Tillpoint terminal profile v1 for SM4 terminals: as tillpoint-pos-v1, field 52 is 16 bytes',
  fields: {
    ...tillpointPosV1.fields,
    52: field(52, 'PIN block', 'b', 16, {
      mask: 'hidden',
      note: 'SM4 of format-0 block ‖ 8 bytes FF under the PIN key',
    }),
  },
});
