import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isTillpointError } from '../shared/errors.ts';
import { Secret } from '../shared/secret.ts';
import { encryptData } from './data.ts';
import { generateKey, importClearKey, type KeyAlgorithm, type KeyUsage } from './key-handle.ts';
import {
  buildPinBlock,
  encryptPin,
  encryptPinBlock,
  parsePinBlock,
  pinVerificationValue,
  translatePinBlock,
  translatePinBlocks,
  verifyPin,
} from './pin.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');
const key = (material: string, algorithm: KeyAlgorithm, usage: KeyUsage) =>
  importClearKey(hex(material), { algorithm, usage });
const pin = (digits: string) => new Secret(digits);
const isPinBlockInvalid = (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_PIN_BLOCK_INVALID');

const PAN = '6222021000000013';
const PIN_KEY = '22222222222222223333333333333333';

describe('ISO 9564 format 0 (known answers)', () => {
  // [source, PIN, PAN, clear block]
  const rows: [string, string, string, string][] = [
    // EFTlab's PIN block reference and Wikipedia "ISO 9564": PIN 1234, PAN 43219876543210987.
    ['EFTlab / Wikipedia ISO 9564', '1234', '43219876543210987', '0412AC89ABCDEF67'],
    // The second EFTlab example, used by several public PIN block libraries.
    ['EFTlab, second PAN', '1234', '5432101234567891', '041215FEDCBA9876'],
    // terminal-protocol.md worked example, before encryption.
    ['worked example', '123456', PAN, '06121477FFFFFFFE'],
  ];
  for (const [source, digits, pan, block] of rows) {
    it(`${source}: PIN ${digits}, PAN ${pan} → ${block}`, () => {
      const clear = buildPinBlock(pin(digits), pan);
      assert.equal(clear.expose().toString('hex').toUpperCase(), block);
      assert.equal(parsePinBlock(hex(block), pan).expose(), digits);
    });
  }

  it('worked example under the 3DES PIN key → 503EFE85F255C14A', () => {
    const pinKey = key(PIN_KEY, '3des-2key', 'pin');
    assert.equal(encryptPin(pin('123456'), PAN, pinKey).toString('hex').toUpperCase(), '503EFE85F255C14A');
  });

  it('worked example under the SM4 PIN key (block ‖ FF×8) → 0039C2191E0C7EEDE82E38E7B62D439A', () => {
    const pinKey = key(PIN_KEY, 'sm4', 'pin');
    assert.equal(
      encryptPin(pin('123456'), PAN, pinKey).toString('hex').toUpperCase(),
      '0039C2191E0C7EEDE82E38E7B62D439A',
    );
  });

  it('uses the 12 rightmost PAN digits excluding the check digit, whatever the PAN length', () => {
    const a = buildPinBlock(pin('1234'), '4111111111111').expose();
    const b = buildPinBlock(pin('1234'), '9999994111111111111'.slice(-19)).expose();
    // PAN field 0000 411111111111: the check digit (the last 1) is left out.
    assert.equal(a.toString('hex').toUpperCase(), '041275EEEEEEEEEE');
    assert.equal(b.toString('hex').toUpperCase(), '041275EEEEEEEEEE');
  });
});

describe('buildPinBlock and parsePinBlock', () => {
  it('round-trips every PIN of 4 to 12 digits with every PAN of 13 to 19 digits', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{4,12}$/), fc.stringMatching(/^[0-9]{13,19}$/), (digits, pan) => {
        const clear = buildPinBlock(pin(digits), pan);
        assert.equal(parsePinBlock(clear, pan).expose(), digits);
      }),
    );
  });

  // One row per way a PIN can be refused.
  const badPins: [string, string][] = [
    ['3 digits', '123'],
    ['13 digits', '1234567890123'],
    ['empty', ''],
    ['a letter', '12a456'],
    ['a space', '12 456'],
  ];
  for (const [what, digits] of badPins) {
    it(`refuses a PIN of ${what} without repeating it`, () => {
      assert.throws(
        () => buildPinBlock(pin(digits), PAN),
        (error: unknown) =>
          isTillpointError(error, 'TILLPOINT_ERR_PIN_INVALID') &&
          error.param === 'pin' &&
          (digits === '' || !error.message.includes(digits)),
      );
    });
  }

  it('refuses a PAN that is not 13 to 19 digits, without repeating it', () => {
    for (const pan of ['622202100000', '62220210000000130000', '622202100000001X']) {
      assert.throws(
        () => buildPinBlock(pin('1234'), pan),
        (error: unknown) =>
          isTillpointError(error, 'TILLPOINT_ERR_PIN_BLOCK_PAN_INVALID') && !error.message.includes(pan),
      );
    }
  });

  // One row per check of a clear block: format nibble, length 4-12, digits, F padding.
  const badBlocks: [string, string][] = [
    ['format nibble 1 (format 1)', '16121477FFFFFFFE'],
    ['PIN length 3', '03121477FFFFFFFE'],
    ['PIN length 13', '0D121477FFFFFFFE'],
    ['a PIN nibble above 9', xorPan('0612A456FFFFFFFF')],
    ['padding not F', '06121477FFFFFF0E'],
  ];
  for (const [what, block] of badBlocks) {
    it(`parsePinBlock refuses ${what}`, () => {
      assert.throws(() => parsePinBlock(hex(block), PAN), isPinBlockInvalid);
    });
  }
});

describe('translatePinBlock', () => {
  const tpk3des = key(PIN_KEY, '3des-2key', 'pin');
  const tpkSm4 = key(PIN_KEY, 'sm4', 'pin');
  const zpk3des = key('0123456789ABCDEFFEDCBA9876543210', '3des-2key', 'zpk');
  const zpkSm4 = key('00112233445566778899AABBCCDDEEFF', 'sm4', 'zpk');
  const zpk3key = key('0123456789ABCDEFFEDCBA98765432108899AABBCCDDEEFF', '3des-3key', 'zpk');

  it('re-encrypts the worked example block under the zone key: same clear block, new key', () => {
    const underZpk = translatePinBlock(hex('503EFE85F255C14A'), PAN, tpk3des, zpk3des);
    const decipher = createDecipheriv(
      'des-ede-ecb',
      hex('0123456789ABCDEFFEDCBA9876543210'),
      null,
    ).setAutoPadding(false);
    assert.equal(decipher.update(underZpk).toString('hex').toUpperCase(), '06121477FFFFFFFE');
  });

  it('translates an SM4 terminal block to a 3DES zone key (16 bytes in, 8 out) and back', () => {
    const underZpk = translatePinBlock(hex('0039C2191E0C7EEDE82E38E7B62D439A'), PAN, tpkSm4, zpk3des);
    assert.equal(underZpk.length, 8);
    assert.deepEqual(underZpk, encryptPin(pin('123456'), PAN, zpk3des));
    const backUnderSm4 = translatePinBlock(underZpk, PAN, zpk3des, zpkSm4);
    assert.equal(backUnderSm4.length, 16);
    assert.deepEqual(backUnderSm4, encryptPin(pin('123456'), PAN, zpkSm4));
  });

  it('round-trips 3DES → SM4 → 3DES (3-key) for random PINs, PANs and keys', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{4,12}$/), fc.stringMatching(/^[0-9]{13,19}$/), (digits, pan) => {
        const tpk = generateKey({ algorithm: '3des-2key', usage: 'pin' });
        const underTpk = encryptPin(pin(digits), pan, tpk);
        const underSm4 = translatePinBlock(underTpk, pan, tpk, zpkSm4);
        const under3key = translatePinBlock(underSm4, pan, zpkSm4, zpk3key);
        assert.deepEqual(under3key, encryptPin(pin(digits), pan, zpk3key));
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a block under another PAN or another key as not format 0 (the host answers 99)', () => {
    // Another PAN changes the clear block; with a different key it decrypts to noise. Either way the
    // result must be an error, never a wrong translation. (A different PAN can still give a valid
    // block by chance, so the PAN case uses one that breaks the F padding.)
    assert.throws(
      () => translatePinBlock(hex('503EFE85F255C14A'), '6222021000000021', tpk3des, zpk3des),
      isPinBlockInvalid,
    );
    const otherKey = key('0123456789ABCDEF1122334455667788', '3des-2key', 'pin');
    assert.throws(
      () => translatePinBlock(hex('503EFE85F255C14A'), PAN, otherKey, zpk3des),
      isPinBlockInvalid,
    );
  });

  // One row per way an encrypted block can be wrong, all TILLPOINT_ERR_PIN_BLOCK_INVALID.
  const tpkFor = (algorithm: 'sm4' | '3des-2key') => (algorithm === 'sm4' ? tpkSm4 : tpk3des);
  const underTpk = (clear: string, algorithm: 'sm4' | '3des-2key') => {
    const dataKey = key(PIN_KEY, algorithm, 'data');
    return encryptData(hex(clear), dataKey);
  };
  const badEncrypted: [string, () => Buffer, 'sm4' | '3des-2key'][] = [
    ['a 3DES block of 16 bytes', () => hex('503EFE85F255C14A503EFE85F255C14A'), '3des-2key'],
    ['an SM4 block of 8 bytes', () => hex('503EFE85F255C14A'), 'sm4'],
    ['an empty block', () => Buffer.alloc(0), '3des-2key'],
    ['format 1', () => underTpk(xorPan('16121477FFFFFFFE'), '3des-2key'), '3des-2key'],
    ['PIN length 3', () => underTpk(xorPan('03123FFFFFFFFFFF'), '3des-2key'), '3des-2key'],
    ['PIN length 13', () => underTpk(xorPan('0D1234567890123F'), '3des-2key'), '3des-2key'],
    ['a non-digit PIN nibble', () => underTpk(xorPan('04123AFFFFFFFFFF'), '3des-2key'), '3des-2key'],
    ['padding that is not F', () => underTpk(xorPan('041234FFFFFFFF0F'), '3des-2key'), '3des-2key'],
    [
      'an SM4 tail that is not FF',
      () => underTpk(`${xorPan('06123456FFFFFFFF')}FFFFFFFFFFFFFF00`, 'sm4'),
      'sm4',
    ],
  ];
  for (const [what, block, algorithm] of badEncrypted) {
    it(`refuses ${what}`, () => {
      assert.throws(() => translatePinBlock(block(), PAN, tpkFor(algorithm), zpk3des), isPinBlockInvalid);
    });
  }

  it('says nothing in its error of the PIN block, the PIN or the PAN', () => {
    const block = underTpk(xorPan('04123AFFFFFFFFFF'), '3des-2key');
    try {
      translatePinBlock(block, PAN, tpk3des, zpk3des);
      assert.fail('expected an error');
    } catch (error) {
      assert.ok(isPinBlockInvalid(error));
      const text = `${(error as Error).message} ${JSON.stringify(error)}`;
      assert.ok(!text.toUpperCase().includes(block.toString('hex').toUpperCase()));
      assert.ok(!text.includes(PAN) && !text.includes('123'));
    }
  });

  it('refuses keys of the wrong usage: a MAC key cannot translate a PIN, a terminal PIN key is no zone key', () => {
    const macKey = key('44444444444444444444444444444444', '3des-2key', 'mac');
    assert.throws(
      () => translatePinBlock(hex('503EFE85F255C14A'), PAN, macKey, zpk3des),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_USAGE_MISMATCH') &&
        error.param === 'tpk' &&
        error.message.includes('mac key'),
    );
    assert.throws(
      () => translatePinBlock(hex('503EFE85F255C14A'), PAN, tpk3des, tpkSm4),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_USAGE_MISMATCH') && error.param === 'zpk',
    );
  });

  it('refuses AES keys (format 0 blocks are 3DES or SM4)', () => {
    const aesZpk = generateKey({ algorithm: 'aes-256', usage: 'zpk' });
    assert.throws(
      () => translatePinBlock(hex('503EFE85F255C14A'), PAN, tpk3des, aesZpk),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH'),
    );
  });

  it('translatePinBlocks gives what translatePinBlock gives, block by block, with errors in place', () => {
    const good3des = hex('503EFE85F255C14A');
    const goodSm4 = hex('0039C2191E0C7EEDE82E38E7B62D439A');
    const badFormat = underTpk(xorPan('16121477FFFFFFFE'), '3des-2key');
    for (const zoneKey of [zpk3des, zpkSm4]) {
      const results = translatePinBlocks(
        [
          { pinBlockUnderTpk: good3des, pan: PAN, tpk: tpk3des },
          { pinBlockUnderTpk: badFormat, pan: PAN, tpk: tpk3des },
          { pinBlockUnderTpk: goodSm4, pan: PAN, tpk: tpkSm4 },
          {
            pinBlockUnderTpk: good3des,
            pan: PAN,
            tpk: key('44444444444444444444444444444444', '3des-2key', 'mac'),
          },
          { pinBlockUnderTpk: good3des, pan: '12', tpk: tpk3des },
        ],
        zoneKey,
      );
      assert.deepEqual(results[0], translatePinBlock(good3des, PAN, tpk3des, zoneKey));
      assert.ok(isPinBlockInvalid(results[1]));
      assert.deepEqual(results[2], translatePinBlock(goodSm4, PAN, tpkSm4, zoneKey));
      assert.ok(isTillpointError(results[3], 'TILLPOINT_ERR_KEY_USAGE_MISMATCH'));
      assert.ok(isTillpointError(results[4], 'TILLPOINT_ERR_PIN_BLOCK_PAN_INVALID'));
    }
    assert.deepEqual(translatePinBlocks([], zpk3des), []);
  });

  it('translatePinBlocks round-trips random PINs through one zone-key call', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.stringMatching(/^[0-9]{4,12}$/), fc.stringMatching(/^[0-9]{13,19}$/)), {
          minLength: 1,
          maxLength: 20,
        }),
        (cards) => {
          const translations = cards.map(([digits, pan], i) => {
            const tpk = i % 2 === 0 ? tpk3des : tpkSm4;
            return { pinBlockUnderTpk: encryptPin(pin(digits), pan, tpk), pan, tpk };
          });
          const results = translatePinBlocks(translations, zpkSm4);
          cards.forEach(([digits, pan], i) => {
            assert.deepEqual(results[i], encryptPin(pin(digits), pan, zpkSm4));
          });
        },
      ),
      { numRuns: 50 },
    );
  });

  it('encryptPinBlock refuses a clear block that is not 8 bytes', () => {
    assert.throws(() => encryptPinBlock(Buffer.alloc(16), tpk3des), isPinBlockInvalid);
  });
});

/** A clear PIN field XOR the worked example's PAN field, as hex. */
function xorPan(pinField: string): string {
  const panField = hex('0000202100000001');
  const field = hex(pinField);
  for (let i = 0; i < 8; i++) field[i]! ^= panField[i]!;
  return field.toString('hex');
}

describe('the simulated issuer: PVV and verifyPin', () => {
  const pvk = generateKey({ algorithm: 'aes-256', usage: 'pvk' });
  const zpk = key('0123456789ABCDEFFEDCBA9876543210', '3des-2key', 'zpk');
  const zpkSm4 = key('00112233445566778899AABBCCDDEEFF', 'sm4', 'zpk');

  it('stores 32 hex digits that depend on the PIN, the PAN and the PVK', () => {
    const pvv = pinVerificationValue(pin('123456'), PAN, pvk);
    assert.match(pvv, /^[0-9A-F]{32}$/);
    assert.notEqual(pvv, pinVerificationValue(pin('123457'), PAN, pvk));
    assert.notEqual(pvv, pinVerificationValue(pin('123456'), '6222021000000021', pvk));
    assert.notEqual(
      pvv,
      pinVerificationValue(pin('123456'), PAN, generateKey({ algorithm: 'aes-256', usage: 'pvk' })),
    );
    assert.ok(!pvv.includes('123456'));
  });

  it('accepts the right PIN and rejects a wrong one, under 3DES and SM4 zone keys', () => {
    const pvv = pinVerificationValue(pin('123456'), PAN, pvk);
    for (const zoneKey of [zpk, zpkSm4]) {
      assert.equal(verifyPin(encryptPin(pin('123456'), PAN, zoneKey), PAN, zoneKey, { pvk, pvv }), true);
      assert.equal(verifyPin(encryptPin(pin('654321'), PAN, zoneKey), PAN, zoneKey, { pvk, pvv }), false);
      assert.equal(verifyPin(encryptPin(pin('1234567'), PAN, zoneKey), PAN, zoneKey, { pvk, pvv }), false);
    }
  });

  it('verifies random PINs end to end: terminal → translate → issuer', () => {
    const tpk = key(PIN_KEY, 'sm4', 'pin');
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{4,12}$/), fc.stringMatching(/^[0-9]{4,12}$/), (right, typed) => {
        const pvv = pinVerificationValue(pin(right), PAN, pvk);
        const underZpk = translatePinBlock(encryptPin(pin(typed), PAN, tpk), PAN, tpk, zpk);
        assert.equal(verifyPin(underZpk, PAN, zpk, { pvk, pvv }), right === typed);
      }),
      { numRuns: 100 },
    );
  });

  it('throws on a block that is not format 0, and on a malformed stored PVV', () => {
    const pvv = pinVerificationValue(pin('123456'), PAN, pvk);
    assert.throws(() => verifyPin(hex('0000000000000000'), PAN, zpk, { pvk, pvv }), isPinBlockInvalid);
    assert.throws(
      () => verifyPin(encryptPin(pin('123456'), PAN, zpk), PAN, zpk, { pvk, pvv: 'nope' }),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_VALIDATION'),
    );
  });

  it('needs a pvk and a zpk', () => {
    const pvv = pinVerificationValue(pin('123456'), PAN, pvk);
    const notPvk = generateKey({ algorithm: 'aes-256', usage: 'data' });
    assert.throws(
      () => verifyPin(encryptPin(pin('123456'), PAN, zpk), PAN, zpk, { pvk: notPvk, pvv }),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_USAGE_MISMATCH'),
    );
    assert.throws(
      () => pinVerificationValue(pin('123456'), PAN, zpk),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_USAGE_MISMATCH'),
    );
  });
});
