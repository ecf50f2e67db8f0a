// Golden messages: each testdata/NN-name.hex (one frame or message) beside its decoded JSON. The
// JSON packs to the hex byte for byte, and the hex unpacks to the JSON. The sale and sign-in
// goldens are the worked examples of terminal-protocol.md; their MACs and PIN blocks are its known
// answers, and the other POS goldens carry the profile MAC under the worked example's MAC key
// (checked by the keys module).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  FrameReader,
  Header,
  iso87Ascii,
  Message,
  type MessageSpec,
  pack,
  parsePosFrame,
  Tpdu,
  tillpointPosV1,
  tillpointPosV1Sm4,
  unpack,
  writePosFrame,
} from './index.ts';

interface Golden {
  readonly description: string;
  readonly spec: string;
  readonly tpdu?: string;
  readonly header?: string;
  readonly mti: string;
  readonly fields: Record<string, string>;
  readonly subfields?: Record<string, string>;
}

const specs: Record<string, MessageSpec> = {
  [tillpointPosV1.name]: tillpointPosV1,
  [tillpointPosV1Sm4.name]: tillpointPosV1Sm4,
  [iso87Ascii.name]: iso87Ascii,
};

const dir = new URL('./testdata/', import.meta.url);
const names = readdirSync(dir)
  .filter((name) => name.endsWith('.json'))
  .map((name) => name.slice(0, -'.json'.length))
  .sort();

function load(name: string): { golden: Golden; bytes: Buffer; spec: MessageSpec } {
  const golden = JSON.parse(readFileSync(new URL(`${name}.json`, dir), 'utf8')) as Golden;
  const bytes = Buffer.from(readFileSync(new URL(`${name}.hex`, dir), 'utf8').trim(), 'hex');
  const spec = specs[golden.spec];
  assert.ok(spec !== undefined, `${name}: unknown spec ${golden.spec}`);
  return { golden, bytes, spec };
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();

describe('golden messages', () => {
  it('cover the transactions the brief asks for', () => {
    assert.ok(names.length >= 12, names.join(', '));
  });

  for (const name of names) {
    describe(name, () => {
      const { golden, bytes, spec } = load(name);
      const framed = golden.tpdu !== undefined;

      it('unpacks to the JSON', () => {
        let messageBytes: Uint8Array = bytes;
        if (framed) {
          const frames: Uint8Array[] = [];
          new FrameReader().push(bytes, (frame) => frames.push(frame));
          assert.equal(frames.length, 1);
          const frame = parsePosFrame(frames[0]!);
          assert.equal(Tpdu.toHex(frame.tpdu), golden.tpdu);
          assert.equal(hex(Header.serialize(frame.header)), golden.header);
          messageBytes = frame.message;
        }
        const message = unpack(spec, messageBytes);
        assert.deepEqual(message.exposeFields(), { mti: golden.mti, fields: golden.fields });
        for (const [id, value] of Object.entries(golden.subfields ?? {})) {
          assert.equal(message.get(id as never), value, `subfield ${id}`);
        }
      });

      it('packs from the JSON to the hex, byte for byte', () => {
        const message = Message.fromFields(spec, golden);
        if (!framed) {
          assert.equal(hex(pack(message)), hex(bytes));
          return;
        }
        const tpdu = Tpdu.parse(Buffer.from(golden.tpdu!, 'hex'));
        const header = Header.parse(Buffer.from(golden.header!, 'hex'));
        assert.equal(hex(writePosFrame(tpdu, header, message)), hex(bytes));
      });
    });
  }

  it('the sale is the worked example of terminal-protocol.md, with its PIN block and MAC', () => {
    const { bytes } = load('03-sale-request');
    assert.equal(
      hex(bytes),
      '007D60000300006031000000000200702404C020C09811166222021000000013000000000000001234000002301202100012346222021000000013D301220100000000003130303030303031313032333134303534313130303031313536503EFE85F255C14A26000000000000000013220000010005003231343331373441',
    );
    const message = unpack(tillpointPosV1, parsePosFrame(bytes.subarray(2)).message);
    assert.equal(hex(message.get(52)!), '503EFE85F255C14A');
    assert.equal(Buffer.from(message.get(64)!).toString('latin1'), '2143174A');
  });

  it('the sign-in request is the worked example, from the MTI on', () => {
    const { bytes } = load('01-sign-in-request');
    assert.equal(
      hex(bytes.subarray(13)),
      '08000020000000C00012000001313030303030303131303233313430353431313030303100110000000100300003303031',
    );
  });

  it('the sign-in reply carries the worked example field 62', () => {
    const { golden } = load('02-sign-in-reply');
    assert.equal(
      golden.fields['62'],
      'B4ABA2BB791C50E75ADC39F46164960EC5961E6217B9F1B1A1B2D33C0000000000000000E2F24340',
    );
  });

  it('the SM4 sale is the SM4 worked example, with its 16-byte PIN block and MAC', () => {
    const { bytes } = load('12-sm4-sale-request');
    const message = unpack(tillpointPosV1Sm4, parsePosFrame(bytes.subarray(2)).message);
    assert.equal(hex(message.get(52)!), '0039C2191E0C7EEDE82E38E7B62D439A');
    assert.equal(Buffer.from(message.get(64)!).toString('latin1'), 'B0C8AE38');
    assert.throws(() => unpack(tillpointPosV1, parsePosFrame(bytes.subarray(2)).message), {
      name: 'Iso8583Error',
    });
  });
});
