// The requests built by this module against the golden frames of the codec (the worked examples of
// docs/terminal-protocol.md and the frames the codec's goldens derive from them), byte for byte.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { decodeSettlementTotals, parsePosFrame, unpack } from '../protocols/iso8583/index.ts';
import { Secret } from '../shared/secret.ts';
import { type CardData, Journal, type JournalEntry } from './journal.ts';
import { encryptPin, importClearKey, parseWorkingKeysField62, verifyMac, type WorkingKeys } from './keys.ts';
import {
  buildBatchEnd,
  buildBatchUpload,
  buildFinancialRequest,
  buildReversal,
  buildSettlement,
  buildSignIn,
  DEFAULT_HEADER,
  DEFAULT_TPDU,
  type Envelope,
  frameRequest,
  parseTpdu,
  reversalFieldsOf,
  specFor,
} from './messages.ts';
import { DEMO_TMK_HEX } from './protocol.ts';

const golden = (name: string): string =>
  readFileSync(new URL(`../protocols/iso8583/testdata/${name}.hex`, import.meta.url), 'utf8').trim();
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();

const envelope: Envelope = { tpdu: DEFAULT_TPDU, header: DEFAULT_HEADER };
const spec3des = specFor('3des');
const specSm4 = specFor('sm4');
const supermarket = { terminalId: '10000001', merchantId: '102314054110001' };
const card: CardData = { pan: '6222021000000013', expiry: '3012', entry: 'swipe' };
const pin = new Secret('123456');

// Worked examples: field 62 of the sign-in reply under the demo TMK.
const FIELD62_3DES = 'B4ABA2BB791C50E75ADC39F46164960EC5961E6217B9F1B1A1B2D33C0000000000000000E2F24340';
const FIELD62_SM4 = '8304408321B9AC205F971EA5DC15305CA3679FEAE7A0AB79FF5441D4B73D79C473626F75CE974463';

function keysOf(algorithm: '3des-2key' | 'sm4', field62: string): WorkingKeys {
  const tmk = importClearKey(Buffer.from(DEMO_TMK_HEX, 'hex'), { algorithm, usage: 'tmk' });
  return parseWorkingKeysField62(Buffer.from(field62, 'hex'), tmk);
}

const keys3des = keysOf('3des-2key', FIELD62_3DES);
const keysSm4 = keysOf('sm4', FIELD62_SM4);
const mac3des = { key: keys3des.mac, algorithm: 'ecb' as const };

function sale(trace: string, batchNo = '000001') {
  return buildFinancialRequest(spec3des, {
    type: 'sale',
    identity: supermarket,
    trace,
    batchNo,
    amountMinor: 1234n,
    card,
    pinBlock: encryptPin(pin, card.pan, keys3des.pin),
    original: null,
    operator: '001',
  });
}

function entry(overrides: Partial<JournalEntry> & Pick<JournalEntry, 'trace'>): JournalEntry {
  return {
    type: 'sale',
    batchNo: '000001',
    amountMinor: 1234n,
    rrn: `261126${overrides.trace}`,
    authCode: '654321',
    date: '1126',
    time: '093120',
    year: 2026,
    card,
    cardOrganization: 'CUP',
    operator: '001',
    original: null,
    status: 'open',
    refundedMinor: 0n,
    ...overrides,
  };
}

describe('field 62 of the worked examples', () => {
  it('decodes to the 3DES keys with the stated check values; the MAC key is 8 bytes (K‖K)', () => {
    assert.equal(keys3des.pin.checkValue, 'C5961E62');
    assert.equal(keys3des.mac.checkValue, 'E2F24340');
    assert.equal(keys3des.mac.algorithm, '3des-2key');
  });

  it('decodes to the SM4 keys with the stated check values', () => {
    assert.equal(keysSm4.pin.checkValue, 'A3679FEA');
    assert.equal(keysSm4.mac.checkValue, 'CE974463');
    assert.equal(keysSm4.pin.algorithm, 'sm4');
  });
});

describe('requests equal the golden frames byte for byte', () => {
  it('sign-in of 10000001, operator 001, PIN + MAC keys (worked example)', () => {
    const message = buildSignIn(spec3des, {
      identity: supermarket,
      trace: '000001',
      batchNo: '000001',
      keySet: '003',
      operator: '001',
    });
    assert.equal(hex(frameRequest(envelope, message, null)), golden('01-sign-in-request'));
  });

  it('sale of ¥12.34 from the 3DES terminal (worked example: PIN block 503EFE85F255C14A, MAC 2143174A)', () => {
    const message = sale('000002');
    assert.equal(hex(message.get(52)!), '503EFE85F255C14A');
    const frame = frameRequest(envelope, message, mac3des);
    assert.equal(hex(frame), golden('03-sale-request'));
    assert.equal(Buffer.from(message.get(64)!).toString('ascii'), '2143174A');
  });

  it('the same sale from the SM4 terminal 10000002 (16-byte PIN block, SM4 MAC B0C8AE38)', () => {
    const message = buildFinancialRequest(specSm4, {
      type: 'sale',
      identity: { terminalId: '10000002', merchantId: '102314054110001' },
      trace: '000002',
      batchNo: '000001',
      amountMinor: 1234n,
      card,
      pinBlock: encryptPin(pin, card.pan, keysSm4.pin),
      original: null,
      operator: '001',
    });
    assert.equal(hex(message.get(52)!), '0039C2191E0C7EEDE82E38E7B62D439A');
    const frame = frameRequest(envelope, message, { key: keysSm4.mac, algorithm: 'ecb' });
    assert.equal(hex(frame), golden('12-sm4-sale-request'));
  });

  it('void of the sale: 37/38 and 61.1–61.2 of the sale, full amount, with PIN', () => {
    const original = entry({ trace: '000002', rrn: '261126000002' });
    const message = buildFinancialRequest(spec3des, {
      type: 'void',
      identity: supermarket,
      trace: '000003',
      batchNo: '000001',
      amountMinor: original.amountMinor,
      card,
      pinBlock: encryptPin(pin, card.pan, keys3des.pin),
      original: {
        batchNo: '000001',
        trace: '000002',
        rrn: original.rrn,
        authCode: original.authCode,
        date: null,
      },
      operator: '001',
    });
    assert.equal(hex(frameRequest(envelope, message, mac3des)), golden('05-void-request'));
  });

  it('refund of ¥5.00: 0220, 37 and 61.1–61.3 of the sale, no PIN, 63 operator', () => {
    const message = buildFinancialRequest(spec3des, {
      type: 'refund',
      identity: supermarket,
      trace: '000004',
      batchNo: '000001',
      amountMinor: 500n,
      card,
      pinBlock: null,
      original: { batchNo: '000001', trace: '000002', rrn: '261126000002', authCode: null, date: '1126' },
      operator: '001',
    });
    assert.equal(hex(frameRequest(envelope, message, mac3des)), golden('06-refund-request'));
  });

  it('reversal of the sale after no reply: the original fields, 39 = 98', () => {
    const pending = { fields: reversalFieldsOf(sale('000002')) };
    const message = buildReversal(spec3des, pending, '98');
    assert.equal(hex(frameRequest(envelope, message, mac3des)), golden('07-reversal-request'));
  });

  describe('settlement and batch upload from a journal', () => {
    const journal = new Journal([
      entry({ trace: '000002' }),
      entry({
        trace: '000003',
        type: 'void',
        original: { batchNo: '000001', trace: '000009', rrn: null, authCode: null, date: null },
      }),
      entry({ trace: '000009', status: 'voided', amountMinor: 9999n }),
      entry({ trace: '000004', type: 'refund', amountMinor: 500n }),
      entry({ trace: '000007', card: { pan: '6250001000000010', expiry: '3012', entry: 'swipe' } }),
      entry({ trace: '000008', type: 'preauth', amountMinor: 50000n }),
      entry({ trace: '000001', batchNo: '000000', amountMinor: 777n }),
    ]);

    it('totals: debits are open sales and completions, credits refunds; other batches and pre-auths left out', () => {
      const totals = journal.totals('000001');
      assert.deepEqual(totals.domestic, {
        debitAmountMinor: 2468n,
        debitCount: 2,
        creditAmountMinor: 500n,
        creditCount: 1,
        result: 0,
      });
      assert.equal(totals.foreign.debitCount, 0);
      const message = buildSettlement(spec3des, {
        identity: supermarket,
        trace: '000005',
        batchNo: '000001',
        totals,
        operator: '001',
      });
      assert.equal(hex(frameRequest(envelope, message, mac3des)), golden('08-settlement-request'));
    });

    it('batch upload details (0320 201) and the end (0320 202)', () => {
      const details = journal.uploadDetails('000001');
      assert.deepEqual(
        details.map((d) => d.trace),
        ['000002', '000007'],
      );
      const upload = buildBatchUpload(spec3des, {
        identity: supermarket,
        trace: '000006',
        batchNo: '000001',
        details,
      });
      assert.equal(hex(frameRequest(envelope, upload, mac3des)), golden('10-batch-upload-details'));
      const end = buildBatchEnd(spec3des, {
        identity: supermarket,
        trace: '000007',
        batchNo: '000001',
        count: 2,
      });
      assert.equal(hex(frameRequest(envelope, end, mac3des)), golden('11-batch-upload-end'));
    });

    it('foreign cards count on the foreign side and upload with their organization code', () => {
      const mixed = new Journal([
        entry({ trace: '000002', cardOrganization: 'VIS' }),
        entry({ trace: '000003' }),
      ]);
      const totals = mixed.totals('000001');
      assert.equal(totals.foreign.debitCount, 1);
      assert.equal(totals.domestic.debitCount, 1);
      assert.deepEqual(
        mixed.uploadDetails('000001').map((d) => d.cardOrganization),
        ['01', '00'],
      );
    });

    it('closing the batch keeps open pre-auths only', () => {
      const copy = new Journal(journal.entries.map((e) => ({ ...e })));
      assert.equal(copy.closeBatch(), 6);
      assert.deepEqual(
        copy.entries.map((e) => e.type),
        ['preauth'],
      );
    });
  });
});

describe('golden replies check out with the worked-example keys', () => {
  for (const name of ['04-sale-reply', '09-settlement-reply']) {
    it(`${name}: its MAC verifies over the bytes before field 64`, () => {
      const frame = parsePosFrame(Buffer.from(golden(name), 'hex').subarray(2));
      const reply = unpack(spec3des, frame.message);
      const data = Buffer.from(frame.message.subarray(0, frame.message.length - 8));
      assert.ok(verifyMac(data, reply.get(64)!, keys3des.mac));
    });
  }

  it('the settlement reply says unbalanced (2) for domestic cards', () => {
    const frame = parsePosFrame(Buffer.from(golden('09-settlement-reply'), 'hex').subarray(2));
    const totals = decodeSettlementTotals(unpack(spec3des, frame.message).get(48)!);
    assert.equal(totals.domestic.result, 2);
  });
});

describe('parseTpdu', () => {
  it('reads 10 hex digits starting with 60', () => {
    assert.deepEqual(parseTpdu('6000030000'), { destination: 3, source: 0 });
    assert.equal(parseTpdu('7000030000'), undefined);
    assert.equal(parseTpdu('60000300'), undefined);
  });
});
