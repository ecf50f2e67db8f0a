import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTillpointError } from '../shared/errors.ts';
import { generateKey, importClearKey, type KeyAlgorithm, type KeyUsage, materialOf } from './key-handle.ts';
import { exportKeyUnderKek, importKeyUnderKek } from './wrap.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');
const key = (material: string, algorithm: KeyAlgorithm, usage: KeyUsage) =>
  importClearKey(hex(material), { algorithm, usage });

describe('exportKeyUnderKek and importKeyUnderKek', () => {
  const tmk = key('0123456789ABCDEFFEDCBA9876543210', '3des-2key', 'tmk');
  const tmkSm4 = key('0123456789ABCDEFFEDCBA9876543210', 'sm4', 'tmk');

  it('encrypts a PIN key under the TMK in ECB, as field 62 does (known answers)', () => {
    const pin3des = exportKeyUnderKek(key('22222222222222223333333333333333', '3des-2key', 'pin'), tmk);
    assert.equal(pin3des.keyUnderKek.toString('hex').toUpperCase(), 'B4ABA2BB791C50E75ADC39F46164960E');
    assert.equal(pin3des.checkValue, 'C5961E62');
    const pinSm4 = exportKeyUnderKek(key('22222222222222223333333333333333', 'sm4', 'pin'), tmkSm4);
    assert.equal(pinSm4.keyUnderKek.toString('hex').toUpperCase(), '8304408321B9AC205F971EA5DC15305C');
    assert.equal(pinSm4.checkValue, 'A3679FEA');
  });

  it('round-trips every wrappable pair and checks the check value on import', () => {
    const pairs: [KeyAlgorithm, KeyUsage, KeyAlgorithm, KeyUsage][] = [
      ['3des-2key', 'tmk', '3des-2key', 'pin'],
      ['3des-3key', 'tmk', '3des-2key', 'track'],
      ['sm4', 'tmk', 'sm4', 'mac'],
      ['3des-2key', 'zmk', '3des-2key', 'zpk'],
      ['sm4', 'zmk', '3des-2key', 'zpk'],
      ['3des-3key', 'kek', '3des-3key', 'tmk'],
      ['sm4', 'kek', 'sm4', 'tmk'],
    ];
    for (const [kekAlgorithm, kekUsage, algorithm, usage] of pairs) {
      const kek = generateKey({ algorithm: kekAlgorithm, usage: kekUsage });
      const original = generateKey({ algorithm, usage });
      const wrapped = exportKeyUnderKek(original, kek);
      assert.notDeepEqual(wrapped.keyUnderKek, materialOf(original));
      const imported = importKeyUnderKek(wrapped.keyUnderKek, kek, {
        algorithm,
        usage,
        checkValue: wrapped.checkValue,
      });
      assert.deepEqual(materialOf(imported), materialOf(original));
    }
  });

  it('refuses an import whose check value does not match (wrong KEK or corrupted key)', () => {
    const wrapped = exportKeyUnderKek(key('22222222222222223333333333333333', '3des-2key', 'pin'), tmk);
    const otherTmk = key('00112233445566778899AABBCCDDEEFF', '3des-2key', 'tmk');
    assert.throws(
      () =>
        importKeyUnderKek(wrapped.keyUnderKek, otherTmk, {
          algorithm: '3des-2key',
          usage: 'pin',
          checkValue: 'C5961E62',
        }),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH'),
    );
    assert.throws(
      () =>
        importKeyUnderKek(wrapped.keyUnderKek.subarray(0, 8), tmk, {
          algorithm: '3des-2key',
          usage: 'pin',
          checkValue: 'C5961E62',
        }),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_LENGTH_INVALID'),
    );
  });

  it('keeps each KEK to the usages it may wrap', () => {
    const zpk = generateKey({ algorithm: '3des-2key', usage: 'zpk' });
    assert.throws(
      () => exportKeyUnderKek(zpk, tmk),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_USAGE_MISMATCH') && error.message.includes('zpk'),
    );
    const pinKey = generateKey({ algorithm: '3des-2key', usage: 'pin' });
    assert.throws(
      () => exportKeyUnderKek(tmk, pinKey),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_USAGE_MISMATCH') && error.param === 'kek',
    );
  });

  it('refuses a KEK weaker than the key, AES KEKs (they seal, see seal.ts) and misaligned lengths', () => {
    const sm4Pin = generateKey({ algorithm: 'sm4', usage: 'pin' });
    assert.throws(
      () => exportKeyUnderKek(sm4Pin, tmk),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH') && /stronger/.test(error.message),
    );
    const aesKek = generateKey({ algorithm: 'aes-256', usage: 'kek' });
    assert.throws(
      () => exportKeyUnderKek(generateKey({ algorithm: 'sm4', usage: 'tmk' }), aesKek),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH'),
    );
    const sm4Kek = generateKey({ algorithm: 'sm4', usage: 'kek' });
    assert.throws(
      () => exportKeyUnderKek(generateKey({ algorithm: '3des-3key', usage: 'tmk' }), sm4Kek),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH') && /blocks/.test(error.message),
    );
  });
});
