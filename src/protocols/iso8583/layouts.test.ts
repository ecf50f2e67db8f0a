import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeBatchEnd,
  decodeBatchUploadDetails,
  decodeSettlementTotals,
  encodeBatchEnd,
  encodeBatchUploadDetails,
  encodeSettlementTotals,
  Message,
  type SettlementTotals,
  tillpointPosV1,
} from './index.ts';

describe('field 48: settlement totals', () => {
  const totals: SettlementTotals = {
    domestic: { debitAmountMinor: 2468n, debitCount: 2, creditAmountMinor: 500n, creditCount: 1, result: 0 },
    foreign: { debitAmountMinor: 0n, debitCount: 0, creditAmountMinor: 0n, creditCount: 0, result: 0 },
  };
  const text = '00000000246800200000000050000100000000000000000000000000000000';

  it('encodes 62 digits and decodes them back', () => {
    assert.equal(encodeSettlementTotals(totals), text);
    assert.deepEqual(decodeSettlementTotals(text), totals);
  });

  it('agrees with the subfields 48.1–48.10 of the spec', () => {
    const message = new Message(tillpointPosV1, '0510').set(48, text);
    assert.equal(message.get('48.1'), '000000002468');
    assert.equal(message.get('48.2'), '002');
    assert.equal(message.get('48.5'), '0');
    message.set('48.5', '2');
    assert.equal(decodeSettlementTotals(message.get(48)!).domestic.result, 2);
  });

  it('refuses values that do not fit and text of another length', () => {
    assert.throws(
      () => encodeSettlementTotals({ ...totals, domestic: { ...totals.domestic, debitCount: 1000 } }),
      { name: 'Iso8583Error', reason: 'bad_layout', field: 48 },
    );
    assert.throws(
      () => encodeSettlementTotals({ ...totals, foreign: { ...totals.foreign, debitAmountMinor: -1n } }),
      {
        reason: 'bad_layout',
      },
    );
    assert.throws(() => decodeSettlementTotals(text.slice(1)), { reason: 'bad_layout' });
    assert.throws(() => decodeSettlementTotals(`${text.slice(1)}x`), { reason: 'bad_layout' });
  });
});

describe('field 48: batch upload', () => {
  const details = [
    { cardOrganization: '00', trace: '000002', panZeroPadded: '62220210000000130000', amountMinor: 1234n },
    { cardOrganization: '00', trace: '000007', panZeroPadded: '62500010000000100000', amountMinor: 1234n },
  ];

  it('encodes count + details (PAN padded with zeros to 20) and decodes them back', () => {
    const text = encodeBatchUploadDetails([
      { ...details[0]!, panZeroPadded: '6222021000000013' },
      details[1]!,
    ]);
    assert.equal(text.length, 82);
    assert.equal(text.slice(0, 2), '02');
    assert.deepEqual(decodeBatchUploadDetails(text), details);
  });

  it('refuses 0 or 9 details and text of another shape', () => {
    assert.throws(() => encodeBatchUploadDetails([]), { reason: 'bad_layout' });
    assert.throws(() => encodeBatchUploadDetails(Array(9).fill(details[0])), { reason: 'bad_layout' });
    assert.throws(() => encodeBatchUploadDetails([{ ...details[0]!, trace: '2' }]), { reason: 'bad_layout' });
    assert.throws(() => decodeBatchUploadDetails('01'), { reason: 'bad_layout' });
    assert.throws(() => decodeBatchUploadDetails(`03${'0'.repeat(80)}`), { reason: 'bad_layout' });
  });

  it('encodes and decodes the batch end (total count n4)', () => {
    assert.equal(encodeBatchEnd(2), '0002');
    assert.equal(decodeBatchEnd('0002'), 2);
    assert.throws(() => encodeBatchEnd(10000), { reason: 'bad_layout' });
    assert.throws(() => decodeBatchEnd('002'), { reason: 'bad_layout' });
  });
});
