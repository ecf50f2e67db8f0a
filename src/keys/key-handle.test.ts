import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { isTillpointError } from '../shared/errors.ts';
import { Secret } from '../shared/secret.ts';
import { requireCipher } from './ciphers.ts';
import { cmac } from './cmac.ts';
import { encryptData } from './data.ts';
import {
  generateKey,
  hasOddParity,
  importClearKey,
  isSingleLengthDes,
  type KeyAlgorithm,
  type KeyUsage,
  materialOf,
  setOddParity,
} from './key-handle.ts';
import { generateMac } from './mac.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');

function key(material: string, algorithm: KeyAlgorithm, usage: KeyUsage = 'data') {
  return importClearKey(hex(material), { algorithm, usage });
}

describe('check values (known answers)', () => {
  // [what, key, algorithm, usage, check value]
  const rows: [string, string, KeyAlgorithm, KeyUsage, string][] = [
    [
      'demo TMK, 3DES (terminal-protocol.md)',
      '0123456789ABCDEFFEDCBA9876543210',
      '3des-2key',
      'tmk',
      '08D7B4FB',
    ],
    ['demo TMK, SM4 (terminal-protocol.md)', '0123456789ABCDEFFEDCBA9876543210', 'sm4', 'tmk', '2677F46B'],
    ['worked-example PIN key, 3DES', '22222222222222223333333333333333', '3des-2key', 'pin', 'C5961E62'],
    ['worked-example PIN key, SM4', '22222222222222223333333333333333', 'sm4', 'pin', 'A3679FEA'],
    ['worked-example MAC key K‖K, 3DES', '44444444444444444444444444444444', '3des-2key', 'mac', 'E2F24340'],
    ['worked-example MAC key, SM4', '44444444444444445555555555555555', 'sm4', 'mac', 'CE974463'],
    // ANSI X9.24-1:2009 Annex A test BDK, which is also ISO/IEC 9797-1 Annex B's K‖K'.
    ['X9.24-1 test BDK as a KEK', '0123456789ABCDEFFEDCBA9876543210', '3des-2key', 'kek', '08D7B4FB'],
    // OpenSSL's DES ECB test vectors (crypto/des destest.c): key 0123456789ABCDEF encrypts
    // 0000000000000000 to D5D44FF720683D0D, so the KCV of that key (K‖K) is D5D44FF7.
    [
      'single DES 0123456789ABCDEF (OpenSSL destest)',
      '0123456789ABCDEF0123456789ABCDEF',
      '3des-2key',
      'mac',
      'D5D44FF7',
    ],
    // The 3-key form of the same: K1 = K2 = K3 cancels to single DES, so a 3-key key whose thirds
    // are (K, K', K) gives the 2-key check value.
    [
      '3-key with K1 = K3 is 2-key',
      '0123456789ABCDEFFEDCBA98765432100123456789ABCDEF',
      '3des-3key',
      'kek',
      '08D7B4FB',
    ],
  ];
  for (const [what, material, algorithm, usage, checkValue] of rows) {
    it(`${what} → ${checkValue}`, () => {
      assert.equal(key(material, algorithm, usage).checkValue, checkValue);
    });
  }

  it('the ANSI X9.24-1 Annex A IPEK 6AC292FAA1315B4D858AB3A3D7D5933A has the published KCV AF8C07', () => {
    // The IPEK derived from the test BDK for KSN FFFF9876543210E00000; terminal SDK samples print
    // its 3-byte check value AF8C07.
    const ipek = key('6AC292FAA1315B4D858AB3A3D7D5933A', '3des-2key', 'kek');
    assert.ok(ipek.checkValue.startsWith('AF8C07'));
  });

  it('SM4 reproduces the GB/T 32907-2016 known answer', () => {
    const sm4 = key('0123456789abcdeffedcba9876543210', 'sm4', 'data');
    assert.equal(
      encryptData(hex('0123456789abcdeffedcba9876543210'), sm4).toString('hex'),
      '681edf34d206965e86b3e94f536e4246',
    );
  });

  it('AES-256 check value is AES-CMAC over a zero block, first 4 bytes', () => {
    const material = hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
    const aes = importClearKey(material, { algorithm: 'aes-256', usage: 'kek' });
    const cipher = createCipheriv('aes-256-ecb', material, null).setAutoPadding(false);
    const expected = cmac((b) => cipher.update(b), 16, Buffer.alloc(16))
      .subarray(0, 4)
      .toString('hex')
      .toUpperCase();
    assert.equal(aes.checkValue, expected);
  });
});

describe('cmac', () => {
  // NIST SP 800-38B, appendix D.3 (AES-256) and RFC 4493 section 4 (AES-128).
  const rows: [string, string, string][] = [
    [
      '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4',
      '',
      '028962f61b7bf89efc6b551f4667d983',
    ],
    [
      '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4',
      '6bc1bee22e409f96e93d7e117393172a',
      '28a7023f452e8f82bd4bf28d8c37c35c',
    ],
    [
      '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4',
      '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411',
      'aaf3d8f1de5640c232f5b169b9c911e6',
    ],
    ['2b7e151628aed2a6abf7158809cf4f3c', '', 'bb1d6929e95937287fa37d129b756746'],
    [
      '2b7e151628aed2a6abf7158809cf4f3c',
      '6bc1bee22e409f96e93d7e117393172a',
      '070a16b46b4d4144f79bdd9dd04a287c',
    ],
  ];
  for (const [material, message, tag] of rows) {
    it(`AES-${material.length * 4} over ${message.length / 2} bytes → ${tag}`, () => {
      const name = material.length === 64 ? 'aes-256-ecb' : 'aes-128-ecb';
      const cipher = createCipheriv(name, hex(material), null).setAutoPadding(false);
      assert.equal(cmac((b) => cipher.update(b), 16, hex(message)).toString('hex'), tag);
    });
  }
});

describe('importClearKey', () => {
  const lengths: [KeyAlgorithm, number][] = [
    ['3des-2key', 16],
    ['3des-3key', 24],
    ['sm4', 16],
    ['aes-256', 32],
  ];
  for (const [algorithm, bytes] of lengths) {
    it(`refuses a ${algorithm} key that is not ${bytes} bytes, naming both lengths`, () => {
      assert.throws(
        () => importClearKey(Buffer.alloc(bytes - 8, 0x5a), { algorithm, usage: 'data' }, { param: 'tmk' }),
        (error: unknown) =>
          isTillpointError(error, 'TILLPOINT_ERR_KEY_LENGTH_INVALID') &&
          error.param === 'tmk' &&
          error.message.includes(`${bytes} bytes`) &&
          error.message.includes(`got ${bytes - 8} bytes`),
      );
    });
  }

  it('refuses an all-zero key', () => {
    assert.throws(
      () => importClearKey(Buffer.alloc(16), { algorithm: 'sm4', usage: 'pin' }),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_WEAK'),
    );
  });

  it('refuses single DES (equal halves) except as the profile MAC key', () => {
    const kk = hex('0123456789ABCDEF0123456789ABCDEF');
    assert.throws(
      () => importClearKey(kk, { algorithm: '3des-2key', usage: 'pin' }),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_WEAK') && /single DES/.test(error.message),
    );
    // Halves that differ only in parity bits are the same DES key.
    assert.throws(
      () => importClearKey(hex('0123456789ABCDEF0022446688AACCEE'), { algorithm: '3des-2key', usage: 'tmk' }),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_WEAK'),
    );
    const mac = importClearKey(kk, { algorithm: '3des-2key', usage: 'mac' });
    assert.ok(isSingleLengthDes(mac));
    assert.throws(
      () =>
        importClearKey(hex('0123456789ABCDEF0123456789ABCDEFFEDCBA9876543210'), {
          algorithm: '3des-3key',
          usage: 'mac',
        }),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_WEAK'),
    );
  });

  it('copies the material: zeroing the caller buffer does not change the key', () => {
    const material = hex('0123456789ABCDEFFEDCBA9876543210');
    const tmk = importClearKey(new Secret(material), { algorithm: '3des-2key', usage: 'tmk' });
    material.fill(0);
    assert.equal(tmk.checkValue, '08D7B4FB');
  });

  it('checks a stated check value of 6 or 8 digits, and refuses a wrong one', () => {
    const material = hex('0123456789ABCDEFFEDCBA9876543210');
    assert.equal(
      importClearKey(material, { algorithm: '3des-2key', usage: 'tmk' }, { checkValue: '08d7b4' }).checkValue,
      '08D7B4FB',
    );
    assert.throws(
      () =>
        importClearKey(
          material,
          { algorithm: '3des-2key', usage: 'tmk' },
          { checkValue: '08D7B4FC', param: 'tmk' },
        ),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH') &&
        error.message.includes('08D7B4FB') &&
        error.param === 'tmk',
    );
    assert.throws(
      () => importClearKey(material, { algorithm: '3des-2key', usage: 'tmk' }, { checkValue: 'xyz' }),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_VALIDATION'),
    );
  });

  it('never prints its material', () => {
    const material = '0123456789ABCDEFFEDCBA9876543210';
    const tmk = key(material, '3des-2key', 'tmk');
    for (const text of [String(tmk), inspect(tmk), JSON.stringify(tmk), inspect({ tmk }, { depth: 5 })]) {
      assert.ok(!text.toUpperCase().includes(material.slice(0, 16)), text);
      assert.ok(!text.includes('0123'), text);
    }
    assert.deepEqual(JSON.parse(JSON.stringify(tmk)), {
      algorithm: '3des-2key',
      usage: 'tmk',
      checkValue: '08D7B4FB',
    });
  });
});

describe('generateKey', () => {
  it('gives DES keys odd parity and distinct halves, and random material each time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const tmk = generateKey({ algorithm: '3des-2key', usage: 'tmk' });
      const material = materialOf(tmk);
      assert.ok(hasOddParity(material));
      assert.ok(!isSingleLengthDes(tmk));
      seen.add(material.toString('hex'));
      const three = materialOf(generateKey({ algorithm: '3des-3key', usage: 'kek' }));
      assert.ok(hasOddParity(three));
    }
    assert.equal(seen.size, 50);
  });

  it('makes the single-length MAC key of the 3DES profile only when asked, and only for MAC keys', () => {
    const mac = generateKey({ algorithm: '3des-2key', usage: 'mac' }, { singleLengthDes: true });
    assert.ok(isSingleLengthDes(mac));
    assert.ok(hasOddParity(materialOf(mac)));
    assert.throws(
      () => generateKey({ algorithm: '3des-2key', usage: 'pin' }, { singleLengthDes: true }),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH'),
    );
    assert.throws(
      () => generateKey({ algorithm: 'sm4', usage: 'mac' }, { singleLengthDes: true }),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH'),
    );
  });

  it('makes SM4 and AES-256 keys of the right length', () => {
    assert.equal(generateKey({ algorithm: 'sm4', usage: 'pin' }).lengthBytes, 16);
    assert.equal(materialOf(generateKey({ algorithm: 'aes-256', usage: 'kek' })).length, 32);
  });
});

describe('parity', () => {
  it('setOddParity leaves every byte with an odd number of ones and changes only the low bit', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 24 }), (bytes) => {
        const copy = new Uint8Array(bytes);
        setOddParity(copy);
        assert.ok(hasOddParity(copy));
        for (let i = 0; i < bytes.length; i++) assert.equal(copy[i]! & 0xfe, bytes[i]! & 0xfe);
      }),
    );
  });
});

describe('destroy', () => {
  it('zeroes the material and refuses any later use with a typed error', () => {
    const mac = key('44444444444444444444444444444444', '3des-2key', 'mac');
    generateMac(Buffer.from('warm the cipher cache'), mac);
    const material = materialOf(mac);
    mac.destroy();
    assert.ok(mac.destroyed);
    assert.ok(material.every((byte) => byte === 0));
    assert.throws(
      () => generateMac(Buffer.from('x'), mac),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_DESTROYED'),
    );
    assert.throws(
      () => mac.checkValue,
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_DESTROYED'),
    );
    assert.equal(String(mac), 'KeyHandle(3des-2key mac, destroyed)');
    mac.destroy();
  });

  it('works with `using` through Symbol.dispose', () => {
    const tmk = key('0123456789ABCDEFFEDCBA9876543210', '3des-2key', 'tmk');
    tmk[Symbol.dispose]();
    assert.ok(tmk.destroyed);
  });
});

describe('ciphers', () => {
  it('names a missing cipher in a typed error', () => {
    assert.throws(
      () => requireCipher('sm4-xts-nonexistent'),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_CIPHER_UNAVAILABLE') &&
        error.message.includes('sm4-xts-nonexistent'),
    );
  });

  it('has every cipher the module uses in this Node.js build', () => {
    for (const name of [
      'des-ede-ecb',
      'des-ede3-ecb',
      'des-ede-cbc',
      'des-ede3-cbc',
      'sm4-ecb',
      'sm4-cbc',
      'aes-256-ecb',
      'aes-256-gcm',
    ]) {
      requireCipher(name);
    }
  });
});
