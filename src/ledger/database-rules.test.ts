import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TestDatabase } from '../db/testing.ts';
import { ManualClock } from '../shared/clock.ts';
import type { Ledger } from './index.ts';
import { key, rejects, sale, useTestLedger } from './testing.ts';

let t: TestDatabase;
let ledger: Ledger;
const clock = new ManualClock('2026-11-26T02:00:00Z');

useTestLedger(clock, (test) => {
  ({ t, ledger } = test);
});

describe('rules in the database, whatever the code does', () => {
  type Raw = [code: string, side: 'debit' | 'credit', amount: number, currency?: string];

  /**
   * Writes an entry and its postings with plain SQL, runs the checks due at commit, and rolls back
   * (so that the balances, which plain SQL does not keep, stay true); returns the error's SQLSTATE.
   */
  async function rawEntry(postings: Raw[]): Promise<string | undefined> {
    const client = await t.db.pool.connect();
    try {
      await client.query('BEGIN');
      const inserted = await client.query<{ id: string }>(
        `INSERT INTO ledger_entries (id, idempotency_key, request_hash, kind, business_date, description)
         VALUES (gen_random_uuid(), gen_random_uuid()::text, 'x', 'posted', '2026-11-26', 'raw') RETURNING id`,
      );
      if (postings.length > 0) {
        await client.query(
          `INSERT INTO ledger_postings (entry_id, line, account_id, currency, side, amount, pending, business_date)
           SELECT $1, p.line, a.id, coalesce(p.currency, a.currency), p.side, p.amount, false, '2026-11-26'
             FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[]) WITH ORDINALITY AS p(code, side, amount, currency, line)
             JOIN ledger_accounts a ON a.code = p.code`,
          [
            inserted.rows[0]!.id,
            postings.map((p) => p[0]),
            postings.map((p) => p[1]),
            postings.map((p) => p[2]),
            postings.map((p) => p[3] ?? null),
          ],
        );
      }
      await client.query('SET CONSTRAINTS ALL IMMEDIATE');
      return undefined;
    } catch (error) {
      return (error as { code: string }).code;
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  const rows: Array<[string, Raw[], string | undefined]> = [
    [
      'a balanced entry',
      [
        ['bank', 'debit', 5],
        ['fees', 'credit', 5],
      ],
      undefined,
    ],
    [
      'an unbalanced entry',
      [
        ['bank', 'debit', 5],
        ['fees', 'credit', 4],
      ],
      'TPL01',
    ],
    ['a single posting', [['bank', 'debit', 5]], 'TPL02'],
    ['no posting (the deferred foreign key to its first posting)', [], '23503'],
    [
      'a closed account',
      [
        ['old', 'debit', 5],
        ['fees', 'credit', 5],
      ],
      'TPL03',
    ],
    [
      'a currency other than the account',
      [
        ['bank', 'debit', 5, 'USD'],
        ['fees', 'credit', 5],
      ],
      'TPL10',
    ],
  ];
  for (const [name, postings, code] of rows) {
    it(`${code === undefined ? 'accepts' : `refuses (${code})`} ${name}`, async () => {
      assert.equal(await rawEntry(postings), code);
    });
  }

  it('refuses a posting added to an entry after its transaction', async () => {
    const { entry } = await ledger.post(sale(1n));
    await assert.rejects(
      t.db.query(
        `INSERT INTO ledger_postings (entry_id, line, account_id, currency, side, amount, pending, business_date)
         SELECT $1, 9, id, 'CNY', 'debit', 1, false, '2026-11-26' FROM ledger_accounts WHERE code = 'bank'`,
        [entry.id],
      ),
      { code: 'TPL12' },
    );
  });

  it('refuses a posting to an account that does not exist', async () => {
    await assert.rejects(
      t.db.query(
        `WITH e AS (
           INSERT INTO ledger_entries (id, idempotency_key, request_hash, kind, business_date, description)
           VALUES (gen_random_uuid(), gen_random_uuid()::text, 'x', 'posted', '2026-11-26', 'raw') RETURNING id)
         INSERT INTO ledger_postings (entry_id, line, account_id, currency, side, amount, pending, business_date)
         SELECT e.id, v.line, coalesce(a.id, gen_random_uuid()), 'CNY', v.side, 5, false, '2026-11-26'
           FROM e, (VALUES (1::int2, 'debit', 'bank'), (2::int2, 'credit', 'nowhere')) v(line, side, code)
           LEFT JOIN ledger_accounts a ON a.code = v.code`,
      ),
      { code: 'TPL11' },
    );
  });

  it('refuses any change to the balance of a closed account', async () => {
    await assert.rejects(
      t.db.query(
        "UPDATE ledger_balances SET debits_posted = 1 WHERE account_id = (SELECT id FROM ledger_accounts WHERE code = 'old')",
      ),
      { code: 'TPL03' },
    );
  });

  it('refuses to close an account that still has a balance', async () => {
    await ledger.post({
      idempotencyKey: key(),
      description: 'fee collected',
      postings: [
        { account: 'bank', side: 'debit', amountMinor: 5n },
        { account: 'fees', side: 'credit', amountMinor: 5n },
      ],
    });
    await rejects(ledger.closeAccount('bank'), 'TILLPOINT_ERR_ACCOUNT_NOT_EMPTY');
  });
});
