import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isTillpointError } from '../shared/errors.ts';
import { generateKey, importClearKey, type KeyAlgorithm, type KeyUsage } from './key-handle.ts';
import { generateMac, type MacAlgorithm, verifyMac } from './mac.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');
const key = (material: string, algorithm: KeyAlgorithm = '3des-2key', usage: KeyUsage = 'mac') =>
  importClearKey(hex(material), { algorithm, usage });

// The worked examples of docs/terminal-protocol.md: the MAC covers the bytes from the MTI to the
// end of the last field before 64, i.e. the frame without length (2), TPDU (5), header (6) and the
// 8 MAC bytes at its end.
const SALE_3DES =
  '007D60000300006031000000000200702404C020C09811166222021000000013000000000000001234000002301202100012346222021000000013D301220100000000003130303030303031313032333134303534313130303031313536503EFE85F255C14A26000000000000000013220000010005003231343331373441';
const SALE_SM4 =
  '008560000300006031000000000200702404C020C09811166222021000000013000000000000001234000002301202100012346222021000000013D3012201000000000031303030303030323130323331343035343131303030313135360039C2191E0C7EEDE82E38E7B62D439A26000000000000000013220000010005004230433841453338';
const macInput = (frame: string) => {
  const bytes = hex(frame);
  return bytes.subarray(13, bytes.length - 8);
};
const macField = (frame: string) => hex(frame).subarray(-8);

describe('ecb: the profile MAC (known answers)', () => {
  it('data 1234567890ABCDEFABCDEF1234567890, key 2222222222222222 → E267B6E2', () => {
    const mac = generateMac(hex('1234567890ABCDEFABCDEF1234567890'), key('22222222222222222222222222222222'));
    assert.equal(mac.toString('ascii'), 'E267B6E2');
  });

  it('the 3DES sale of the worked example → 2143174A, the bytes in its field 64', () => {
    const mac = generateMac(macInput(SALE_3DES), key('44444444444444444444444444444444'));
    assert.equal(mac.toString('ascii'), '2143174A');
    assert.deepEqual(mac, macField(SALE_3DES));
  });

  it('the SM4 sale of the worked example → B0C8AE38', () => {
    const mac = generateMac(macInput(SALE_SM4), key('44444444444444445555555555555555', 'sm4'));
    assert.equal(mac.toString('ascii'), 'B0C8AE38');
    assert.deepEqual(mac, macField(SALE_SM4));
  });

  it('gives the same MAC on every call (the reused CBC cipher object carries no state over)', () => {
    const macKey = key('44444444444444444444444444444444');
    const other = hex('0011223344556677889900');
    for (let i = 0; i < 5; i++) {
      assert.equal(generateMac(macInput(SALE_3DES), macKey).toString(), '2143174A');
      generateMac(other, macKey, i % 2 ? 'x99' : 'ecb');
    }
  });

  it('matches a straightforward implementation for every length and both block sizes', () => {
    const reference = (data: Buffer, material: Buffer, sm4: boolean): string => {
      const blockBytes = sm4 ? 16 : 8;
      const cipher = createCipheriv(sm4 ? 'sm4-ecb' : 'des-ede-ecb', material, null).setAutoPadding(false);
      const fold = Buffer.alloc(blockBytes);
      for (let i = 0; i < data.length; i++) fold[i % blockBytes]! ^= data[i]!;
      const hexFold = Buffer.from(fold.toString('hex').toUpperCase(), 'ascii');
      const first = cipher.update(hexFold.subarray(0, blockBytes));
      for (let i = 0; i < blockBytes; i++) first[i]! ^= hexFold[blockBytes + i]!;
      return cipher.update(first).toString('hex').toUpperCase().slice(0, 8);
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, sm4) => {
        const data = Buffer.from(bytes);
        const macKey = sm4
          ? key('44444444444444445555555555555555', 'sm4')
          : key('0123456789ABCDEFFEDCBA9876543210');
        const material = hex(sm4 ? '44444444444444445555555555555555' : '0123456789ABCDEFFEDCBA9876543210');
        assert.equal(generateMac(data, macKey).toString('ascii'), reference(data, material, sm4));
      }),
    );
  });

  it('cannot see two equal changes one block apart (the XOR-fold weakness THREAT-MODEL.md describes)', () => {
    const macKey = key('44444444444444444444444444444444');
    const data = Buffer.from(macInput(SALE_3DES));
    const tampered = Buffer.from(data);
    tampered[20]! ^= 0x01;
    tampered[28]! ^= 0x01;
    assert.ok(verifyMac(tampered, generateMac(data, macKey), macKey, 'ecb'));
    assert.ok(!verifyMac(tampered, generateMac(data, macKey, 'x99'), macKey, 'x99'));
  });
});

describe('x99: ANSI X9.9 / ISO 9797-1 algorithm 1 CBC-MAC', () => {
  it('FIPS PUB 113 (= ANSI X9.9) example: key 0123456789ABCDEF, "7654321 Now is the time for " → F1D30F6849312CA4', () => {
    const mac = generateMac(
      Buffer.from('7654321 Now is the time for ', 'ascii'),
      key('0123456789ABCDEF0123456789ABCDEF'),
      'x99',
    );
    assert.equal(mac.toString('hex').toUpperCase(), 'F1D30F6849312CA4');
  });

  it('ISO/IEC 9797-1 Annex B: MAC algorithm 1, padding 1, "Now is the time for all " → 70A30640CC76DD8B', () => {
    const mac = generateMac(
      Buffer.from('Now is the time for all ', 'ascii'),
      key('0123456789ABCDEF0123456789ABCDEF'),
      'x99',
    );
    assert.equal(mac.toString('hex').toUpperCase(), '70A30640CC76DD8B');
  });

  it('SM4 CBC-MAC of one block is the SM4 encryption of it (GB/T 32907 known answer), first 8 bytes', () => {
    const sm4 = key('0123456789abcdeffedcba9876543210', 'sm4');
    const mac = generateMac(hex('0123456789abcdeffedcba9876543210'), sm4, 'x99');
    assert.equal(mac.toString('hex'), '681edf34d206965e');
  });

  it('SM4 CBC-MAC matches block-by-block CBC over several blocks', () => {
    const material = hex('44444444444444445555555555555555');
    const sm4 = importClearKey(material, { algorithm: 'sm4', usage: 'mac' });
    const data = Buffer.from(macInput(SALE_SM4));
    const cipher = createCipheriv('sm4-ecb', material, null).setAutoPadding(false);
    let chain = Buffer.alloc(16);
    const padded = Buffer.alloc(Math.ceil(data.length / 16) * 16);
    data.copy(padded);
    for (let at = 0; at < padded.length; at += 16) {
      const block = Buffer.alloc(16);
      for (let i = 0; i < 16; i++) block[i] = padded[at + i]! ^ chain[i]!;
      chain = cipher.update(block);
    }
    assert.deepEqual(generateMac(data, sm4, 'x99'), chain.subarray(0, 8));
  });
});

describe('x919: ANSI X9.19 retail MAC', () => {
  // ISO/IEC 9797-1:2011 Annex B.4, MAC algorithm 3 with padding method 1, K = 0123456789ABCDEF and
  // K' = FEDCBA9876543210 (the X9.19 example, as reproduced by RustCrypto's retail-mac crate).
  const k = '0123456789ABCDEFFEDCBA9876543210';
  it('"Now is the time for all " → A1C72E74EA3FA9B6', () => {
    assert.equal(
      generateMac(Buffer.from('Now is the time for all ', 'ascii'), key(k), 'x919')
        .toString('hex')
        .toUpperCase(),
      'A1C72E74EA3FA9B6',
    );
  });

  it('"Now is the time for it" → 2E2B1428CC78254F', () => {
    assert.equal(
      generateMac(Buffer.from('Now is the time for it', 'ascii'), key(k), 'x919')
        .toString('hex')
        .toUpperCase(),
      '2E2B1428CC78254F',
    );
  });

  it('Bouncy Castle ISO9797Alg3MacTest: "Hello World !!!!" → F09B856213BAB83B', () => {
    assert.equal(
      generateMac(Buffer.from('Hello World !!!!', 'ascii'), key('7CA110454A1A6E570131D9619DC1376E'), 'x919')
        .toString('hex')
        .toUpperCase(),
      'F09B856213BAB83B',
    );
  });

  it('a one-block message is one 3DES encryption', () => {
    const material = hex(k);
    const cipher = createCipheriv('des-ede-ecb', material, null).setAutoPadding(false);
    assert.deepEqual(
      generateMac(hex('0011223344556677'), key(k), 'x919'),
      cipher.update(hex('0011223344556677')),
    );
  });

  it('needs a double-length 3DES key', () => {
    assert.throws(
      () => generateMac(Buffer.from('x'), key('44444444444444445555555555555555', 'sm4'), 'x919'),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH'),
    );
  });
});

describe('verifyMac', () => {
  const cases: [string, () => ReturnType<typeof key>, MacAlgorithm][] = [
    [
      '3DES ecb',
      () => generateKey({ algorithm: '3des-2key', usage: 'mac' }, { singleLengthDes: true }),
      'ecb',
    ],
    ['SM4 ecb', () => generateKey({ algorithm: 'sm4', usage: 'mac' }), 'ecb'],
    [
      '3DES x99',
      () => generateKey({ algorithm: '3des-2key', usage: 'mac' }, { singleLengthDes: true }),
      'x99',
    ],
    ['SM4 x99', () => generateKey({ algorithm: 'sm4', usage: 'mac' }), 'x99'],
    ['3DES x919', () => generateKey({ algorithm: '3des-2key', usage: 'mac' }), 'x919'],
  ];
  for (const [name, makeKey, algorithm] of cases) {
    it(`${name}: accepts its own MAC and rejects any single-bit change of data or MAC`, () => {
      const macKey = makeKey();
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 1, maxLength: 256 }),
          fc.nat(),
          fc.nat(63),
          (bytes, at, bit) => {
            const data = Buffer.from(bytes);
            const mac = generateMac(data, macKey, algorithm);
            assert.ok(verifyMac(data, mac, macKey, algorithm));
            const changedData = Buffer.from(data);
            changedData[at % data.length]! ^= 1 << (at % 8);
            assert.ok(!verifyMac(changedData, mac, macKey, algorithm));
            const changedMac = Buffer.from(mac);
            changedMac[bit >>> 3]! ^= 1 << (bit & 7);
            assert.ok(!verifyMac(data, changedMac, macKey, algorithm));
          },
        ),
        { numRuns: 200 },
      );
    });
  }

  it('rejects a MAC of the wrong length without throwing', () => {
    const macKey = key('44444444444444444444444444444444');
    const data = macInput(SALE_3DES);
    assert.equal(verifyMac(data, Buffer.from('2143174'), macKey), false);
    assert.equal(verifyMac(data, Buffer.alloc(0), macKey), false);
    assert.equal(verifyMac(data, Buffer.from('2143174A'), macKey), true);
  });

  it('refuses a key that is not a MAC key', () => {
    const pinKey = key('22222222222222223333333333333333', '3des-2key', 'pin');
    assert.throws(
      () => generateMac(Buffer.from('x'), pinKey),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_USAGE_MISMATCH') && error.message.includes('pin key'),
    );
  });
});
