import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret } from '../shared/secret.ts';
import * as keys from './crypto.ts';

// The worked examples of docs/terminal-protocol.md end to end, through the public surface only:
// sign-in (field 62), the terminal's sale (field 52 and 64), the host's checks, the issuer's PIN check.

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');
const PAN = '6222021000000013';

const examples = [
  {
    name: '3DES terminal 10000001',
    algorithm: '3des-2key',
    macKey: '44444444444444444444444444444444',
    field62: 'B4ABA2BB791C50E75ADC39F46164960E C5961E62 17B9F1B1A1B2D33C 0000000000000000 E2F24340',
    pinBlock: '503EFE85F255C14A',
    frame:
      '007D60000300006031000000000200702404C020C09811166222021000000013000000000000001234000002301202100012346222021000000013D301220100000000003130303030303031313032333134303534313130303031313536503EFE85F255C14A26000000000000000013220000010005003231343331373441',
  },
  {
    name: 'SM4 terminal 10000002',
    algorithm: 'sm4',
    macKey: '44444444444444445555555555555555',
    field62: '8304408321B9AC205F971EA5DC15305C A3679FEA E7A0AB79FF5441D4B73D79C473626F75 CE974463',
    pinBlock: '0039C2191E0C7EEDE82E38E7B62D439A',
    frame:
      '008560000300006031000000000200702404C020C09811166222021000000013000000000000001234000002301202100012346222021000000013D3012201000000000031303030303030323130323331343035343131303030313135360039C2191E0C7EEDE82E38E7B62D439A26000000000000000013220000010005004230433841453338',
  },
] as const;

describe('worked examples, end to end', () => {
  for (const example of examples) {
    it(example.name, () => {
      const algorithm = example.algorithm;
      // Host: the TMK entered as two components at a key ceremony.
      const tmkComponents = keys.splitKey(
        keys.importClearKey(hex('0123456789ABCDEFFEDCBA9876543210'), { algorithm, usage: 'tmk' }),
        2,
      );
      const { key: tmk } = keys.combineKeyComponents(
        tmkComponents,
        { algorithm, usage: 'tmk' },
        { checkValue: algorithm === 'sm4' ? '2677F46B' : '08D7B4FB' },
      );

      // Sign-in: the host's chosen working keys go out in field 62.
      const hostPin = keys.importClearKey(hex('22222222222222223333333333333333'), {
        algorithm,
        usage: 'pin',
      });
      const hostMac = keys.importClearKey(hex(example.macKey), { algorithm, usage: 'mac' });
      const field62 = keys.buildWorkingKeysField62({ pin: hostPin, mac: hostMac }, tmk);
      assert.equal(keys.toHex(field62), example.field62.replace(/ /g, ''));

      // Terminal: takes its keys out of field 62, builds the sale's PIN block and MAC.
      const terminal = keys.parseWorkingKeysField62(field62, tmk);
      const pinBlock = keys.encryptPin(new Secret('123456'), PAN, terminal.pin);
      assert.equal(keys.toHex(pinBlock), example.pinBlock);
      const frame = hex(example.frame);
      const macInput = frame.subarray(13, frame.length - 8);
      const mac = keys.generateMac(macInput, terminal.mac);
      assert.deepEqual(mac, frame.subarray(-8));

      // Host: verifies the MAC, translates the PIN block to the card network's zone key.
      assert.ok(keys.verifyMac(macInput, mac, hostMac));
      const zpk = keys.generateKey({ algorithm: '3des-2key', usage: 'zpk' });
      const pinBlockUnderZpk = keys.translatePinBlock(pinBlock, PAN, hostPin, zpk);

      // Issuer (simulator): checks the PIN against its stored PVV.
      const pvk = keys.generateKey({ algorithm: 'aes-256', usage: 'pvk' });
      const pvv = keys.pinVerificationValue(new Secret('123456'), PAN, pvk);
      assert.ok(keys.verifyPin(pinBlockUnderZpk, PAN, zpk, { pvk, pvv }));

      // Host: the reply's MAC, which the terminal verifies with its copy of the key.
      const reply = Buffer.from('0210 reply bytes from MTI to field 63', 'ascii');
      assert.ok(keys.verifyMac(reply, keys.generateMac(reply, hostMac), terminal.mac));
    });
  }
});

describe('the public surface', () => {
  it('does not export the module-internal access to key material or raw ECB', () => {
    const exported = Object.keys(keys);
    for (const internal of [
      'materialOf',
      'ecbEncrypt',
      'ecbDecrypt',
      'adoptMaterial',
      'macChainOf',
      'cbcZeroIv',
    ]) {
      assert.ok(!exported.includes(internal), internal);
    }
  });
});
