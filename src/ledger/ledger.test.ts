import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TestDatabase } from '../db/testing.ts';
import { ManualClock } from '../shared/clock.ts';
import type { ErrorCode, TillpointError } from '../shared/errors.ts';
import type { EntryInput, Ledger } from './index.ts';
import { key, rejects, sale, useTestLedger } from './testing.ts';

let t: TestDatabase;
let ledger: Ledger;
const clock = new ManualClock('2026-11-26T02:00:00Z');

useTestLedger(clock, (test) => {
  ({ t, ledger } = test);
});

describe('posting', () => {
  it('posts a balanced entry and moves both balances', async () => {
    const before = await ledger.balance('merchant:m1:pending');
    const { entry, created } = await ledger.post(sale(1234n));
    assert.equal(created, true);
    assert.equal(entry.kind, 'posted');
    assert.equal(entry.businessDate, '2026-11-26');
    assert.equal(entry.postings.length, 2);
    const after = await ledger.balance('merchant:m1:pending');
    assert.equal(after.postedMinor - before.postedMinor, 1234n);
    assert.equal(after.availableMinor, after.postedMinor);
  });

  it('uses the institution time zone for the business date', async () => {
    clock.set('2026-11-26T17:30:00Z'); // 01:30 on the 27th in Shanghai
    const { entry } = await ledger.post(sale(1n));
    assert.equal(entry.businessDate, '2026-11-27');
    clock.set('2026-11-26T02:00:00Z');
  });

  it('returns the first entry for a repeated key and writes nothing', async () => {
    const input = sale(500n);
    const first = await ledger.post(input);
    const balance = await ledger.balance('merchant:m1:pending');
    const second = await ledger.post({ ...input });
    assert.equal(second.created, false);
    assert.equal(second.entry.id, first.entry.id);
    assert.deepEqual((await ledger.balance('merchant:m1:pending')).postedMinor, balance.postedMinor);
  });

  it('refuses a repeated key with other postings', async () => {
    const input = sale(700n);
    await ledger.post(input);
    await rejects(ledger.post({ ...input, postings: sale(701n).postings }), 'TILLPOINT_ERR_ENTRY_CONFLICT');
  });

  it('posts concurrent repeats of one key once', async () => {
    const input = sale(900n);
    const before = await ledger.balance('merchant:m1:pending');
    const results = await Promise.all(Array.from({ length: 10 }, () => ledger.post({ ...input })));
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.equal(new Set(results.map((r) => r.entry.id)).size, 1);
    const after = await ledger.balance('merchant:m1:pending');
    assert.equal(after.postedMinor - before.postedMinor, 900n);
  });

  // One row per way an entry can be wrong, each leaving nothing written.
  const bad: Array<[string, () => EntryInput, ErrorCode, string?]> = [
    [
      'one posting',
      () => ({ ...sale(1n), postings: [{ account: 'bank', side: 'debit', amountMinor: 1n }] }),
      'TILLPOINT_ERR_ENTRY_TOO_FEW_POSTINGS',
      'postings',
    ],
    [
      'unbalanced',
      () => ({
        ...sale(1n),
        postings: [
          { account: 'bank', side: 'debit', amountMinor: 100n },
          { account: 'fees', side: 'credit', amountMinor: 99n },
        ],
      }),
      'TILLPOINT_ERR_ENTRY_UNBALANCED',
      'postings',
    ],
    [
      'balanced in total but not per currency',
      () => ({
        ...sale(1n),
        postings: [
          { account: 'bank', side: 'debit', amountMinor: 100n },
          { account: 'usd:bank', side: 'credit', amountMinor: 100n },
        ],
      }),
      'TILLPOINT_ERR_ENTRY_UNBALANCED',
    ],
    [
      'zero amount',
      () => ({
        ...sale(1n),
        postings: [
          { account: 'bank', side: 'debit', amountMinor: 0n },
          { account: 'fees', side: 'credit', amountMinor: 0n },
        ],
      }),
      'TILLPOINT_ERR_AMOUNT_INVALID',
      'postings[0].amountMinor',
    ],
    [
      'negative amount',
      () => ({
        ...sale(1n),
        postings: [
          { account: 'bank', side: 'debit', amountMinor: -5n },
          { account: 'fees', side: 'credit', amountMinor: -5n },
        ],
      }),
      'TILLPOINT_ERR_AMOUNT_INVALID',
    ],
    [
      'amount beyond 10^15',
      () => ({
        ...sale(1n),
        postings: [
          { account: 'bank', side: 'debit', amountMinor: 10n ** 15n + 1n },
          { account: 'fees', side: 'credit', amountMinor: 10n ** 15n + 1n },
        ],
      }),
      'TILLPOINT_ERR_AMOUNT_INVALID',
    ],
    [
      'unknown account',
      () => ({
        ...sale(1n),
        postings: [
          { account: 'bank', side: 'debit', amountMinor: 1n },
          { account: 'nope', side: 'credit', amountMinor: 1n },
        ],
      }),
      'TILLPOINT_ERR_ACCOUNT_NOT_FOUND',
      'postings[1].account',
    ],
    [
      'currency other than the account',
      () => ({
        ...sale(1n),
        postings: [
          { account: 'bank', side: 'debit', amountMinor: 1n, currency: 'USD' },
          { account: 'fees', side: 'credit', amountMinor: 1n },
        ],
      }),
      'TILLPOINT_ERR_CURRENCY_MISMATCH',
      'postings[0].currency',
    ],
    [
      'closed account',
      () => ({
        ...sale(1n),
        postings: [
          { account: 'old', side: 'debit', amountMinor: 1n },
          { account: 'fees', side: 'credit', amountMinor: 1n },
        ],
      }),
      'TILLPOINT_ERR_ACCOUNT_CLOSED',
    ],
    [
      'overdraft of an account that may not go negative',
      () => ({
        ...sale(1n),
        postings: [
          { account: 'wallet:w1', side: 'debit', amountMinor: 1n },
          { account: 'fees', side: 'credit', amountMinor: 1n },
        ],
      }),
      'TILLPOINT_ERR_INSUFFICIENT_BALANCE',
    ],
    ['bad business date', () => ({ ...sale(1n), businessDate: '2026-02-30' }), 'TILLPOINT_ERR_VALIDATION'],
    ['empty idempotency key', () => ({ ...sale(1n), idempotencyKey: '' }), 'TILLPOINT_ERR_VALIDATION'],
    ['empty description', () => ({ ...sale(1n), description: '' }), 'TILLPOINT_ERR_VALIDATION'],
  ];
  for (const [name, make, code, param] of bad) {
    it(`refuses an entry with ${name}, writing nothing`, async () => {
      const input = make();
      const before = await t.db.query('SELECT count(*)::int AS n FROM ledger_entries');
      await rejects(ledger.post(input), code, param);
      const after = await t.db.query('SELECT count(*)::int AS n FROM ledger_entries');
      assert.equal(after.rows[0]!.n, before.rows[0]!.n);
      if (input.idempotencyKey !== '') {
        const found = await t.db.query('SELECT 1 FROM ledger_entries WHERE idempotency_key = $1', [
          input.idempotencyKey,
        ]);
        assert.equal(found.rowCount, 0);
      }
    });
  }

  it('lets one bad entry fail alone when posts are grouped into one commit', async () => {
    const good = Array.from({ length: 20 }, () => sale(10n));
    const overdraft: EntryInput = {
      idempotencyKey: key(),
      description: 'overdraft',
      postings: [
        { account: 'wallet:w1', side: 'debit', amountMinor: 1n },
        { account: 'fees', side: 'credit', amountMinor: 1n },
      ],
    };
    const results = await Promise.allSettled(
      [...good.slice(0, 10), overdraft, ...good.slice(10)].map((e) => ledger.post(e)),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 20);
    const failed = results.filter((r) => r.status === 'rejected');
    assert.equal(failed.length, 1);
    assert.equal(
      ((failed[0] as PromiseRejectedResult).reason as TillpointError).code,
      'TILLPOINT_ERR_INSUFFICIENT_BALANCE',
    );
  });
});

describe('accounts that may not go negative', () => {
  it('take credits, then debits down to exactly zero, and no further', async () => {
    await ledger.post({
      idempotencyKey: key(),
      description: 'load',
      postings: [
        { account: 'bank', side: 'debit', amountMinor: 1000n },
        { account: 'wallet:w1', side: 'credit', amountMinor: 1000n },
      ],
    });
    const spend = (amountMinor: bigint): EntryInput => ({
      idempotencyKey: key(),
      description: 'spend',
      postings: [
        { account: 'wallet:w1', side: 'debit', amountMinor },
        { account: 'fees', side: 'credit', amountMinor },
      ],
    });
    await ledger.post(spend(600n));
    await rejects(ledger.post(spend(401n)), 'TILLPOINT_ERR_INSUFFICIENT_BALANCE');
    await ledger.post(spend(400n));
    assert.equal((await ledger.balance('wallet:w1')).postedMinor, 0n);
  });
});

describe('corrections', () => {
  it('reverses a posted entry once, with swapped postings that reference it', async () => {
    const before = await ledger.balance('merchant:m1:pending');
    const { entry } = await ledger.post(sale(777n));
    const reversal = await ledger.reverse({ idempotencyKey: key(), entryId: entry.id });
    assert.equal(reversal.entry.reversesEntryId, entry.id);
    assert.deepEqual(
      reversal.entry.postings.map((p) => [p.accountCode, p.side, p.amountMinor]),
      [
        ['network:receivable', 'credit', 777n],
        ['merchant:m1:pending', 'debit', 777n],
      ],
    );
    assert.equal((await ledger.balance('merchant:m1:pending')).postedMinor, before.postedMinor);
    await rejects(
      ledger.reverse({ idempotencyKey: key(), entryId: entry.id }),
      'TILLPOINT_ERR_ENTRY_ALREADY_REVERSED',
    );
  });

  it('is enforced by the database: entries and postings cannot be changed or deleted', async () => {
    const { entry } = await ledger.post(sale(1n));
    await assert.rejects(
      t.db.query("UPDATE ledger_entries SET description = 'x' WHERE id = $1", [entry.id]),
      {
        code: 'TPL05',
      },
    );
    await assert.rejects(t.db.query('DELETE FROM ledger_postings WHERE entry_id = $1', [entry.id]), {
      code: 'TPL05',
    });
    // Refused by the entries' foreign key to their postings before the append-only trigger runs.
    await assert.rejects(t.db.query('TRUNCATE ledger_postings'), (error: { code?: string }) =>
      ['TPL05', '0A000'].includes(error.code ?? ''),
    );
  });
});

describe('reads', () => {
  it('gives a balance as of a business date', async () => {
    await ledger.openAccount({ code: 'dated', name: 'Dated', type: 'liability' });
    const post = (amountMinor: bigint, businessDate: string) =>
      ledger.post({
        idempotencyKey: key(),
        description: 'dated',
        businessDate,
        postings: [
          { account: 'bank', side: 'debit', amountMinor },
          { account: 'dated', side: 'credit', amountMinor },
        ],
      });
    await post(100n, '2026-11-01');
    await post(20n, '2026-11-02');
    await post(3n, '2026-11-03');
    assert.equal((await ledger.balance('dated', { asOf: '2026-10-31' })).postedMinor, 0n);
    assert.equal((await ledger.balance('dated', { asOf: '2026-11-02' })).postedMinor, 120n);
    assert.equal((await ledger.balance('dated')).postedMinor, 123n);
  });

  it('pages through an account history with a cursor, newest first, without gaps or repeats', async () => {
    await ledger.openAccount({ code: 'paged', name: 'Paged', type: 'liability' });
    for (let i = 1; i <= 7; i++) {
      await ledger.post({
        idempotencyKey: key(),
        description: `p${i}`,
        postings: [
          { account: 'bank', side: 'debit', amountMinor: BigInt(i) },
          { account: 'paged', side: 'credit', amountMinor: BigInt(i) },
        ],
      });
    }
    const seen: bigint[] = [];
    let cursor: bigint | undefined;
    for (;;) {
      const page = await ledger.history('paged', { limit: 3, startingAfter: cursor });
      seen.push(...page.data.map((line) => line.amountMinor));
      if (!page.hasMore) break;
      cursor = page.data.at(-1)!.postingId;
    }
    assert.deepEqual(seen, [7n, 6n, 5n, 4n, 3n, 2n, 1n]);
  });

  it('keeps the trial balance at zero and every balance equal to its postings', async () => {
    const trial = await ledger.trialBalance();
    for (const total of trial.totals) assert.equal(total.differenceMinor, 0n, total.currency);
    const report = await ledger.verifyIntegrity();
    assert.deepEqual(report.mismatches, []);
    assert.deepEqual(report.unbalancedEntries, []);
    assert.ok(report.ok);
  });

  it('reports an account opened twice with the same facts as the same account, with other facts as an error', async () => {
    const again = await ledger.openAccount({ code: 'bank', name: 'Bank', type: 'asset' });
    assert.equal(again.created, false);
    await rejects(
      ledger.openAccount({ code: 'bank', name: 'Bank', type: 'liability' }),
      'TILLPOINT_ERR_ACCOUNT_EXISTS',
    );
    await rejects(
      ledger.openAccount({ code: 'Bad Code', name: 'x', type: 'asset' }),
      'TILLPOINT_ERR_VALIDATION',
      'code',
    );
    await rejects(ledger.getAccount('missing'), 'TILLPOINT_ERR_ACCOUNT_NOT_FOUND');
  });
});
