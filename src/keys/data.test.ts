import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isTillpointError } from '../shared/errors.ts';
import { decryptData, decryptTrackData, encryptData, encryptTrackData } from './data.ts';
import { generateKey, importClearKey } from './key-handle.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');

// Track 2 of the worked example as it sits in field 35 (33 digits, packed, 0 pad nibble):
// 6222021000000013 D 3012 201 000000000 0
const TRACK2 = hex('6222021000000013D30122010000000000');

describe('encryptTrackData (UnionPay practice: the block before the last byte)', () => {
  it('3DES: encrypts bytes 8..15 of a 17-byte track and leaves the rest in clear', () => {
    const material = hex('66666666666666667777777777777777');
    const trackKey = importClearKey(material, { algorithm: '3des-2key', usage: 'track' });
    const encrypted = encryptTrackData(TRACK2, trackKey);
    const expectedBlock = createCipheriv('des-ede-ecb', material, null)
      .setAutoPadding(false)
      .update(TRACK2.subarray(8, 16));
    assert.equal(encrypted.length, TRACK2.length);
    assert.deepEqual(encrypted.subarray(0, 8), TRACK2.subarray(0, 8));
    assert.deepEqual(encrypted.subarray(8, 16), expectedBlock);
    assert.equal(encrypted[16], TRACK2[16]);
    assert.deepEqual(decryptTrackData(encrypted, trackKey), TRACK2);
  });

  it('SM4: encrypts the 16 bytes before the last byte', () => {
    const material = hex('66666666666666667777777777777777');
    const trackKey = importClearKey(material, { algorithm: 'sm4', usage: 'track' });
    const encrypted = encryptTrackData(TRACK2, trackKey);
    const expectedBlock = createCipheriv('sm4-ecb', material, null)
      .setAutoPadding(false)
      .update(TRACK2.subarray(0, 16));
    assert.deepEqual(encrypted.subarray(0, 16), expectedBlock);
    assert.equal(encrypted[16], TRACK2[16]);
    assert.deepEqual(decryptTrackData(encrypted, trackKey), TRACK2);
  });

  it('round-trips any track long enough, leaving the input untouched', () => {
    const keys = [
      generateKey({ algorithm: '3des-2key', usage: 'track' }),
      generateKey({ algorithm: 'sm4', usage: 'track' }),
    ];
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 17, maxLength: 60 }),
        fc.constantFrom(...keys),
        (bytes, trackKey) => {
          const track = Buffer.from(bytes);
          const copy = Buffer.from(track);
          assert.deepEqual(decryptTrackData(encryptTrackData(track, trackKey), trackKey), track);
          assert.deepEqual(track, copy);
        },
      ),
    );
  });

  it('refuses a track shorter than a block plus one byte, and a key that is not a track key', () => {
    const sm4 = generateKey({ algorithm: 'sm4', usage: 'track' });
    assert.throws(
      () => encryptTrackData(TRACK2.subarray(0, 16), sm4),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_CIPHER_DATA_LENGTH_INVALID') && error.message.includes('17'),
    );
    const pinKey = generateKey({ algorithm: '3des-2key', usage: 'pin' });
    assert.throws(
      () => encryptTrackData(TRACK2, pinKey),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_USAGE_MISMATCH'),
    );
  });
});

describe('encryptData and decryptData (ECB, block-aligned)', () => {
  it('round-trips under 3DES and SM4 data keys', () => {
    for (const algorithm of ['3des-2key', '3des-3key', 'sm4'] as const) {
      const dataKey = generateKey({ algorithm, usage: 'data' });
      const data = Buffer.alloc(32, 0xa5);
      const encrypted = encryptData(data, dataKey);
      assert.notDeepEqual(encrypted, data);
      assert.deepEqual(decryptData(encrypted, dataKey), data);
    }
  });

  it('refuses data that is not whole blocks, and AES or non-data keys', () => {
    const dataKey = generateKey({ algorithm: 'sm4', usage: 'data' });
    assert.throws(
      () => encryptData(Buffer.alloc(8), dataKey),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_CIPHER_DATA_LENGTH_INVALID'),
    );
    assert.throws(
      () => decryptData(Buffer.alloc(0), dataKey),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_CIPHER_DATA_LENGTH_INVALID'),
    );
    assert.throws(
      () => encryptData(Buffer.alloc(16), generateKey({ algorithm: 'aes-256', usage: 'data' })),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH'),
    );
    assert.throws(
      () => encryptData(Buffer.alloc(16), generateKey({ algorithm: 'sm4', usage: 'zpk' })),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_USAGE_MISMATCH'),
    );
  });
});
