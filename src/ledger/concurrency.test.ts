import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createAudit } from '../audit/index.ts';
import { transaction } from '../db/index.ts';
import { createTestDatabase, type TestDatabase } from '../db/testing.ts';
import { systemClock } from '../shared/clock.ts';
import { Ledger } from './index.ts';

// Many writers on the same accounts at once lose no update: 8 workers × 500 entries over a few hot
// accounts, each worker with its own ledger instance (its own group commits) or its own transactions.

const WORKERS = 8;
const ENTRIES_PER_WORKER = 500;
const ACCOUNTS = ['hot:a', 'hot:b', 'hot:c', 'hot:d', 'hot:e'];

let t: TestDatabase;

before(async () => {
  t = await createTestDatabase({ poolSize: 20 });
});
after(async () => {
  await t.drop();
});

/** A small deterministic generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state;
  };
}

it(`${WORKERS} concurrent writers × ${ENTRIES_PER_WORKER} entries: every balance equals its postings`, async () => {
  const audit = createAudit({ clock: systemClock });
  const make = () => new Ledger({ db: t.db, audit, clock: systemClock, timeZone: 'Asia/Shanghai' });
  const setup = make();
  for (const code of ACCOUNTS) await setup.openAccount({ code, name: code, type: 'asset' });
  const expected = new Map<string, bigint>(ACCOUNTS.map((code) => [code, 0n]));

  await Promise.all(
    Array.from({ length: WORKERS }, async (_, worker) => {
      const ledger = make();
      const next = random(worker + 1);
      for (let i = 0; i < ENTRIES_PER_WORKER; i++) {
        const from = ACCOUNTS[next() % ACCOUNTS.length]!;
        let to = ACCOUNTS[next() % ACCOUNTS.length]!;
        if (to === from) to = ACCOUNTS[(ACCOUNTS.indexOf(from) + 1) % ACCOUNTS.length]!;
        const amountMinor = BigInt(1 + (next() % 100_000));
        const input = {
          idempotencyKey: `w${worker}-${i}`,
          description: 'transfer',
          postings: [
            { account: to, side: 'debit' as const, amountMinor },
            { account: from, side: 'credit' as const, amountMinor },
          ],
        };
        // Half the workers use their own transactions, the others the group commit.
        if (worker % 2 === 0) await transaction(t.db, (tx) => ledger.post(input, { tx }));
        else await ledger.post(input);
        expected.set(to, expected.get(to)! + amountMinor);
        expected.set(from, expected.get(from)! - amountMinor);
      }
    }),
  );

  const ledger = make();
  for (const code of ACCOUNTS) {
    assert.equal((await ledger.balance(code)).postedMinor, expected.get(code), code);
  }
  const count = await t.db.query('SELECT count(*)::int AS n FROM ledger_entries');
  assert.equal(count.rows[0]!.n, WORKERS * ENTRIES_PER_WORKER);
  const report = await ledger.verifyIntegrity();
  assert.deepEqual(report.mismatches, []);
  assert.ok(report.ok);
  const trial = await ledger.trialBalance();
  assert.deepEqual(
    trial.totals.map((total) => total.differenceMinor),
    [0n],
  );
});
