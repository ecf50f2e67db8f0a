import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeSettlementTotals,
  Iso8583Error,
  type Iso8583Reason,
  iso87Ascii,
  isResponseMti,
  Message,
  type MessageSpec,
  pack,
  packInto,
  responseMti,
  tillpointPosV1,
  tillpointPosV1Sm4,
  unpack,
} from './index.ts';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();
const bytesOf = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** A POS message from the MTI on: MTI (BCD), the binary bitmap of `fields`, then `body` (hex). */
function pos(mti: string, fields: readonly number[], body = ''): Buffer {
  let bits = 0n;
  for (const n of fields) bits |= 1n << BigInt(64 - n);
  return bytesOf(mti + bits.toString(16).padStart(16, '0') + body);
}

/** An iso87Ascii message: ASCII MTI, hex-ASCII bitmap(s), then `body` (ASCII text). */
function ascii(mti: string, fields: readonly number[], body: string | Buffer = ''): Buffer {
  let bits = 0n;
  for (const n of fields) bits |= 1n << BigInt(128 - n);
  const secondary = fields.some((n) => n > 64);
  if (secondary) bits |= 1n << 127n;
  const bitmap = bits
    .toString(16)
    .padStart(32, '0')
    .toUpperCase()
    .slice(0, secondary ? 32 : 16);
  return Buffer.concat([
    Buffer.from(mti + bitmap, 'latin1'),
    typeof body === 'string' ? Buffer.from(body, 'latin1') : body,
  ]);
}

const SALE = bytesOf(
  '0200702404C020C09811166222021000000013000000000000001234000002301202100012346222021000000013D301220100000000003130303030303031313032333134303534313130303031313536503EFE85F255C14A26000000000000000013220000010005003231343331373441',
);

interface Row {
  readonly reason: Iso8583Reason;
  readonly case: string;
  readonly spec: MessageSpec;
  readonly bytes: Buffer;
  readonly field: number;
  readonly offset: number;
}

// One row per unpack outcome, in the order of the union (several rows where a reason has several causes).
const unpackRows: readonly Row[] = [
  { reason: 'truncated', case: 'MTI', spec: tillpointPosV1, bytes: bytesOf('02'), field: 0, offset: 0 },
  {
    reason: 'truncated',
    case: 'bitmap',
    spec: tillpointPosV1,
    bytes: bytesOf('0200 70240400'),
    field: 1,
    offset: 2,
  },
  {
    reason: 'truncated',
    case: 'fixed field',
    spec: tillpointPosV1,
    bytes: pos('0200', [3], '0000'),
    field: 3,
    offset: 10,
  },
  {
    reason: 'truncated',
    case: 'LLL prefix',
    spec: tillpointPosV1,
    bytes: pos('0200', [60], '00'),
    field: 60,
    offset: 10,
  },
  {
    reason: 'truncated',
    case: 'ASCII bitmap',
    spec: iso87Ascii,
    bytes: Buffer.from('02007000'),
    field: 1,
    offset: 4,
  },
  {
    reason: 'bad_mti',
    case: 'BCD',
    spec: tillpointPosV1,
    bytes: bytesOf('0A00 0000000000000000'),
    field: 0,
    offset: 0,
  },
  {
    reason: 'bad_mti',
    case: 'ASCII',
    spec: iso87Ascii,
    bytes: Buffer.from('02X00000000000000000'),
    field: 0,
    offset: 0,
  },
  {
    reason: 'bad_bitmap',
    case: 'secondary on POS',
    spec: tillpointPosV1,
    bytes: pos('0200', [1]),
    field: 1,
    offset: 2,
  },
  {
    reason: 'bad_bitmap',
    case: 'not hex',
    spec: iso87Ascii,
    bytes: Buffer.from('02007G00000000000000'),
    field: 1,
    offset: 4,
  },
  {
    reason: 'bad_bitmap',
    case: 'tertiary',
    spec: iso87Ascii,
    bytes: Buffer.from('0800800000000000000080000000000000000'),
    field: 1,
    offset: 20,
  },
  {
    reason: 'unknown_field',
    case: 'POS field 5',
    spec: tillpointPosV1,
    bytes: pos('0200', [5], '00'),
    field: 5,
    offset: 10,
  },
  {
    reason: 'length_not_bcd',
    case: 'LL',
    spec: tillpointPosV1,
    bytes: pos('0200', [2], '1A'),
    field: 2,
    offset: 10,
  },
  {
    reason: 'length_not_numeric',
    case: 'LL',
    spec: iso87Ascii,
    bytes: ascii('0200', [2], 'A6'),
    field: 2,
    offset: 20,
  },
  {
    reason: 'length_too_long',
    case: 'LL',
    spec: tillpointPosV1,
    bytes: pos('0200', [2], '20'),
    field: 2,
    offset: 10,
  },
  {
    reason: 'length_too_long',
    case: 'LLL',
    spec: tillpointPosV1,
    bytes: pos('0200', [55], '0256'),
    field: 55,
    offset: 10,
  },
  {
    reason: 'length_beyond_data',
    case: 'LL',
    spec: tillpointPosV1,
    bytes: pos('0200', [2], '16 62220210'),
    field: 2,
    offset: 10,
  },
  {
    reason: 'bad_bcd_nibble',
    case: 'n6',
    spec: tillpointPosV1,
    bytes: pos('0200', [3], '0A0000'),
    field: 3,
    offset: 10,
  },
  {
    reason: 'bad_bcd_nibble',
    case: 'z with E',
    spec: tillpointPosV1,
    bytes: pos('0200', [35], '04 12E4'),
    field: 35,
    offset: 12,
  },
  {
    reason: 'bad_pad_nibble',
    case: 'left',
    spec: tillpointPosV1,
    bytes: pos('0200', [22], '0215'),
    field: 22,
    offset: 11,
  },
  {
    reason: 'bad_pad_nibble',
    case: 'right',
    spec: tillpointPosV1,
    bytes: pos('0200', [23], '5001'),
    field: 23,
    offset: 10,
  },
  {
    reason: 'bad_character',
    case: 'ans control byte',
    spec: tillpointPosV1,
    bytes: pos('0200', [41], '3130303001303031'),
    field: 41,
    offset: 14,
  },
  {
    reason: 'bad_character',
    case: 'ASCII n',
    spec: iso87Ascii,
    bytes: ascii('0200', [3], '00A000'),
    field: 3,
    offset: 22,
  },
  {
    reason: 'trailing_bytes',
    case: 'one byte after 64',
    spec: tillpointPosV1,
    bytes: Buffer.concat([SALE, bytesOf('00')]),
    field: 64,
    offset: SALE.length,
  },
];

function unpackError(spec: MessageSpec, bytes: Uint8Array): Iso8583Error {
  try {
    unpack(spec, bytes);
  } catch (error) {
    assert.ok(error instanceof Iso8583Error, `not an Iso8583Error: ${String(error)}`);
    return error;
  }
  assert.fail('unpack accepted the bytes');
}

describe('unpack errors name the field, the offset and the reason', () => {
  for (const row of unpackRows) {
    it(`${row.reason} (${row.case})`, () => {
      const error = unpackError(row.spec, row.bytes);
      assert.equal(error.reason, row.reason, error.message);
      assert.equal(error.field, row.field, error.message);
      assert.equal(error.offset, row.offset, error.message);
      assert.ok(error.message.includes(`field ${row.field}`), error.message);
      assert.ok(error.fieldName.length > 0);
    });
  }

  it('offsets count from the start given', () => {
    const framed = Buffer.concat([bytesOf('00000000'), pos('0200', [3], '0A0000')]);
    const error = (() => {
      try {
        unpack(tillpointPosV1, framed, { start: 4 });
      } catch (e) {
        return e as Iso8583Error;
      }
      assert.fail('accepted');
    })();
    assert.equal(error.offset, 10);
  });

  it('never echo field content: only MTI and bitmap bytes are kept', () => {
    const broken = Buffer.from(SALE);
    broken[45] = 0xee; // inside track 2 (bytes 38–54)
    const error = unpackError(tillpointPosV1, broken);
    assert.equal(error.field, 35);
    assert.equal(error.raw, undefined);
    const text = `${error.message} ${JSON.stringify(error)}`;
    assert.ok(!text.includes('6222021000000013'), text);
    assert.ok(!text.includes('622202'), text);
    assert.equal(hex(unpackError(tillpointPosV1, bytesOf('0A00 0000000000000000')).raw!), '0A00');
  });
});

describe('unpack', () => {
  it('accepts F as the pad nibble of odd BCD fields (2, 35, 60, 61 of several vendors) and packs 0', () => {
    const message = new Message(tillpointPosV1, '0200')
      .set(2, '622202100000001')
      .set(35, '622202100000001=3012201')
      .set(60, '2200000100050')
      .set(61, '000001000002112');
    const packed = Buffer.from(pack(message));
    const padded = Buffer.from(packed);
    // The last byte of each field: MTI + bitmap 10; 2 = 1 + 8; 35 = 1 + 12; 60 = 2 + 7; 61 = 2 + 8.
    const ends = [10 + 1 + 8 - 1, 10 + 9 + 1 + 12 - 1, 10 + 9 + 13 + 2 + 7 - 1, 10 + 9 + 13 + 9 + 2 + 8 - 1];
    for (const end of ends) {
      assert.equal(padded[end]! & 0x0f, 0, `byte ${end} ends with the 0 pad`);
      padded[end] = padded[end]! | 0x0f;
    }
    const back = unpack(tillpointPosV1, padded);
    assert.deepEqual(back.exposeFields(), message.exposeFields());
    assert.equal(hex(pack(back)), hex(packed));
  });

  it('writes field 22 left-aligned and field 23 right-aligned', () => {
    const message = new Message(tillpointPosV1, '0200').set(22, '021').set(23, '001');
    assert.equal(hex(pack(message)).slice(20), '02100001');
  });

  it('reads odd-length LLVAR and LLLVAR fields', () => {
    const message = unpack(tillpointPosV1, pos('0200', [2, 60], '13 6222021000000 0 0008 22000001'));
    assert.equal(message.get(2), '6222021000000');
    assert.equal(message.get(60), '22000001');
    assert.equal(message.get('60.2'), '000001');
    assert.equal(message.get('60.3'), undefined);
  });

  it('accepts empty variable fields', () => {
    const message = unpack(tillpointPosV1, pos('0200', [2, 55], '00 0000'));
    assert.equal(message.get(2), '');
    assert.equal(message.get(55)?.length, 0);
  });

  it('gives b fields as views of the input, without a copy', () => {
    const message = unpack(tillpointPosV1, SALE);
    const pin = message.get(52)!;
    assert.equal(pin.buffer, SALE.buffer);
  });

  it('reads a partial message up to a field: 41 and 42 of an SM4 sale, before its spec is known', () => {
    const sm4Sale = Buffer.from(
      '0200702404C020C09811166222021000000013000000000000001234000002301202100012346222021000000013D3012201000000000031303030303030323130323331343035343131303030313135360039C2191E0C7EEDE82E38E7B62D439A26000000000000000013220000010005004230433841453338',
      'hex',
    );
    assert.throws(() => unpack(tillpointPosV1, sm4Sale), { name: 'Iso8583Error' });
    const head = unpack(tillpointPosV1, sm4Sale, { throughField: 42 });
    assert.equal(head.get(41), '10000002');
    assert.equal(head.get(42), '102314054110001');
    assert.equal(head.get(49), undefined);
    assert.equal(unpack(tillpointPosV1Sm4, sm4Sale).get(52)?.length, 16);
  });

  it('reads a secondary bitmap in iso87Ascii', () => {
    const message = unpack(iso87Ascii, ascii('0800', [7, 11, 70], '1126093015000001301'));
    assert.equal(message.get(70), '301');
    assert.deepEqual(message.fieldNumbers(), [7, 11, 70]);
  });

  it('a range within a larger buffer', () => {
    const framed = Buffer.concat([bytesOf('AABB'), SALE, bytesOf('CC')]);
    const message = unpack(tillpointPosV1, framed, { start: 2, end: 2 + SALE.length });
    assert.equal(message.get(4), '000000001234');
  });
});

describe('pack', () => {
  const packRows: readonly {
    reason: Iso8583Reason;
    case: string;
    build: () => Message<MessageSpec>;
    field: number;
  }[] = [
    {
      reason: 'bad_mti',
      case: 'three digits',
      build: () => new Message(tillpointPosV1, '020') as unknown as Message<MessageSpec>,
      field: 0,
    },
    {
      reason: 'bad_length',
      case: 'n6 with 5 digits',
      build: () => new Message(tillpointPosV1, '0200').set(3, '12345') as unknown as Message<MessageSpec>,
      field: 3,
    },
    {
      reason: 'bad_length',
      case: 'b64 with 7 bytes',
      build: () =>
        new Message(tillpointPosV1, '0200').set(52, new Uint8Array(7)) as unknown as Message<MessageSpec>,
      field: 52,
    },
    {
      reason: 'value_too_long',
      case: 'PAN of 20 digits',
      build: () =>
        new Message(tillpointPosV1, '0200').set(2, '62220210000000130000') as unknown as Message<MessageSpec>,
      field: 2,
    },
    {
      reason: 'bad_character',
      case: 'letter in n',
      build: () =>
        new Message(tillpointPosV1, '0200').set(4, '00000000123A') as unknown as Message<MessageSpec>,
      field: 4,
    },
    {
      reason: 'bad_character',
      case: 'letter in z',
      build: () =>
        new Message(tillpointPosV1, '0200').set(35, '6222=301X') as unknown as Message<MessageSpec>,
      field: 35,
    },
    {
      reason: 'bad_character',
      case: 'punctuation in an',
      build: () => new Message(tillpointPosV1, '0200').set(39, '0!') as unknown as Message<MessageSpec>,
      field: 39,
    },
    {
      reason: 'bad_character',
      case: 'non-ASCII in ans',
      build: () => new Message(tillpointPosV1, '0200').set(63, '操作员') as unknown as Message<MessageSpec>,
      field: 63,
    },
  ];

  for (const row of packRows) {
    it(`refuses ${row.reason} (${row.case})`, () => {
      const message = row.build();
      assert.throws(
        () => pack(message),
        (error: unknown) =>
          error instanceof Iso8583Error &&
          error.reason === row.reason &&
          error.field === row.field &&
          error.offset === -1,
      );
    });
  }

  it('never echoes a PAN in a pack error', () => {
    const message = new Message(tillpointPosV1, '0200').set(2, '622202100000001X');
    assert.throws(
      () => pack(message),
      (error: Error) => error instanceof Iso8583Error && !error.message.includes('622202'),
    );
  });

  it('computes the bitmap from the fields present, secondary only when a field above 64 is', () => {
    const primary = new Message(iso87Ascii, '0800').set(11, '000001');
    assert.equal(Buffer.from(pack(primary)).toString('latin1'), '08000020000000000000000001');
    const secondary = new Message(iso87Ascii, '0800').set(11, '000001').set(70, '301');
    assert.equal(
      Buffer.from(pack(secondary)).toString('latin1'),
      '080080200000000000000400000000000000000001301',
    );
    secondary.delete(70);
    assert.equal(Buffer.from(pack(secondary)).toString('latin1'), '08000020000000000000000001');
  });

  it('packInto writes at an offset and refuses a buffer that is too small', () => {
    const message = unpack(tillpointPosV1, SALE);
    const out = new Uint8Array(SALE.length + 13);
    assert.equal(packInto(message, out, 13), SALE.length);
    assert.equal(hex(out.subarray(13)), hex(SALE));
    assert.throws(() => packInto(message, new Uint8Array(50)), { name: 'AssertionError' });
  });
});

describe('field 48 layouts', () => {
  it('refuses a field 48 of another layout with bad_layout', () => {
    assert.throws(() => decodeSettlementTotals('0002'), { name: 'Iso8583Error', reason: 'bad_layout' });
  });
});

describe('MTI', () => {
  const rows = [
    ['0100', '0110'],
    ['0200', '0210'],
    ['0220', '0230'],
    ['0320', '0330'],
    ['0400', '0410'],
    ['0401', '0410'],
    ['0420', '0430'],
    ['0500', '0510'],
    ['0800', '0810'],
    ['0820', '0830'],
  ] as const;
  for (const [request, response] of rows) {
    it(`answers ${request} with ${response}`, () => {
      assert.equal(responseMti(request), response);
      assert.ok(isResponseMti(response));
      assert.ok(!isResponseMti(request));
    });
  }
  it('has no response to a response or to garbage', () => {
    assert.throws(() => responseMti('0210'), { name: 'Iso8583Error', reason: 'bad_mti' });
    assert.throws(() => responseMti('02x0'), { name: 'Iso8583Error', reason: 'bad_mti' });
    assert.throws(() => responseMti('020'), { name: 'Iso8583Error', reason: 'bad_mti' });
  });
});
