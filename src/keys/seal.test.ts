import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isTillpointError } from '../shared/errors.ts';
import { generateMasterKey, seal } from '../shared/secrets.ts';
import { generateKey, KEY_ALGORITHMS, type KeyUsage, materialOf } from './key-handle.ts';
import { openSealedKey, sealedKeyAssociatedData, sealKey } from './seal.ts';

const isSealedInvalid = (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_SEALED_DATA_INVALID');

describe('sealKey and openSealedKey', () => {
  const masterKey = generateMasterKey();

  it('opens a sealed key of every algorithm into the same key, with its check value checked', () => {
    const usages: KeyUsage[] = ['tmk', 'zpk', 'kek', 'pvk'];
    fc.assert(
      fc.property(fc.constantFrom(...KEY_ALGORITHMS), fc.constantFrom(...usages), (algorithm, usage) => {
        const key = generateKey({ algorithm, usage });
        const sealed = sealKey(key, 'key-1', masterKey);
        const opened = openSealedKey(
          sealed,
          { keyId: 'key-1', usage, algorithm, checkValue: key.checkValue },
          masterKey,
        );
        assert.deepEqual(materialOf(opened), materialOf(key));
        assert.equal(opened.usage, usage);
        assert.ok(!sealed.includes(materialOf(key)));
      }),
      { numRuns: 20 },
    );
  });

  it('does not open under another key id, usage, algorithm or master key (a row copied or relabelled)', () => {
    const tmk = generateKey({ algorithm: 'sm4', usage: 'tmk' });
    const sealed = sealKey(tmk, 'key-1', masterKey);
    assert.throws(
      () => openSealedKey(sealed, { keyId: 'key-2', usage: 'tmk', algorithm: 'sm4' }, masterKey),
      isSealedInvalid,
    );
    assert.throws(
      () => openSealedKey(sealed, { keyId: 'key-1', usage: 'zmk', algorithm: 'sm4' }, masterKey),
      isSealedInvalid,
    );
    assert.throws(
      () => openSealedKey(sealed, { keyId: 'key-1', usage: 'tmk', algorithm: '3des-2key' }, masterKey),
      isSealedInvalid,
    );
    assert.throws(
      () => openSealedKey(sealed, { keyId: 'key-1', usage: 'tmk', algorithm: 'sm4' }, generateMasterKey()),
      isSealedInvalid,
    );
  });

  it('refuses a stored check value that does not match, and a sealed value of the wrong length', () => {
    const tmk = generateKey({ algorithm: 'sm4', usage: 'tmk' });
    const sealed = sealKey(tmk, 'key-1', masterKey);
    assert.throws(
      () =>
        openSealedKey(
          sealed,
          { keyId: 'key-1', usage: 'tmk', algorithm: 'sm4', checkValue: '00000000' },
          masterKey,
        ),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH'),
    );
    const context = { keyId: 'key-9', usage: 'tmk', algorithm: 'sm4' } as const;
    const short = seal(Buffer.alloc(8, 1), sealedKeyAssociatedData(context), masterKey);
    assert.throws(() => openSealedKey(short, context, masterKey), isSealedInvalid);
  });

  it('binds id, usage and algorithm in an unambiguous associated data', () => {
    assert.equal(
      sealedKeyAssociatedData({ keyId: 'k', usage: 'pin', algorithm: 'sm4' }).toString('utf8'),
      'tillpoint-key-v1\0k\0pin\0sm4',
    );
    for (const keyId of ['', 'a\0b']) {
      assert.throws(
        () => sealedKeyAssociatedData({ keyId, usage: 'pin', algorithm: 'sm4' }),
        (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_VALIDATION'),
      );
    }
  });
});
