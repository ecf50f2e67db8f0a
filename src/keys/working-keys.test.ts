import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTillpointError } from '../shared/errors.ts';
import {
  generateKey,
  importClearKey,
  isSingleLengthDes,
  type KeyAlgorithm,
  type KeyUsage,
  materialOf,
} from './key-handle.ts';
import {
  buildWorkingKeysField62,
  generateWorkingKeys,
  parseWorkingKeysField62,
  workingKeySetFor,
} from './working-keys.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');
const key = (material: string, algorithm: KeyAlgorithm, usage: KeyUsage) =>
  importClearKey(hex(material), { algorithm, usage });

// docs/terminal-protocol.md, the two worked examples.
const TMK = '0123456789ABCDEFFEDCBA9876543210';
const FIELD62_3DES = 'B4ABA2BB791C50E75ADC39F46164960E C5961E62 17B9F1B1A1B2D33C 0000000000000000 E2F24340';
const FIELD62_SM4 = '8304408321B9AC205F971EA5DC15305C A3679FEA E7A0AB79FF5441D4B73D79C473626F75 CE974463';

describe('field 62 (known answers)', () => {
  it('3DES: builds the worked example from the TMK and the clear PIN and MAC keys', () => {
    const field62 = buildWorkingKeysField62(
      {
        pin: key('22222222222222223333333333333333', '3des-2key', 'pin'),
        mac: key('44444444444444444444444444444444', '3des-2key', 'mac'),
      },
      key(TMK, '3des-2key', 'tmk'),
    );
    assert.equal(field62.toString('hex').toUpperCase(), FIELD62_3DES.replace(/ /g, ''));
  });

  it('SM4: builds the worked example', () => {
    const field62 = buildWorkingKeysField62(
      {
        pin: key('22222222222222223333333333333333', 'sm4', 'pin'),
        mac: key('44444444444444445555555555555555', 'sm4', 'mac'),
      },
      key(TMK, 'sm4', 'tmk'),
    );
    assert.equal(field62.toString('hex').toUpperCase(), FIELD62_SM4.replace(/ /g, ''));
  });

  it('3DES: the terminal parses the worked example back into its clear keys', () => {
    const keys = parseWorkingKeysField62(hex(FIELD62_3DES), key(TMK, '3des-2key', 'tmk'));
    assert.equal(materialOf(keys.pin).toString('hex').toUpperCase(), '22222222222222223333333333333333');
    assert.equal(materialOf(keys.mac).toString('hex').toUpperCase(), '44444444444444444444444444444444');
    assert.equal(keys.pin.usage, 'pin');
    assert.equal(keys.mac.usage, 'mac');
    assert.ok(isSingleLengthDes(keys.mac));
    assert.equal(keys.track, undefined);
  });

  it('SM4: the terminal parses the worked example back into its clear keys', () => {
    const keys = parseWorkingKeysField62(hex(FIELD62_SM4), key(TMK, 'sm4', 'tmk'));
    assert.equal(keys.pin.algorithm, 'sm4');
    assert.equal(materialOf(keys.mac).toString('hex').toUpperCase(), '44444444444444445555555555555555');
  });
});

describe('generateWorkingKeys', () => {
  const tmks: [string, KeyAlgorithm][] = [
    ['3DES 2-key TMK', '3des-2key'],
    ['3DES 3-key TMK', '3des-3key'],
    ['SM4 TMK', 'sm4'],
  ];
  for (const [name, algorithm] of tmks) {
    it(`${name}: fresh keys of the terminal's algorithm, 40 or 60 bytes, that the terminal parses back`, () => {
      const tmk = generateKey({ algorithm, usage: 'tmk' });
      const working = algorithm === 'sm4' ? 'sm4' : '3des-2key';
      for (const [keySet, length] of [
        ['pin+mac', 40],
        ['pin+mac+track', 60],
      ] as const) {
        const { keys, field62 } = generateWorkingKeys(keySet, tmk);
        assert.equal(field62.length, length);
        assert.equal(keys.pin.algorithm, working);
        assert.equal(keys.mac.algorithm, working);
        assert.equal(keys.track?.algorithm, keySet === 'pin+mac' ? undefined : working);
        assert.equal(isSingleLengthDes(keys.mac), working === '3des-2key');
        assert.ok(!isSingleLengthDes(keys.pin));
        const parsed = parseWorkingKeysField62(field62, tmk);
        assert.equal(parsed.pin.checkValue, keys.pin.checkValue);
        assert.equal(parsed.mac.checkValue, keys.mac.checkValue);
        assert.equal(parsed.track?.checkValue, keys.track?.checkValue);
      }
    });
  }

  it('never gives the same keys twice', () => {
    const tmk = generateKey({ algorithm: 'sm4', usage: 'tmk' });
    const a = generateWorkingKeys('pin+mac', tmk);
    const b = generateWorkingKeys('pin+mac', tmk);
    assert.notDeepEqual(a.field62, b.field62);
  });
});

describe('field 62 errors', () => {
  const tmk = key(TMK, '3des-2key', 'tmk');

  it('refuses 60.3 001 (single-length keys) and unknown key sets; 003 and 004 are the two offered', () => {
    assert.equal(workingKeySetFor('003'), 'pin+mac');
    assert.equal(workingKeySetFor('004'), 'pin+mac+track');
    for (const code of ['001', '002', '', '0003']) {
      assert.throws(
        () => workingKeySetFor(code),
        (error: unknown) =>
          isTillpointError(error, 'TILLPOINT_ERR_KEY_SET_UNSUPPORTED') && error.param === 'field 60.3',
      );
    }
    assert.throws(() => workingKeySetFor('001'), /single DES is not offered/);
  });

  it('refuses a field 62 under another TMK, naming the key whose check value fails', () => {
    const otherTmk = key('00112233445566778899AABBCCDDEEFF', '3des-2key', 'tmk');
    assert.throws(
      () => parseWorkingKeysField62(hex(FIELD62_3DES), otherTmk),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH') &&
        error.message.includes('PIN key'),
    );
    const corrupted = hex(FIELD62_3DES);
    corrupted[39]! ^= 1;
    assert.throws(
      () => parseWorkingKeysField62(corrupted, tmk),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH') &&
        error.message.includes('MAC key'),
    );
  });

  it('refuses a field 62 of the wrong length or without the MAC key padding', () => {
    assert.throws(
      () => parseWorkingKeysField62(hex(FIELD62_3DES).subarray(0, 39), tmk),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_BLOCK_INVALID') && error.message.includes('got 39'),
    );
    const padded = hex(FIELD62_3DES);
    padded[30] = 1;
    assert.throws(
      () => parseWorkingKeysField62(padded, tmk),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_BLOCK_INVALID'),
    );
  });

  it('refuses keys of the wrong usage or algorithm, and a double-length 3DES MAC key', () => {
    const pin = key('22222222222222223333333333333333', '3des-2key', 'pin');
    const mac = key('44444444444444444444444444444444', '3des-2key', 'mac');
    assert.throws(
      () => buildWorkingKeysField62({ pin: mac, mac }, tmk),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_USAGE_MISMATCH') && error.param === 'pin',
    );
    assert.throws(
      () => buildWorkingKeysField62({ pin: key('22222222222222223333333333333333', 'sm4', 'pin'), mac }, tmk),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH'),
    );
    assert.throws(
      () =>
        buildWorkingKeysField62(
          { pin, mac: key('44444444444444445555555555555555', '3des-2key', 'mac') },
          tmk,
        ),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_LENGTH_INVALID') && error.param === 'mac',
    );
    assert.throws(
      () => buildWorkingKeysField62({ pin, mac }, key(TMK, '3des-2key', 'kek')),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_USAGE_MISMATCH') && error.param === 'tmk',
    );
  });
});
