import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeTlv, emvTags, encodeTlv, findTlv, Iso8583Error, type Iso8583Reason } from './index.ts';

const bytes = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const hex = (value: Uint8Array): string => Buffer.from(value).toString('hex').toUpperCase();

describe('BER-TLV', () => {
  it('decodes one- and two-byte tags and short lengths (a field 55 of a chip sale)', () => {
    const data = bytes('9F2608 8E1A2B3C4D5E6F70 9F2701 80 95 05 0000048000 9A03 261126 5F2A02 0156');
    const objects = decodeTlv(data);
    assert.deepEqual(
      objects.map((o) => [o.tag, hex(o.value)]),
      [
        ['9F26', '8E1A2B3C4D5E6F70'],
        ['9F27', '80'],
        ['95', '0000048000'],
        ['9A', '261126'],
        ['5F2A', '0156'],
      ],
    );
    assert.equal(hex(encodeTlv(objects)), hex(data));
  });

  it('decodes long-form lengths and three-byte tags', () => {
    const value = 'AB'.repeat(200);
    const data = bytes(`DF8101 81C8 ${value} 9F10 820003 010203`);
    const objects = decodeTlv(data);
    assert.equal(objects[0]!.tag, 'DF8101');
    assert.equal(objects[0]!.value.length, 200);
    assert.equal(objects[1]!.tag, '9F10');
    assert.equal(hex(objects[1]!.value), '010203');
    // Lengths are written in their shortest form.
    assert.equal(hex(encodeTlv([objects[1]!])), '9F1003010203');
    assert.equal(hex(encodeTlv([objects[0]!])).slice(0, 10), 'DF810181C8');
    assert.equal(hex(encodeTlv([{ tag: '9F10', value: new Uint8Array(300) }])).slice(0, 10), '9F1082012C');
  });

  it('decodes constructed objects into children, and encodes them from their children', () => {
    const data = bytes('70 0C 9F36 02 0042 A5 05 8801 01 9C00');
    const [template] = decodeTlv(data);
    assert.equal(template!.tag, '70');
    assert.deepEqual(
      template!.children!.map((o) => o.tag),
      ['9F36', 'A5'],
    );
    assert.deepEqual(
      template!.children![1]!.children!.map((o) => o.tag),
      ['88', '9C'],
    );
    assert.equal(findTlv([template!], '88')?.value[0], 1);
    assert.equal(findTlv([template!], '9f36')?.tag, '9F36');
    assert.equal(findTlv([template!], '9F26'), undefined);
    assert.equal(hex(encodeTlv([template!])), hex(data));
  });

  it('skips 00 padding between objects (EMV Book 3, B1)', () => {
    assert.deepEqual(
      decodeTlv(bytes('00 9C01 00 0000 8202 7C00 00')).map((o) => o.tag),
      ['9C', '82'],
    );
  });

  const malformed: readonly [Iso8583Reason, string, string, number, string | undefined][] = [
    ['tlv_truncated', 'tag cut', '9F', 0, undefined],
    ['tlv_truncated', 'no length', '9F26', 0, '9F26'],
    ['tlv_truncated', 'long length cut', '9F26 82 01', 2, '9F26'],
    ['tlv_bad_tag', 'tag of 5 bytes', 'DF 81 81 81 81 01 00', 0, undefined],
    ['tlv_bad_length', 'indefinite', '70 80 0000', 1, '70'],
    ['tlv_bad_length', '5 length bytes', '9F26 85 0000000001', 2, '9F26'],
    ['tlv_length_beyond_data', 'value cut', '9F26 08 8E1A2B', 2, '9F26'],
    ['tlv_length_beyond_data', 'child beyond parent', '70 04 9F36 03 00', 4, '9F36'],
  ];
  for (const [reason, name, data, offset, tag] of malformed) {
    it(`refuses ${reason} (${name}) with the tag and offset`, () => {
      assert.throws(
        () => decodeTlv(bytes(data)),
        (error: unknown) =>
          error instanceof Iso8583Error &&
          error.reason === reason &&
          error.field === 55 &&
          error.offset === offset &&
          error.tag === tag,
      );
    });
  }

  it('refuses nesting deeper than the limit', () => {
    let data = bytes('9C0100');
    for (let i = 0; i < 20; i++) data = Uint8Array.from([0x70, ...encodeLength(data.length), ...data]);
    assert.throws(() => decodeTlv(data), { name: 'Iso8583Error', reason: 'tlv_too_deep' });
  });

  it('refuses to encode a tag that is not BER', () => {
    for (const tag of ['', '9F', '1F', 'ZZ', '00', '9F8181818101', '9F81']) {
      assert.throws(() => encodeTlv([{ tag, value: new Uint8Array(1) }]), { reason: 'tlv_bad_tag' }, tag);
    }
    assert.throws(() => encodeTlv([{ tag: '9C', value: new Uint8Array(0), children: [] }]), {
      reason: 'tlv_bad_tag',
    });
  });

  it('names the common EMV tags', () => {
    const required =
      '9F26 9F27 9F10 9F37 9F36 95 9A 9C 9F02 9F03 5F2A 82 9F1A 9F33 9F34 9F35 9F1E 84 9F09 9F41 5F34';
    for (const tag of required.split(' ')) {
      assert.ok(emvTags[tag]?.name, tag);
    }
    assert.equal(emvTags['9F26']?.bytes, 8);
  });
});

function encodeLength(length: number): number[] {
  return length < 0x80 ? [length] : [0x81, length];
}
