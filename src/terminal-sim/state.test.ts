import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { isTerminalError } from './errors.ts';
import { Journal } from './journal.ts';
import {
  applyStateOptions,
  defaultStateDir,
  FileStateStore,
  formatTrace,
  newTerminalState,
  nextBatchNo,
  nextTrace,
  stateFileOf,
  stateFromJson,
  stateToJson,
} from './state.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'tillpoint-terminal-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function busyState() {
  const state = newTerminalState('10000001');
  state.trace = 41;
  state.operator = '001';
  state.workingKeys = {
    keySet: '003',
    field62Hex: 'B4ABA2BB791C50E75ADC39F46164960EC5961E6217B9F1B1A1B2D33C0000000000000000E2F24340',
    pinCheckValue: 'C5961E62',
    macCheckValue: 'E2F24340',
    trackCheckValue: null,
    signedInAt: '2026-11-26T01:30:15.000Z',
  };
  state.pendingReversal = {
    type: 'sale',
    fields: { '11': '000041', '4': '000000001234' },
    reason: 'A0',
    attempts: 2,
    createdAt: '2026-11-26T01:31:20.000Z',
  };
  state.journal = new Journal([
    {
      type: 'sale',
      batchNo: '000001',
      trace: '000040',
      amountMinor: 123_456_789_012_345n,
      rrn: '261126000040',
      authCode: '654321',
      date: '1126',
      time: '093120',
      year: 2026,
      card: { pan: '6222021000000013', expiry: '3012', entry: 'swipe' },
      cardOrganization: 'CUP',
      operator: '001',
      original: null,
      status: 'open',
      refundedMinor: 500n,
    },
  ]);
  return state;
}

describe('state', () => {
  it('a demo terminal gets its merchant, algorithm and the demo TMK', () => {
    const sm4 = newTerminalState('10000002');
    assert.equal(sm4.merchantId, '102314054110001');
    assert.equal(sm4.algorithm, 'sm4');
    assert.equal(sm4.tmkHex, '0123456789ABCDEFFEDCBA9876543210');
    assert.equal(newTerminalState('20000001').merchantId, '102314065130001');
    assert.equal(newTerminalState('30000001').merchantId, '102314054990001');
    assert.throws(
      () => newTerminalState('90000001'),
      (error) => isTerminalError(error, 'invalid_input'),
    );
    assert.equal(newTerminalState('90000001', { merchantId: '102314059990001' }).algorithm, '3des');
  });

  it('a new TMK, algorithm or merchant drops the working keys', () => {
    const state = busyState();
    assert.equal(applyStateOptions(state, { tmkHex: '0123456789abcdeffedcba9876543210' }), false);
    assert.ok(state.workingKeys !== null);
    assert.equal(applyStateOptions(state, { algorithm: 'sm4' }), true);
    assert.equal(state.workingKeys, null);
    assert.throws(
      () => applyStateOptions(state, { tmkHex: 'ABC' }),
      (error) => isTerminalError(error, 'invalid_input'),
    );
  });

  it('trace 000001–999999 wraps; so does the batch', () => {
    assert.equal(nextTrace(0), 1);
    assert.equal(nextTrace(999_998), 999_999);
    assert.equal(nextTrace(999_999), 1);
    assert.equal(formatTrace(42), '000042');
    assert.equal(nextBatchNo('000001'), '000002');
    assert.equal(nextBatchNo('999999'), '000001');
  });

  it('round-trips through its file, mode 0600, with the simulator-state comment first', () => {
    const store = new FileStateStore(stateFileOf(path.join(dir, 'terminals'), '10000001'));
    assert.equal(store.load(), undefined);
    const state = busyState();
    store.save(state);
    const text = readFileSync(store.file, 'utf8');
    assert.match(text, /^\{\n {2}"_comment": "Tillpoint terminal simulator state of TEST terminal 10000001/);
    assert.match(text, /never put a real terminal's keys in this file/);
    assert.match(text, /"amountMinor": "123456789012345"/);
    assert.equal(statSync(store.file).mode & 0o777, 0o600);
    const loaded = store.load()!;
    assert.equal(stateToJson(loaded), text);
    assert.equal(loaded.journal.get('000001', '000040')?.amountMinor, 123_456_789_012_345n);
    assert.equal(loaded.pendingReversal?.reason, 'A0');
  });

  it('a file that is not a state is one clear error', () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, '{"format":"tillpoint-terminal-sim/1","terminalId":"1"}');
    assert.throws(
      () => new FileStateStore(file).load(),
      (error) =>
        isTerminalError(error, 'state_invalid') &&
        /bad\.json is not a terminal simulator state file at/.test(error.message),
    );
    assert.throws(() => stateFromJson('{', 'x'), /x is not JSON/);
  });

  it('lives under $TILLPOINT_DATA_DIR/terminals, else ./data/terminals', () => {
    assert.equal(defaultStateDir({ TILLPOINT_DATA_DIR: '/srv/tp' }), '/srv/tp/terminals');
    assert.equal(defaultStateDir({}), path.resolve('data/terminals'));
    assert.throws(
      () => stateFileOf(dir, '../etc'),
      (error) => isTerminalError(error, 'invalid_input'),
    );
  });
});
