import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isTillpointError } from '../shared/errors.ts';
import { Secret } from '../shared/secret.ts';
import { combineKeyComponents, componentCheckValue, splitKey } from './components.ts';
import { generateKey, type KeyAlgorithm, type KeyUsage, materialOf } from './key-handle.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');

describe('combineKeyComponents', () => {
  // The demo TMK 0123456789ABCDEFFEDCBA9876543210 as two and three components.
  const c1 = '1111111111111111AAAAAAAAAAAAAAAA';
  const c2 = '1032547698BADCFE54761032DCFE98BA'; // c1 XOR TMK
  const c3a = '0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F';
  const c3b = '1F3D5B7997B5D3F15B791F3DD3F197B5'; // c2 XOR c3a

  it('XORs two components into the demo TMK (check value 08D7B4FB) and shows each component check value', () => {
    const { key, componentCheckValues } = combineKeyComponents(
      [{ component: hex(c1) }, { component: new Secret(hex(c2)) }],
      { algorithm: '3des-2key', usage: 'tmk' },
      { checkValue: '08D7B4FB' },
    );
    assert.equal(key.checkValue, '08D7B4FB');
    assert.equal(componentCheckValues.length, 2);
    assert.equal(componentCheckValues[0], componentCheckValue(hex(c1), '3des-2key'));
    assert.equal(componentCheckValues[1], componentCheckValue(hex(c2), '3des-2key'));
    assert.equal(materialOf(key).toString('hex').toUpperCase(), '0123456789ABCDEFFEDCBA9876543210');
  });

  it('XORs three components, checking each stated check value', () => {
    const spec = { algorithm: 'sm4', usage: 'tmk' } as const;
    const stated = [c1, c3a, c3b].map((c) => componentCheckValue(hex(c), 'sm4'));
    const { key } = combineKeyComponents(
      [c1, c3a, c3b].map((c, i) => ({ component: hex(c), checkValue: stated[i]!.slice(0, 6) })),
      spec,
    );
    assert.equal(key.checkValue, '2677F46B');
  });

  it('names the component whose check value does not match', () => {
    assert.throws(
      () =>
        combineKeyComponents([{ component: hex(c1) }, { component: hex(c2), checkValue: '000000' }], {
          algorithm: '3des-2key',
          usage: 'tmk',
        }),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH') &&
        error.param === 'component 2' &&
        error.message.includes('component 2'),
    );
  });

  it('refuses a component of the wrong length, naming it and both lengths', () => {
    assert.throws(
      () =>
        combineKeyComponents([{ component: hex(c1) }, { component: hex(c1.slice(0, 16)) }], {
          algorithm: '3des-2key',
          usage: 'tmk',
        }),
      (error: unknown) =>
        isTillpointError(error, 'TILLPOINT_ERR_KEY_LENGTH_INVALID') &&
        error.param === 'component 2' &&
        error.message.includes('16 bytes') &&
        error.message.includes('got 8 bytes'),
    );
  });

  it('refuses a wrong combined check value, 1 or 10 components, and two equal components (a zero key)', () => {
    const spec = { algorithm: '3des-2key', usage: 'tmk' } as const;
    assert.throws(
      () =>
        combineKeyComponents([{ component: hex(c1) }, { component: hex(c2) }], spec, {
          checkValue: '08D7B4FC',
        }),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH'),
    );
    assert.throws(
      () => combineKeyComponents([{ component: hex(c1) }], spec),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_VALIDATION'),
    );
    assert.throws(
      () =>
        combineKeyComponents(
          Array.from({ length: 10 }, () => ({ component: hex(c1) })),
          spec,
        ),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_VALIDATION'),
    );
    assert.throws(
      () => combineKeyComponents([{ component: hex(c1) }, { component: hex(c1) }], spec),
      (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_KEY_WEAK'),
    );
  });
});

describe('splitKey', () => {
  const specs: [KeyAlgorithm, KeyUsage][] = [
    ['3des-2key', 'tmk'],
    ['3des-3key', 'kek'],
    ['sm4', 'zmk'],
    ['aes-256', 'kek'],
  ];

  it('splits into N components whose XOR is the key, and combining them gives the key back', () => {
    fc.assert(
      fc.property(fc.constantFrom(...specs), fc.integer({ min: 2, max: 9 }), ([algorithm, usage], count) => {
        const key = generateKey({ algorithm, usage });
        const components = splitKey(key, count);
        assert.equal(components.length, count);
        const xor = Buffer.alloc(key.lengthBytes);
        for (const { component, checkValue } of components) {
          const bytes = component.expose();
          assert.equal(bytes.length, key.lengthBytes);
          assert.equal(checkValue, componentCheckValue(bytes, algorithm));
          for (let i = 0; i < xor.length; i++) xor[i]! ^= bytes[i]!;
        }
        assert.deepEqual(xor, materialOf(key));
        const combined = combineKeyComponents(
          components.map(({ component, checkValue }) => ({ component, checkValue })),
          { algorithm, usage },
          { checkValue: key.checkValue },
        );
        assert.equal(combined.key.checkValue, key.checkValue);
      }),
      { numRuns: 60 },
    );
  });

  it('gives different components each time', () => {
    const key = generateKey({ algorithm: '3des-2key', usage: 'tmk' });
    const first = splitKey(key, 2)[0]!.component.expose();
    const second = splitKey(key, 2)[0]!.component.expose();
    assert.notDeepEqual(first, second);
  });

  it('refuses fewer than 2 or more than 9 components', () => {
    const key = generateKey({ algorithm: 'sm4', usage: 'tmk' });
    for (const count of [0, 1, 10, 2.5]) {
      assert.throws(
        () => splitKey(key, count),
        (error: unknown) => isTillpointError(error, 'TILLPOINT_ERR_VALIDATION'),
      );
    }
  });

  it('keeps components in Secrets that print ***', () => {
    const [first] = splitKey(generateKey({ algorithm: 'sm4', usage: 'tmk' }), 2);
    assert.equal(JSON.stringify(first), `{"component":"***","checkValue":"${first!.checkValue}"}`);
  });
});
