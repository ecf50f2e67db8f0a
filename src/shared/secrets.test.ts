import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TillpointError } from './errors.ts';
import { newId } from './ids.ts';
import { generateMasterKey, masterKeyFrom, open, seal, sealedKeyId } from './secrets.ts';

const context = Buffer.from('key-1|pin|3des-2key');

describe('sealing under the master key', () => {
  it('opens what it sealed, with the same context', () => {
    const key = generateMasterKey();
    const sealed = seal(Buffer.from('clear key bytes!'), context, key);
    assert.equal(open(sealed, context, key).toString(), 'clear key bytes!');
    assert.equal(sealedKeyId(sealed), key.id);
    assert.doesNotMatch(sealed.toString('latin1'), /clear key/);
  });

  it('refuses another context, another key, and any altered byte', () => {
    const key = generateMasterKey();
    const sealed = seal(Buffer.from('secret'), context, key);
    const refused = (fn: () => unknown) =>
      assert.throws(
        fn,
        (e: unknown) => e instanceof TillpointError && e.code === 'TILLPOINT_ERR_SEALED_DATA_INVALID',
      );
    refused(() => open(sealed, Buffer.from('key-2|pin|3des-2key'), key));
    refused(() => open(sealed, context, generateMasterKey()));
    for (let i = 0; i < sealed.length; i++) {
      const altered = Buffer.from(sealed);
      altered[i]! ^= 0x01;
      refused(() => open(altered, context, key));
    }
    refused(() => open(sealed.subarray(0, 20), context, key));
  });

  it('names the master key a value was sealed under', () => {
    const old = masterKeyFrom(Buffer.alloc(32, 1));
    const current = masterKeyFrom(Buffer.alloc(32, 2));
    const sealed = seal(Buffer.from('x'), context, old);
    assert.throws(() => open(sealed, context, current), new RegExp(`sealed under master key ${old.id}`));
    assert.throws(() => masterKeyFrom(Buffer.alloc(16)), /32 bytes/);
  });
});

describe('ids', () => {
  it('are UUIDv7, unique, and sort in creation order', () => {
    const ids = Array.from({ length: 10_000 }, () => newId());
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids);
    for (const id of ids.slice(0, 10))
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
