import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAudit } from '../audit/index.ts';
import { transaction } from '../db/index.ts';
import { createTestDatabase, type TestDatabase } from '../db/testing.ts';
import { ManualClock } from '../shared/clock.ts';
import { newId } from '../shared/ids.ts';
import { Secret } from '../shared/secret.ts';
import { generateMasterKey, type MasterKey } from '../shared/secrets.ts';
import { rejects } from '../shared/testing.ts';
import { splitKey } from './components.ts';
import {
  createKeyStore,
  encryptPin,
  generateMac,
  importClearKey,
  type KeyActor,
  type KeyAlgorithm,
  type KeyStore,
  parseWorkingKeysField62,
  pinVerificationValue,
  translatePinBlock,
  verifyMac,
  verifyPin,
} from './index.ts';
import { materialOf } from './key-handle.ts';
import { openSealedKey, sealKey } from './seal.ts';

// The key store on a real PostgreSQL: sealed rows, audit lines in the same transaction, caches.

const TMK = '0123456789ABCDEFFEDCBA9876543210';
const PAN = '6222021000000013';
const GRACE_MS = 60_000;
const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');
const clear = (text: string) => new Secret(hex(text));
const actor: KeyActor = { type: 'user', id: 'custodian-1', source: 'test' };

let t: TestDatabase;
let masterKey: MasterKey;
let store: KeyStore;
const clock = new ManualClock('2026-11-26T02:00:00Z');

function newStore(key: MasterKey = masterKey): KeyStore {
  return createKeyStore({
    db: t.db,
    audit: createAudit({ clock }),
    masterKey: key,
    clock,
    retiredHandleGraceMs: GRACE_MS,
  });
}

before(async () => {
  t = await createTestDatabase();
  masterKey = generateMasterKey();
  store = newStore();
});

after(async () => {
  store.close();
  await t.drop();
});

async function count(table: string, where = 'TRUE', values: unknown[] = []): Promise<number> {
  const result = await t.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table} WHERE ${where}`,
    values,
  );
  return result.rows[0]!.n;
}

async function auditLines(event: string, objectId?: string) {
  const result = await t.db.query<{ details: string; actor_id: string; source: string | null }>(
    `SELECT details, actor_id, source FROM audit_log WHERE event = $1 ${objectId === undefined ? '' : 'AND object_id = $2'} ORDER BY seq`,
    objectId === undefined ? [event] : [event, objectId],
  );
  return result.rows.map((row) => ({ ...row, details: JSON.parse(row.details) as Record<string, unknown> }));
}

let ownerSeq = 0;
const owner = (type: 'terminal' | 'institution' | 'connector' = 'connector') => ({
  type,
  id: type === 'terminal' ? String(90000000 + ++ownerSeq) : `test-${++ownerSeq}`,
});

describe('generate, get, list, active', () => {
  it('stores a sealed key, says nothing of its material, audits it, and hands out a handle with its check value', async () => {
    const o = owner();
    const info = await store.generate(
      { usage: 'zpk', algorithm: '3des-2key', owner: o, label: 'zone PIN key' },
      actor,
    );
    assert.deepEqual(Object.keys(info).sort(), [
      'algorithm',
      'checkValue',
      'createdAt',
      'id',
      'label',
      'masterKeyId',
      'owner',
      'retiredAt',
      'status',
      'usage',
      'version',
    ]);
    assert.equal(info.version, 1);
    assert.equal(info.status, 'active');
    assert.equal(info.masterKeyId, masterKey.id);
    const handle = await store.handle(info.id);
    assert.equal(handle.checkValue, info.checkValue);
    assert.equal(await store.handle(info.id), handle, 'cached: the same handle, no second unsealing');
    const row = await t.db.query<{ material_sealed: Buffer }>(
      'SELECT material_sealed FROM keys WHERE id = $1',
      [info.id],
    );
    assert.ok(!row.rows[0]!.material_sealed.includes(materialOf(handle)), 'no clear material in the row');
    assert.deepEqual(await store.get(info.id), info);
    assert.deepEqual(await store.active(o, 'zpk'), info);
    assert.deepEqual(await store.list({ owner: o }), [info]);
    const [line] = await auditLines('keys.key.generated', info.id);
    assert.equal(line!.actor_id, 'custodian-1');
    assert.equal(line!.source, 'test');
    assert.equal(line!.details['checkValue'], info.checkValue);
    assert.equal(JSON.stringify(line).includes(materialOf(handle).toString('hex')), false);
  });

  it('a second key of the same owner and usage retires the first (new version), and the audit line says so', async () => {
    const o = owner();
    const first = await store.generate({ usage: 'zpk', algorithm: 'sm4', owner: o }, actor);
    const firstHandle = await store.activeHandle(o, 'zpk');
    const second = await store.generate({ usage: 'zpk', algorithm: 'sm4', owner: o }, actor);
    assert.equal(second.version, 2);
    assert.equal((await store.get(first.id)).status, 'retired');
    assert.ok((await store.get(first.id)).retiredAt instanceof Date);
    assert.equal((await store.active(o, 'zpk'))?.id, second.id);
    const [line] = await auditLines('keys.key.generated', second.id);
    assert.deepEqual(line!.details['retiredKeyIds'], [first.id]);
    assert.equal(await store.activeHandle(o, 'zpk'), await store.handle(second.id));
    // The replaced handle stays usable for in-flight work, then is destroyed.
    assert.equal(firstHandle.destroyed, false);
    clock.advance(GRACE_MS + 1);
    await store.handle(second.id);
    assert.equal(firstHandle.destroyed, true);
    // A retired key can still be opened by id (data under it), freshly.
    assert.equal((await store.handle(first.id)).checkValue, first.checkValue);
  });

  it('ensure generates once and then returns the active key', async () => {
    const o = owner('institution');
    const first = await store.ensure({ usage: 'data', algorithm: 'aes-256', owner: o }, actor);
    const again = await store.ensure({ usage: 'data', algorithm: 'aes-256', owner: o }, actor);
    assert.equal(first.created, true);
    assert.equal(again.created, false);
    assert.equal(again.key.id, first.key.id);
    await rejects(
      store.ensure({ usage: 'data', algorithm: 'sm4', owner: o }, actor),
      'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH',
    );
  });

  it('refuses bad specs, unknown ids and missing active keys with one clear error each', async () => {
    const o = owner();
    await rejects(
      store.generate({ usage: 'nope' as 'pin', algorithm: 'sm4', owner: o }, actor),
      'TILLPOINT_ERR_VALIDATION',
      'usage',
    );
    await rejects(
      store.generate({ usage: 'pin', algorithm: 'des' as 'sm4', owner: o }, actor),
      'TILLPOINT_ERR_VALIDATION',
      'algorithm',
    );
    await rejects(
      store.generate(
        { usage: 'pin', algorithm: 'sm4', owner: { type: 'merchant' as 'terminal', id: 'x' } },
        actor,
      ),
      'TILLPOINT_ERR_VALIDATION',
      'owner',
    );
    await rejects(store.get(newId()), 'TILLPOINT_ERR_KEY_NOT_FOUND');
    await rejects(store.get('not-a-uuid'), 'TILLPOINT_ERR_KEY_NOT_FOUND');
    await rejects(store.handle(newId()), 'TILLPOINT_ERR_KEY_NOT_FOUND');
    await rejects(store.activeHandle(o, 'zpk'), 'TILLPOINT_ERR_KEY_NOT_FOUND');
  });
});

describe('import and export', () => {
  it('imports the demo TMK in clear with its known check values (3DES and SM4)', async () => {
    const des = await store.importClear(
      { usage: 'tmk', algorithm: '3des-2key', owner: owner('terminal'), material: clear(TMK) },
      actor,
    );
    const sm4 = await store.importClear(
      { usage: 'tmk', algorithm: 'sm4', owner: owner('terminal'), material: clear(TMK) },
      actor,
    );
    assert.equal(des.checkValue, '08D7B4FB');
    assert.equal(sm4.checkValue, '2677F46B');
    await rejects(
      store.importClear(
        {
          usage: 'tmk',
          algorithm: 'sm4',
          owner: owner('terminal'),
          material: clear(TMK),
          checkValue: '08D7B4FB',
        },
        actor,
      ),
      'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH',
    );
  });

  it('imports from components, returning each component check value and the key', async () => {
    const components = splitKey(importClearKey(hex(TMK), { algorithm: '3des-2key', usage: 'tmk' }), 3);
    const imported = await store.importFromComponents(
      {
        usage: 'tmk',
        algorithm: '3des-2key',
        owner: owner('terminal'),
        components: components.map((c) => ({ material: c.component, checkValue: c.checkValue.slice(0, 6) })),
        checkValue: '08D7B4',
      },
      actor,
    );
    assert.equal(imported.key.checkValue, '08D7B4FB');
    assert.deepEqual(
      imported.componentCheckValues,
      components.map((c) => c.checkValue),
    );
    const [line] = await auditLines('keys.key.imported', imported.key.id);
    assert.equal(line!.details['method'], 'components');
  });

  it('components are all or nothing: a bad second component stores no row and writes no audit line', async () => {
    const components = splitKey(importClearKey(hex(TMK), { algorithm: '3des-2key', usage: 'tmk' }), 2);
    const o = owner('terminal');
    const keysBefore = await count('keys');
    const auditBefore = await count('audit_log');
    const wrongCheckValue = await rejects(
      store.importFromComponents(
        {
          usage: 'tmk',
          algorithm: '3des-2key',
          owner: o,
          components: [
            { material: components[0]!.component, checkValue: components[0]!.checkValue },
            { material: components[1]!.component, checkValue: 'ABCDEF01' },
          ],
        },
        actor,
      ),
      'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH',
      'component 2',
    );
    assert.match(
      wrongCheckValue.message,
      /^component 2 has check value [0-9A-F]{8}, not the stated ABCDEF01/,
    );
    await rejects(
      store.importFromComponents(
        {
          usage: 'tmk',
          algorithm: '3des-2key',
          owner: o,
          components: [
            { material: components[0]!.component },
            { material: new Secret(hex('0123456789ABCDEF')) },
          ],
        },
        actor,
      ),
      'TILLPOINT_ERR_KEY_LENGTH_INVALID',
      'component 2',
    );
    await rejects(
      store.importFromComponents(
        {
          usage: 'tmk',
          algorithm: '3des-2key',
          owner: o,
          components: [{ material: components[0]!.component }],
        },
        actor,
      ),
      'TILLPOINT_ERR_VALIDATION',
      'components',
    );
    assert.equal(await count('keys'), keysBefore);
    assert.equal(await count('audit_log'), auditBefore);
    assert.equal(await store.active(o, 'tmk'), undefined);
  });

  it('exports under a KEK and imports back: the same key (check value), under another owner', async () => {
    const kek = await store.generate(
      { usage: 'kek', algorithm: '3des-3key', owner: owner('institution') },
      actor,
    );
    const tmk = await store.importClear(
      { usage: 'tmk', algorithm: '3des-2key', owner: owner('terminal'), material: clear(TMK) },
      actor,
    );
    const exported = await store.exportUnderKek(tmk.id, kek.id, actor);
    assert.equal(exported.checkValue, '08D7B4FB');
    assert.equal(exported.encrypted.length, 16);
    assert.ok(!exported.encrypted.equals(hex(TMK)));
    const imported = await store.importUnderKek(
      {
        usage: 'tmk',
        algorithm: '3des-2key',
        owner: owner('terminal'),
        kekId: kek.id,
        encrypted: exported.encrypted,
        checkValue: exported.checkValue,
      },
      actor,
    );
    assert.equal(imported.checkValue, '08D7B4FB');
    const [line] = await auditLines('keys.key.exported', tmk.id);
    assert.equal(line!.details['kekId'], kek.id);
    await rejects(
      store.importUnderKek(
        {
          usage: 'tmk',
          algorithm: '3des-2key',
          owner: owner('terminal'),
          kekId: kek.id,
          encrypted: exported.encrypted,
          checkValue: '00000000',
        },
        actor,
      ),
      'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH',
    );
  });

  it('exports as components that combine back to the key', async () => {
    const zmk = await store.generate({ usage: 'zmk', algorithm: '3des-2key', owner: owner() }, actor);
    const components = await store.exportComponents(zmk.id, 3, actor);
    assert.equal(components.length, 3);
    const again = await store.importFromComponents(
      {
        usage: 'zmk',
        algorithm: '3des-2key',
        owner: owner(),
        components: components.map((c) => ({ material: c.material, checkValue: c.checkValue })),
      },
      actor,
    );
    assert.equal(again.key.checkValue, zmk.checkValue);
    const [line] = await auditLines('keys.key.exported', zmk.id);
    assert.equal(line!.details['method'], 'components');
    assert.equal(JSON.stringify(line).includes(components[0]!.material.expose().toString('hex')), false);
  });

  it('refuses a key used for the wrong purpose, and unknown ids', async () => {
    const o = owner('terminal');
    const mac = await store.generate({ usage: 'mac', algorithm: '3des-2key', owner: o }, actor);
    const pin = await store.generate({ usage: 'pin', algorithm: '3des-2key', owner: o }, actor);
    const data = await store.generate(
      { usage: 'data', algorithm: 'aes-256', owner: owner('institution') },
      actor,
    );
    const zmk = await store.generate({ usage: 'zmk', algorithm: '3des-2key', owner: owner() }, actor);
    const kek = await store.generate({ usage: 'kek', algorithm: '3des-3key', owner: owner() }, actor);
    await rejects(store.exportUnderKek(zmk.id, mac.id, actor), 'TILLPOINT_ERR_KEY_USAGE_MISMATCH', 'kek'); // a MAC key as KEK
    await rejects(store.exportUnderKek(pin.id, kek.id, actor), 'TILLPOINT_ERR_KEY_USAGE_MISMATCH', 'keyId'); // a PIN key exported
    await rejects(store.exportComponents(pin.id, 2, actor), 'TILLPOINT_ERR_KEY_USAGE_MISMATCH', 'keyId');
    await rejects(store.exportComponents(data.id, 2, actor), 'TILLPOINT_ERR_KEY_USAGE_MISMATCH', 'keyId');
    await rejects(store.exportUnderKek(zmk.id, zmk.id, actor), 'TILLPOINT_ERR_KEY_USAGE_MISMATCH'); // a zmk wraps zpks only
    await rejects(store.exportUnderKek(newId(), kek.id, actor), 'TILLPOINT_ERR_KEY_NOT_FOUND', 'keyId');
    await rejects(store.exportUnderKek(zmk.id, newId(), actor), 'TILLPOINT_ERR_KEY_NOT_FOUND', 'kekId');
    await rejects(store.exportComponents(newId(), 2, actor), 'TILLPOINT_ERR_KEY_NOT_FOUND', 'keyId');
    await rejects(store.exportComponents(zmk.id, 4 as 2, actor), 'TILLPOINT_ERR_VALIDATION', 'count');
    await store.retire(kek.id, actor);
    await rejects(store.exportUnderKek(zmk.id, kek.id, actor), 'TILLPOINT_ERR_KEY_RETIRED', 'kekId');
  });
});

describe('sealing binds a key to its row', () => {
  it('a sealed key copied to another row, relabelled, or its row renumbered, no longer opens', async () => {
    const a = await store.generate({ usage: 'zpk', algorithm: '3des-2key', owner: owner() }, actor);
    const b = await store.generate({ usage: 'zpk', algorithm: '3des-2key', owner: owner() }, actor);
    const c = await store.generate({ usage: 'pvk', algorithm: 'aes-256', owner: owner() }, actor);
    await t.db.query(
      'UPDATE keys SET material_sealed = (SELECT material_sealed FROM keys WHERE id = $1), check_value = $3 WHERE id = $2',
      [a.id, b.id, a.checkValue],
    );
    await t.db.query(`UPDATE keys SET usage = 'data' WHERE id = $1`, [c.id]);
    const renumbered = newId();
    await t.db.query('UPDATE keys SET id = $2 WHERE id = $1', [a.id, renumbered]);
    const fresh = newStore();
    try {
      await rejects(fresh.handle(b.id), 'TILLPOINT_ERR_SEALED_DATA_INVALID');
      await rejects(fresh.handle(c.id), 'TILLPOINT_ERR_SEALED_DATA_INVALID');
      const error = await rejects(fresh.handle(renumbered), 'TILLPOINT_ERR_SEALED_DATA_INVALID');
      assert.match(error.message, new RegExp(`\\(${renumbered}\\) does not open`));
    } finally {
      fresh.close();
      await t.db.query('DELETE FROM keys WHERE id = ANY($1)', [[b.id, c.id, renumbered]]);
    }
  });
});

describe('working keys', () => {
  const terminals: Array<{ id: string; algorithm: KeyAlgorithm; macBytes: number }> = [
    { id: '10000001', algorithm: '3des-2key', macBytes: 8 },
    { id: '10000002', algorithm: 'sm4', macBytes: 16 },
  ];
  for (const terminal of terminals) {
    it(`${terminal.algorithm} terminal ${terminal.id}: field 62 parses on the terminal into keys the store's handles verify and translate; the previous set is retired`, async () => {
      const terminalActor: KeyActor = { type: 'terminal', id: terminal.id, source: terminal.id };
      const tmk = await store.importClear(
        {
          usage: 'tmk',
          algorithm: terminal.algorithm,
          owner: { type: 'terminal', id: terminal.id },
          material: clear(TMK),
        },
        actor,
      );
      const zpk = await store.generate(
        { usage: 'zpk', algorithm: '3des-2key', owner: { type: 'connector', id: `network-${terminal.id}` } },
        actor,
      );
      const pvk = await store.generate(
        { usage: 'pvk', algorithm: 'aes-256', owner: { type: 'connector', id: `issuer-${terminal.id}` } },
        actor,
      );
      const terminalTmk = importClearKey(hex(TMK), { algorithm: terminal.algorithm, usage: 'tmk' });

      const first = await store.issueWorkingKeys(
        { terminalId: terminal.id, tmkKeyId: tmk.id, set: 'pin+mac' },
        terminalActor,
      );
      assert.equal(first.field62.length, 40);
      assert.equal(first.version, 1);
      const onTerminal = parseWorkingKeysField62(first.field62, terminalTmk);
      assert.equal(materialOf(onTerminal.pin).toString('hex'), materialOf(first.pin).toString('hex'));
      assert.equal(first.mac.lengthBytes, 16);
      const message = Buffer.from(
        '0200702404C020C098111662220210000000130000000000000012340000023012021000123462',
        'hex',
      );
      const mac = generateMac(message, onTerminal.mac);
      const cached = await store.workingKeys(terminal.id);
      assert.equal(cached?.version, 1);
      assert.ok(verifyMac(message, mac, cached!.mac));
      assert.ok(!verifyMac(Buffer.concat([message, Buffer.from([0x30])]), mac, cached!.mac));
      const pinBlock = encryptPin(new Secret('123456'), PAN, onTerminal.pin);
      const zpkHandle = await store.activeHandle(zpk.owner, 'zpk');
      const pvkHandle = await store.handle(pvk.id);
      const pvv = pinVerificationValue(new Secret('123456'), PAN, pvkHandle);
      const underZpk = translatePinBlock(pinBlock, PAN, cached!.pin, zpkHandle);
      assert.ok(verifyPin(underZpk, PAN, zpkHandle, { pvk: pvkHandle, pvv }));
      const wrongPin = translatePinBlock(
        encryptPin(new Secret('654321'), PAN, onTerminal.pin),
        PAN,
        cached!.pin,
        zpkHandle,
      );
      assert.equal(verifyPin(wrongPin, PAN, zpkHandle, { pvk: pvkHandle, pvv }), false);

      // Sign in again, with the track key: 60 bytes, version 2, the first set retired in the same transaction.
      const second = await store.issueWorkingKeys(
        { terminalId: terminal.id, tmkKeyId: tmk.id, set: 'pin+mac+track' },
        terminalActor,
      );
      assert.equal(second.field62.length, 60);
      assert.equal(second.version, 2);
      assert.ok(second.track !== undefined && second.keyIds.track !== undefined);
      const rows = await t.db.query<{ id: string; usage: string; version: number; status: string }>(
        `SELECT id, usage, version, status FROM keys WHERE owner_type = 'terminal' AND owner_id = $1 AND usage <> 'tmk' ORDER BY version, usage`,
        [terminal.id],
      );
      assert.deepEqual(
        rows.rows.map((row) => `${row.usage} v${row.version} ${row.status}`),
        ['mac v1 retired', 'pin v1 retired', 'mac v2 active', 'pin v2 active', 'track v2 active'],
      );
      const now = await store.workingKeys(terminal.id);
      assert.equal(now?.version, 2);
      assert.equal(now?.mac, second.mac);
      const onTerminal2 = parseWorkingKeysField62(second.field62, terminalTmk);
      assert.ok(verifyMac(message, generateMac(message, onTerminal2.mac), now!.mac));
      assert.equal(first.mac.destroyed, false, 'the old set serves in-flight requests for the grace period');
      const [line] = await auditLines('keys.working_keys.issued', terminal.id).then((lines) =>
        lines.slice(-1),
      );
      assert.equal(line!.details['version'], 2);
      assert.deepEqual(
        [...(line!.details['retiredKeyIds'] as string[])].sort(),
        [first.keyIds.pin, first.keyIds.mac].sort(),
      );
      clock.advance(GRACE_MS + 1);
      await store.workingKeys(terminal.id);
      assert.equal(first.mac.destroyed, true);
      assert.equal(first.pin.destroyed, true);
      assert.equal(second.mac.destroyed, false);
    });
  }

  it("another node's sign-in is picked up when the caller says which version it expects", async () => {
    const terminalId = '40000001';
    const tmk = await store.importClear(
      {
        usage: 'tmk',
        algorithm: '3des-2key',
        owner: { type: 'terminal', id: terminalId },
        material: clear(TMK),
      },
      actor,
    );
    const nodeB = newStore();
    try {
      const v1 = await store.issueWorkingKeys({ terminalId, tmkKeyId: tmk.id, set: 'pin+mac' }, actor);
      const onB = await nodeB.workingKeys(terminalId);
      assert.equal(onB?.version, 1);
      assert.equal(onB?.mac.checkValue, v1.mac.checkValue);
      const v2 = await store.issueWorkingKeys({ terminalId, tmkKeyId: tmk.id, set: 'pin+mac' }, actor);
      assert.equal(
        (await nodeB.workingKeys(terminalId))?.version,
        1,
        'without a version, node B answers from its cache',
      );
      const fresh = await nodeB.workingKeys(terminalId, { version: 2 });
      assert.equal(fresh?.version, 2);
      assert.equal(fresh?.mac.checkValue, v2.mac.checkValue);
      assert.equal(await nodeB.workingKeys(terminalId, { version: 2 }), fresh, 'then cached');
      assert.equal(
        await nodeB.workingKeys('49999999'),
        undefined,
        'a terminal that never signed in has none',
      );
    } finally {
      nodeB.close();
    }
  });

  it('activeHandle reloads when the caller expects a newer version', async () => {
    const o = owner();
    await store.generate({ usage: 'zpk', algorithm: 'sm4', owner: o }, actor);
    const nodeB = newStore();
    try {
      const old = await nodeB.activeHandle(o, 'zpk');
      const v2 = await store.generate({ usage: 'zpk', algorithm: 'sm4', owner: o }, actor);
      assert.equal(await nodeB.activeHandle(o, 'zpk'), old);
      assert.equal((await nodeB.activeHandle(o, 'zpk', { minVersion: 2 })).checkValue, v2.checkValue);
    } finally {
      nodeB.close();
    }
  });

  it('refuses a TMK of another terminal, a key that is not a TMK, and rolls back with the caller', async () => {
    const terminalId = '40000002';
    const tmk = await store.importClear(
      { usage: 'tmk', algorithm: 'sm4', owner: { type: 'terminal', id: terminalId }, material: clear(TMK) },
      actor,
    );
    const mac = await store.generate(
      { usage: 'mac', algorithm: 'sm4', owner: { type: 'terminal', id: terminalId } },
      actor,
    );
    await rejects(
      store.issueWorkingKeys({ terminalId: '40000003', tmkKeyId: tmk.id, set: 'pin+mac' }, actor),
      'TILLPOINT_ERR_KEY_USAGE_MISMATCH',
      'tmkKeyId',
    );
    await rejects(
      store.issueWorkingKeys({ terminalId, tmkKeyId: mac.id, set: 'pin+mac' }, actor),
      'TILLPOINT_ERR_KEY_USAGE_MISMATCH',
      'tmkKeyId',
    );
    await rejects(
      store.issueWorkingKeys({ terminalId, tmkKeyId: newId(), set: 'pin+mac' }, actor),
      'TILLPOINT_ERR_KEY_NOT_FOUND',
      'tmkKeyId',
    );
    const before = await count('keys', 'owner_id = $1', [terminalId]);
    const auditBefore = await count('audit_log');
    await assert.rejects(
      transaction(t.db, async (tx) => {
        const issued = await store.issueWorkingKeys({ terminalId, tmkKeyId: tmk.id, set: 'pin+mac' }, actor, {
          tx,
        });
        assert.equal(issued.field62.length, 40);
        throw new Error('the caller fails after the keys were issued in its transaction');
      }),
      /the caller fails/,
    );
    assert.equal(await count('keys', 'owner_id = $1', [terminalId]), before);
    assert.equal(await count('audit_log'), auditBefore);
    assert.equal((await store.active({ type: 'terminal', id: terminalId }, 'mac'))?.id, mac.id);
  });
});

describe('rotateMaster', () => {
  it('re-seals every key in one transaction; old sealed bytes do not open under the new key; a store with the old key cannot open them', async () => {
    const db = await createTestDatabase();
    const oldKey = generateMasterKey();
    const newKey = generateMasterKey();
    const s1 = createKeyStore({ db: db.db, audit: createAudit({ clock }), masterKey: oldKey, clock });
    try {
      const tmk = await s1.importClear(
        {
          usage: 'tmk',
          algorithm: '3des-2key',
          owner: { type: 'terminal', id: '10000001' },
          material: clear(TMK),
        },
        actor,
      );
      const zpk = await s1.generate(
        { usage: 'zpk', algorithm: 'sm4', owner: { type: 'connector', id: 'network' } },
        actor,
      );
      const data = await s1.generate(
        { usage: 'data', algorithm: 'aes-256', owner: { type: 'institution', id: '48021000' } },
        actor,
      );
      await s1.issueWorkingKeys({ terminalId: '10000001', tmkKeyId: tmk.id, set: 'pin+mac' }, actor);
      const before = await db.db.query<{
        id: string;
        usage: 'tmk';
        algorithm: KeyAlgorithm;
        material_sealed: Buffer;
      }>('SELECT id, usage, algorithm, material_sealed FROM keys ORDER BY id');
      const rotation = await s1.rotateMaster(newKey, actor);
      assert.equal(rotation.resealed, 5);
      assert.equal(rotation.previousMasterKeyId, oldKey.id);
      assert.equal(s1.masterKeyId, newKey.id);
      const after = await db.db.query<{ id: string; master_key_id: string; material_sealed: Buffer }>(
        'SELECT id, master_key_id, material_sealed FROM keys ORDER BY id',
      );
      assert.ok(after.rows.every((row) => row.master_key_id === newKey.id));
      for (const old of before.rows) {
        const context = { keyId: old.id, usage: old.usage, algorithm: old.algorithm };
        assert.throws(() => openSealedKey(old.material_sealed, context, newKey), /sealed under master key/);
        const resealed = after.rows.find((row) => row.id === old.id)!;
        assert.throws(
          () => openSealedKey(resealed.material_sealed, context, oldKey),
          /sealed under master key/,
        );
      }
      // The store keeps working (new keys sealed under the new key); a fresh node with the new key opens everything.
      const later = await s1.generate(
        { usage: 'zmk', algorithm: 'sm4', owner: { type: 'connector', id: 'network' } },
        actor,
      );
      assert.equal((await s1.get(later.id)).masterKeyId, newKey.id);
      const withNew = createKeyStore({ db: db.db, audit: createAudit({ clock }), masterKey: newKey, clock });
      const withOld = createKeyStore({ db: db.db, audit: createAudit({ clock }), masterKey: oldKey, clock });
      try {
        for (const info of [tmk, zpk, data, later])
          assert.equal((await withNew.handle(info.id)).checkValue, info.checkValue);
        const error = await rejects(withOld.handle(zpk.id), 'TILLPOINT_ERR_SEALED_DATA_INVALID');
        assert.match(
          error.message,
          new RegExp(`sealed under master key ${newKey.id}, not the current master key ${oldKey.id}`),
        );
      } finally {
        withNew.close();
        withOld.close();
      }
      const lines = await db.db.query<{ details: string }>(
        `SELECT details FROM audit_log WHERE event = 'keys.master_key.rotated'`,
      );
      assert.equal(JSON.parse(lines.rows[0]!.details).resealed, 5);
      assert.ok((await createAudit({ clock }).verify(db.db)).ok);
    } finally {
      s1.close();
      await db.drop();
    }
  });

  it('names keys sealed under an unknown master key and re-seals nothing', async () => {
    const db = await createTestDatabase();
    const current = generateMasterKey();
    const s = createKeyStore({ db: db.db, audit: createAudit({ clock }), masterKey: current, clock });
    try {
      await s.generate(
        { usage: 'zpk', algorithm: 'sm4', owner: { type: 'connector', id: 'network' } },
        actor,
      );
      const stranger = generateMasterKey();
      const id = newId();
      const key = importClearKey(hex(TMK), { algorithm: 'sm4', usage: 'zmk' });
      await db.db.query(
        `INSERT INTO keys (id, label, usage, algorithm, owner_type, owner_id, check_value, version, status, material_sealed, master_key_id, created_at)
         VALUES ($1, 'zone master key from elsewhere', 'zmk', 'sm4', 'connector', 'network', $2, 1, 'active', $3, $4, now())`,
        [id, key.checkValue, sealKey(key, id, stranger), stranger.id],
      );
      const auditCount = async () =>
        (await db.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log')).rows[0]!.n;
      const auditBefore = await auditCount();
      const error = await rejects(
        s.rotateMaster(generateMasterKey(), actor),
        'TILLPOINT_ERR_SEALED_DATA_INVALID',
      );
      assert.match(
        error.message,
        new RegExp(`zone master key from elsewhere \\(${id}, sealed under ${stranger.id}\\)`),
      );
      assert.match(error.message, /Nothing was re-sealed/);
      const rows = await db.db.query<{ master_key_id: string }>('SELECT master_key_id FROM keys ORDER BY id');
      assert.deepEqual(rows.rows.map((row) => row.master_key_id).sort(), [current.id, stranger.id].sort());
      assert.equal(s.masterKeyId, current.id);
      assert.equal(await auditCount(), auditBefore);
    } finally {
      s.close();
      await db.drop();
    }
  });
});
