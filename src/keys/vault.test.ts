import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAudit } from '../audit/index.ts';
import { transaction } from '../db/index.ts';
import { createTestDatabase, type TestDatabase } from '../db/testing.ts';
import { ManualClock } from '../shared/clock.ts';
import { TillpointError } from '../shared/errors.ts';
import { Secret } from '../shared/secret.ts';
import { generateMasterKey } from '../shared/secrets.ts';
import { rejects } from '../shared/testing.ts';
import { type CardVault, createCardVault, createKeyStore, type KeyStore } from './index.ts';

// Card data protection on a real PostgreSQL: tokens, keyed hashes, the vault and its audit lines, and
// no PAN in clear anywhere in the database.

const PAN = '6222021000000013';
const OTHER_PAN = '6250001000000010';
const clock = new ManualClock('2026-11-26T02:00:00Z');
const operator = { type: 'user', id: 'back-office-7', source: '10.0.0.7' } as const;

let t: TestDatabase;
let keys: KeyStore;
let vault: CardVault;

before(async () => {
  t = await createTestDatabase();
  const audit = createAudit({ clock });
  keys = createKeyStore({ db: t.db, audit, masterKey: generateMasterKey(), clock });
  vault = createCardVault({ db: t.db, audit, keys, clock, institution: '48021000' });
});

after(async () => {
  keys.close();
  await t.drop();
});

/** Every row of every table of the database, as text (bytea as hex). */
async function everything(): Promise<string> {
  const tables = await t.db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
  );
  const parts: string[] = [];
  for (const { table_name } of tables.rows) {
    const rows = await t.db.query<{ row: string }>(`SELECT t::text AS row FROM "${table_name}" t`);
    for (const row of rows.rows) parts.push(`${table_name}: ${row.row}`);
  }
  return parts.join('\n');
}

describe('card data protection', () => {
  it('protectPan refuses to work before ready(), then hashes and masks synchronously', async () => {
    assert.throws(
      () => vault.protectPan(new Secret(PAN)),
      (error: unknown) => {
        return error instanceof TillpointError && error.code === 'TILLPOINT_ERR_UNAVAILABLE';
      },
    );
    await vault.ready();
    const first = vault.protectPan(new Secret(PAN));
    assert.match(first.panHash, /^[0-9a-f]{64}$/);
    assert.equal(first.panMasked, '622202******0013');
    assert.deepEqual(vault.protectPan(new Secret(PAN)), first);
    assert.notEqual(vault.protectPan(new Secret(OTHER_PAN)).panHash, first.panHash);
    assert.throws(
      () => vault.protectPan(new Secret('62220210000')),
      (error: unknown) => error instanceof TillpointError && error.code === 'TILLPOINT_ERR_VALIDATION',
    );
    assert.throws(
      () => vault.protectPan(new Secret('6222-0210-0000-0013')),
      (error: unknown) => error instanceof TillpointError && !error.message.includes('6222'),
    );
    // The two data keys were created on first use, in the key store like any key.
    const dataKeys = await keys.list({ usage: 'data' });
    assert.deepEqual(dataKeys.map((key) => key.owner.id).sort(), ['48021000:pan-hash', '48021000:pan-vault']);
  });

  it('tokenize gives one token per PAN', async () => {
    await vault.ready();
    const first = await vault.tokenize(new Secret(PAN));
    const again = await vault.tokenize(new Secret(PAN));
    const other = await vault.tokenize(new Secret(OTHER_PAN));
    assert.match(first.token, /^tok_[A-Za-z0-9_-]{22}$/);
    assert.equal(first.created, true);
    assert.equal(again.token, first.token);
    assert.equal(again.created, false);
    assert.notEqual(other.token, first.token);
    assert.equal(first.panMasked, '622202******0013');
    const concurrent = await Promise.all(
      Array.from({ length: 8 }, () => vault.tokenize(new Secret('6222021000000021'))),
    );
    assert.equal(new Set(concurrent.map((c) => c.token)).size, 1);
  });

  it('stores the PAN in the vault only on request, reveals it with an audit line, and refuses what does not fit', async () => {
    await vault.ready();
    const { token } = await vault.tokenize(new Secret(PAN));
    await rejects(
      vault.vaultReveal(token, operator, 'refund to card'),
      'TILLPOINT_ERR_CARD_TOKEN_NOT_FOUND',
      'token',
    );
    await transaction(t.db, (tx) => vault.vaultStore(token, new Secret(PAN), { tx }));
    await vault.vaultStore(token, new Secret(PAN)); // idempotent
    await rejects(vault.vaultStore(token, new Secret(OTHER_PAN)), 'TILLPOINT_ERR_VALIDATION', 'pan');
    await rejects(
      vault.vaultStore('tok_AAAAAAAAAAAAAAAAAAAAAA', new Secret(PAN)),
      'TILLPOINT_ERR_CARD_TOKEN_NOT_FOUND',
    );
    await rejects(vault.vaultReveal(token, operator, ' '), 'TILLPOINT_ERR_VALIDATION', 'reason');

    const revealed = await vault.vaultReveal(token, operator, 'refund to card, case 42');
    assert.equal(revealed.expose(), PAN);
    assert.equal(String(revealed), '***');
    const lines = await t.db.query<{
      actor_id: string;
      source: string;
      outcome: string;
      details: string;
      object_id: string;
    }>(
      `SELECT actor_id, source, outcome, details, object_id FROM audit_log WHERE event = 'keys.card_pan.revealed' ORDER BY seq`,
    );
    assert.deepEqual(
      lines.rows.map((row) => [row.outcome, row.object_id, JSON.parse(row.details)]),
      [
        ['failure', token, { found: false, reason: 'refund to card' }],
        ['success', token, { panMasked: '622202******0013', reason: 'refund to card, case 42' }],
      ],
    );
    assert.equal(lines.rows[1]!.actor_id, 'back-office-7');
    assert.equal(lines.rows[1]!.source, '10.0.0.7');
  });

  it('a vault row moved to another token does not open', async () => {
    await vault.ready();
    const a = await vault.tokenize(new Secret('6222021000000039'));
    const b = await vault.tokenize(new Secret('6222021000000047'));
    await vault.vaultStore(a.token, new Secret('6222021000000039'));
    await vault.vaultStore(b.token, new Secret('6222021000000047'));
    await t.db.query(
      'UPDATE card_vault SET pan_encrypted = (SELECT pan_encrypted FROM card_vault WHERE token = $1) WHERE token = $2',
      [a.token, b.token],
    );
    await rejects(vault.vaultReveal(b.token, operator, 'test'), 'TILLPOINT_ERR_SEALED_DATA_INVALID');
    assert.equal((await vault.vaultReveal(a.token, operator, 'test')).expose(), '6222021000000039');
  });

  it('no table holds a PAN in clear: not as digits, ASCII hex or BCD', async () => {
    await vault.ready();
    const pans = [PAN, OTHER_PAN, '6222021000000021', '6222021000000039', '6222021000000047'];
    const dump = await everything();
    assert.match(dump, /card_tokens: \(tok_/, 'the dump covers the tables');
    assert.match(dump, /card_vault: \(tok_/, 'the dump covers the vault');
    // BCD (fields 2 and 35) prints as the digits themselves, so the digit check covers it.
    for (const pan of pans) {
      assert.equal(dump.includes(pan), false, 'digits');
      assert.equal(
        dump.toLowerCase().includes(Buffer.from(pan, 'ascii').toString('hex')),
        false,
        'ASCII hex',
      );
      assert.equal(dump.includes(pan.slice(6)), false, 'the hidden middle and end');
    }
  });
});
