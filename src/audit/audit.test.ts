import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { transaction } from '../db/index.ts';
import { createTestDatabase, type TestDatabase } from '../db/testing.ts';
import { systemClock } from '../shared/clock.ts';
import { lineHash } from './audit.ts';
import { createAudit } from './index.ts';

let t: TestDatabase;
const audit = createAudit({ clock: systemClock });

before(async () => {
  t = await createTestDatabase();
});
after(async () => {
  await t.drop();
});

const event = (n: number) => ({
  actor: { type: 'user' as const, id: `user-${n}` },
  event: 'test.thing.changed',
  object: { type: 'thing', id: String(n) },
  source: '127.0.0.1',
  details: { n, pan: '6222021000000013', pinBlock: '503EFE85F255C14A' },
});

async function tamper(sql: string, values: unknown[] = []): Promise<void> {
  await transaction(t.db, async (tx) => {
    await tx.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
    await tx.query(sql, values);
    await tx.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only');
  });
}

describe('audit log', () => {
  it('writes lines with the change, and none when the change rolls back', async () => {
    await transaction(t.db, (tx) => audit.record(tx, [event(1), event(2)]));
    await assert.rejects(
      transaction(t.db, async (tx) => {
        await audit.record(tx, event(3));
        throw new Error('the change failed');
      }),
    );
    const page = await audit.list(t.db, { limit: 10 });
    assert.deepEqual(
      page.data.map((line) => line.objectId),
      ['2', '1'],
    );
    assert.equal(page.data[0]!.details['pan'], '622202******0013');
    assert.equal(page.data[0]!.details['pinBlock'], undefined);
  });

  it('keeps one gapless chain under concurrent writers', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        transaction(t.db, (tx) => audit.record(tx, [event(100 + i), event(200 + i)])),
      ),
    );
    const result = await audit.verify(t.db);
    assert.equal(result.ok, true, JSON.stringify(result.problems));
    assert.equal(result.lines, 42);
    assert.equal(result.head?.seq, 42n);
  });

  it('refuses UPDATE and DELETE through SQL', async () => {
    await assert.rejects(t.db.query("UPDATE audit_log SET actor_id = 'x'"), { code: 'TPA01' });
    await assert.rejects(t.db.query('DELETE FROM audit_log'), { code: 'TPA01' });
  });

  it('finds an edited line', async () => {
    await tamper("UPDATE audit_log SET actor_id = 'mallory' WHERE seq = 5");
    const result = await audit.verify(t.db);
    assert.equal(result.ok, false);
    assert.deepEqual(
      result.problems.map((p) => [p.seq, p.problem]),
      [[5n, 'hash_mismatch']],
    );
  });

  it('finds a deleted line', async () => {
    await tamper('DELETE FROM audit_log WHERE seq = 10');
    const result = await audit.verify(t.db);
    const problems = result.problems.map((p) => [p.seq, p.problem]);
    assert.deepEqual(problems, [
      [5n, 'hash_mismatch'],
      [11n, 'gap'],
      [11n, 'chain_break'],
    ]);
  });

  it('finds a line rewritten with a recomputed hash, by the next line', async () => {
    const row = (
      await t.db.query<{
        seq: bigint;
        id: string;
        occurred_at: Date;
        actor_type: string;
        actor_id: string;
        event: string;
        object_type: string | null;
        object_id: string | null;
        source: string | null;
        outcome: string;
        details: string;
        prev_hash: string;
      }>('SELECT * FROM audit_log WHERE seq = 20')
    ).rows[0];
    assert.ok(row);
    // A forger recomputes line 20's own hash; line 21 still points at the old one.
    const forged = { ...row, details: '{"n":999}' };
    const hash = lineHash({
      seq: forged.seq,
      id: forged.id,
      occurredAt: forged.occurred_at,
      actorType: forged.actor_type,
      actorId: forged.actor_id,
      event: forged.event,
      objectType: forged.object_type,
      objectId: forged.object_id,
      source: forged.source,
      outcome: forged.outcome,
      details: forged.details,
      prevHash: forged.prev_hash,
    });
    await tamper('UPDATE audit_log SET details = $1, hash = $2 WHERE seq = 20', [forged.details, hash]);
    const result = await audit.verify(t.db);
    assert.ok(result.problems.some((p) => p.seq === 21n && p.problem === 'chain_break'));
    assert.ok(!result.problems.some((p) => p.seq === 20n));
  });
});
