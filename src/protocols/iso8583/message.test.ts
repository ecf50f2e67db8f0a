import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import {
  dumpMessage,
  formatDump,
  Iso8583Error,
  iso87Ascii,
  Message,
  type MessageSpec,
  maskPan,
  pack,
  tillpointPosV1,
  tillpointPosV1Sm4,
  unpack,
} from './index.ts';

const SALE = Buffer.from(
  '0200702404C020C09811166222021000000013000000000000001234000002301202100012346222021000000013D301220100000000003130303030303031313032333134303534313130303031313536503EFE85F255C14A26000000000000000013220000010005003231343331373441',
  'hex',
);

describe('Message', () => {
  it('gets fields by number and subfields by id', () => {
    const sale = unpack(tillpointPosV1, SALE);
    assert.equal(sale.mti, '0200');
    assert.equal(sale.get(4), '000000001234');
    assert.equal(sale.get('60.1'), '22');
    assert.equal(sale.get('60.2'), '000001');
    assert.equal(sale.get('53.2'), '6');
    assert.equal(sale.get(61), undefined);
    assert.equal(sale.get('61.1'), undefined);
    assert.ok(sale.has(35));
    assert.ok(sale.has('60.5'));
    assert.ok(!sale.has(62));
    assert.deepEqual(sale.fieldNumbers(), [2, 3, 4, 11, 14, 22, 25, 26, 35, 41, 42, 49, 52, 53, 60, 64]);
  });

  it('sets subfields in order, keeps the later ones, and refuses a gap', () => {
    const message = new Message(tillpointPosV1, '0800');
    assert.throws(() => message.set('60.2', '000001'), {
      name: 'Iso8583Error',
      reason: 'subfield_gap',
      field: 60,
    });
    message.set('60.1', '00').set('60.2', '000001').set('60.3', '003');
    assert.equal(message.get(60), '00000001003');
    message.set('60.2', '000002');
    assert.equal(message.get(60), '00000002003');
    assert.throws(() => message.set('60.3', '03'), { reason: 'bad_length' });
    assert.throws(() => message.set('60.3', '0a3'), { reason: 'bad_character' });
    message.set('63.1', '001').set('63.2', 'extra text');
    assert.equal(message.get(63), '001extra text');
    assert.equal(message.get('63.2'), 'extra text');
    assert.throws(() => message.set('63.2', 'x'.repeat(161)), { reason: 'value_too_long' });
  });

  it('deletes a field, or the last present subfield', () => {
    const message = new Message(tillpointPosV1, '0800').set(60, '00000001003').set(11, '000001');
    assert.throws(() => message.delete('60.2'), { reason: 'subfield_gap' });
    message.delete('60.3');
    assert.equal(message.get(60), '00000001');
    message.delete('60.2').delete('60.1');
    assert.equal(message.get(60), undefined);
    message.delete(11);
    assert.deepEqual(message.fieldNumbers(), []);
  });

  it('refuses unknown fields and values of the wrong type', () => {
    // A message of a spec known only at run time (the host picks the spec per terminal).
    const message = new Message(tillpointPosV1 as MessageSpec, '0200');
    assert.throws(() => message.set(5, '1'), { name: 'Iso8583Error', reason: 'unknown_field', field: 5 });
    assert.throws(() => message.set(52, 'not bytes' as never), { reason: 'bad_value_type', field: 52 });
    assert.throws(() => message.set(4, new Uint8Array(6) as never), { reason: 'bad_value_type', field: 4 });
    assert.throws(() => message.get('60.9'), { reason: 'unknown_field' });
  });

  it('copies fields from another message, e.g. a request into its reply', () => {
    const sale = unpack(tillpointPosV1, SALE);
    const reply = new Message(tillpointPosV1, '0210').copyFrom(sale, [2, 3, 4, 11, 61]);
    assert.deepEqual(reply.fieldNumbers(), [2, 3, 4, 11]);
    assert.equal(reply.get(4), '000000001234');
  });

  it('builds from plain data and exposes plain data (hex for b fields)', () => {
    const exposed = unpack(tillpointPosV1, SALE).exposeFields();
    const rebuilt = Message.fromFields(tillpointPosV1, exposed);
    assert.equal(
      Buffer.from(pack(rebuilt)).toString('hex').toUpperCase(),
      SALE.toString('hex').toUpperCase(),
    );
    assert.throws(() => Message.fromFields(tillpointPosV1, { mti: '0200', fields: { 52: 'ZZ' } }), {
      reason: 'bad_character',
    });
    assert.throws(() => Message.fromFields(tillpointPosV1, { mti: '0200', fields: { 5: '1' } }), {
      reason: 'unknown_field',
    });
  });

  it('logs as the masked dump, never in clear', () => {
    const sale = unpack(tillpointPosV1, SALE);
    const json = JSON.stringify({ message: sale });
    const inspected = inspect(sale);
    for (const text of [json, inspected, formatDump(sale)]) {
      assert.ok(!text.includes('6222021000000013'), text);
      assert.ok(!text.includes('503EFE85F255C14A'), text);
      assert.ok(!text.includes('D3012'), text);
      assert.ok(text.includes('622202******0013'), text);
    }
  });

  it('the type system knows each field of a spec', () => {
    // Compiled by tsc, never run: each @ts-expect-error line must fail to type-check.
    const check = (): void => {
      const message = new Message(tillpointPosV1, '0200');
      const pin: Uint8Array | undefined = message.get(52);
      const amount: string | undefined = message.get(4);
      const batch: string | undefined = message.get('60.2');
      // @ts-expect-error field 5 is not in the POS profile
      message.get(5);
      // @ts-expect-error field 60 has five subfields
      message.get('60.9');
      // @ts-expect-error field 52 holds bytes
      message.set(52, '503EFE85F255C14A');
      // @ts-expect-error field 4 holds a string
      message.set(4, new Uint8Array(6));
      const sm4: Uint8Array | undefined = new Message(tillpointPosV1Sm4, '0200').get(52);
      const mac: Uint8Array | undefined = new Message(iso87Ascii, '0400').get(128);
      // @ts-expect-error iso87Ascii defines no subfields
      new Message(iso87Ascii, '0400').get('60.1');
      void [pin, amount, batch, sm4, mac];
    };
    assert.equal(typeof check, 'function');
  });
});

const TRACK3 =
  '996222021000000013=1561560000000000000003000000114000049120=000000000000=000000000000=00000000000000';

describe('masked dump', () => {
  it('masks the PAN, hides 35, 36, 52, 55, 62 by length, shows the rest', () => {
    const message = unpack(tillpointPosV1, SALE)
      .set(55, new Uint8Array(100))
      .set(62, new Uint8Array(40))
      .set(36, TRACK3);
    const dump = dumpMessage(message);
    assert.equal(dump.mti, '0200');
    assert.equal(dump.spec, 'tillpoint-pos-v1');
    assert.equal(dump.fields['2'], '622202******0013');
    assert.equal(dump.fields['35'], '[hidden 17 bytes]');
    assert.equal(dump.fields['36'], `[hidden ${Math.ceil(TRACK3.length / 2)} bytes]`);
    assert.equal(dump.fields['52'], '[hidden 8 bytes]');
    assert.equal(dump.fields['55'], '[hidden 100 bytes]');
    assert.equal(dump.fields['62'], '[hidden 40 bytes]');
    assert.equal(dump.fields['4'], '000000001234');
    assert.equal(dump.fields['41'], '10000001');
    assert.equal(dump.fields['64'], '3231343331373441');
  });

  it('masks the PANs of batch-upload details in field 48, shows totals, hides anything else', () => {
    const details = `02${'00000002'}62220210000000130000000000001234${'00000007'}62500010000000100000000000001234`;
    const upload = new Message(tillpointPosV1, '0320').set(48, details);
    const shown = dumpMessage(upload).fields['48']!;
    assert.ok(!shown.includes('6222021000000013'), shown);
    assert.ok(!shown.includes('62500010000000'), shown);
    assert.ok(shown.includes('622202**********0000'), shown);
    const totals = '0'.repeat(62);
    assert.equal(dumpMessage(new Message(tillpointPosV1, '0500').set(48, totals)).fields['48'], totals);
    assert.equal(dumpMessage(new Message(tillpointPosV1, '0320').set(48, '0002')).fields['48'], '0002');
    assert.equal(
      dumpMessage(new Message(tillpointPosV1, '0320').set(48, '6222021000000013')).fields['48'],
      '[hidden 8 bytes]',
    );
  });

  it('maskPan keeps first 6 and last 4, masks short values entirely', () => {
    assert.equal(maskPan('6222021000000013'), '622202******0013');
    assert.equal(maskPan('6222021000000000013'), '622202*********0013');
    assert.equal(maskPan('123456789'), '*********');
  });

  it('never throws, even on values that would not pack', () => {
    const message = new Message(tillpointPosV1, '').set(2, 'abc').set(35, '');
    assert.equal(formatDump(message), '(no MTI) 2=*** 35=[hidden 0 bytes]');
  });

  it('Iso8583Error is the one class of codec errors', () => {
    assert.ok(
      new Iso8583Error({ field: 2, fieldName: 'x', reason: 'truncated', offset: 1, detail: '' }) instanceof
        Error,
    );
  });
});
