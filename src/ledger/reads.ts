import type { Queryable } from '../db/index.ts';
import { checkBusinessDate } from './rules.ts';
import type {
  Account,
  Balance,
  EntryKind,
  HistoryLine,
  IntegrityReport,
  Page,
  Posting,
  TrialBalance,
} from './types.ts';

// The ledger's reads: balances (now, from the balance rows; or as of a business date, from the
// postings), an account's history, the trial balance, and the integrity check that recomputes every
// balance from the postings. Ledger (ledger.ts) resolves account codes and calls these.

interface BalanceRow {
  debits_posted: bigint;
  credits_posted: bigint;
  debits_pending: bigint;
  credits_pending: bigint;
}

function isDebitNormal(account: Account): boolean {
  return account.type === 'asset' || account.type === 'expense';
}

/**
 * The balance of an account now (from its balance row), or as of the end of a business date (from
 * its postings; posted amounts only). Errors: VALIDATION (bad date).
 */
export async function balanceOf(db: Queryable, account: Account, asOf: string | undefined): Promise<Balance> {
  let row: BalanceRow;
  if (asOf === undefined) {
    const result = await db.query<BalanceRow>('SELECT * FROM ledger_balances WHERE account_id = $1', [
      account.id,
    ]);
    row = result.rows[0]!;
  } else {
    checkBusinessDate(asOf, 'asOf');
    const result = await db.query<{ debits: string; credits: string }>(
      `SELECT coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0)::text AS debits,
              coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0)::text AS credits
         FROM ledger_postings WHERE account_id = $1 AND business_date <= $2 AND NOT pending`,
      [account.id, asOf],
    );
    row = {
      debits_posted: BigInt(result.rows[0]!.debits),
      credits_posted: BigInt(result.rows[0]!.credits),
      debits_pending: 0n,
      credits_pending: 0n,
    };
  }
  const debitNormal = isDebitNormal(account);
  const posted = debitNormal
    ? row.debits_posted - row.credits_posted
    : row.credits_posted - row.debits_posted;
  const reserved = debitNormal ? row.credits_pending : row.debits_pending;
  return {
    account,
    asOf: asOf ?? null,
    debitsPostedMinor: row.debits_posted,
    creditsPostedMinor: row.credits_posted,
    debitsPendingMinor: row.debits_pending,
    creditsPendingMinor: row.credits_pending,
    postedMinor: posted,
    availableMinor: posted - reserved,
  };
}

/** Postings of an account, newest first; `startingAfter` is the last `postingId` of the previous page. */
export async function historyOf(
  db: Queryable,
  account: Account,
  options: { limit: number; startingAfter?: bigint },
): Promise<Page<HistoryLine>> {
  const result = await db.query<{
    id: bigint;
    entry_id: string;
    kind: EntryKind;
    side: Posting['side'];
    amount: bigint;
    pending: boolean;
    business_date: string;
    description: string;
    reference_type: string | null;
    reference_id: string | null;
    created_at: Date;
  }>(
    `SELECT p.id, p.entry_id, e.kind, p.side, p.amount, p.pending, p.business_date, e.description,
            e.reference_type, e.reference_id, e.created_at
       FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id
      WHERE p.account_id = $1 AND ($2::bigint IS NULL OR p.id < $2)
      ORDER BY p.id DESC LIMIT $3`,
    [account.id, options.startingAfter?.toString() ?? null, options.limit + 1],
  );
  const data = result.rows.slice(0, options.limit).map(
    (row): HistoryLine => ({
      postingId: row.id,
      entryId: row.entry_id,
      kind: row.kind,
      side: row.side,
      amountMinor: row.amount,
      pending: row.pending,
      businessDate: row.business_date,
      description: row.description,
      referenceType: row.reference_type,
      referenceId: row.reference_id,
      createdAt: row.created_at,
    }),
  );
  return { data, hasMore: result.rows.length > options.limit };
}

/**
 * Every account's posted debit or credit balance and, per currency, the totals: debits equal credits
 * (difference zero) in a sound ledger. `asOf` computes it from postings up to that business date.
 */
export async function trialBalance(db: Queryable, options: { asOf?: string } = {}): Promise<TrialBalance> {
  let rows: Array<{
    code: string;
    name: string;
    type: Account['type'];
    currency: string;
    debits: string;
    credits: string;
  }>;
  if (options.asOf === undefined) {
    const result = await db.query<(typeof rows)[number]>(
      `SELECT a.code, a.name, a.type, a.currency, b.debits_posted::text AS debits, b.credits_posted::text AS credits
         FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id ORDER BY a.code`,
    );
    rows = result.rows;
  } else {
    checkBusinessDate(options.asOf, 'asOf');
    const result = await db.query<(typeof rows)[number]>(
      `SELECT a.code, a.name, a.type, a.currency,
              coalesce(sum(p.amount) FILTER (WHERE p.side = 'debit'), 0)::text AS debits,
              coalesce(sum(p.amount) FILTER (WHERE p.side = 'credit'), 0)::text AS credits
         FROM ledger_accounts a
         LEFT JOIN ledger_postings p ON p.account_id = a.id AND NOT p.pending AND p.business_date <= $1
        GROUP BY a.id ORDER BY a.code`,
      [options.asOf],
    );
    rows = result.rows;
  }
  const totals = new Map<string, { debitMinor: bigint; creditMinor: bigint }>();
  const accounts = rows.map((row) => {
    const net = BigInt(row.debits) - BigInt(row.credits);
    const line = {
      code: row.code,
      name: row.name,
      type: row.type,
      currency: row.currency,
      debitMinor: net > 0n ? net : 0n,
      creditMinor: net < 0n ? -net : 0n,
    };
    const total = totals.get(row.currency) ?? { debitMinor: 0n, creditMinor: 0n };
    total.debitMinor += line.debitMinor;
    total.creditMinor += line.creditMinor;
    totals.set(row.currency, total);
    return line;
  });
  return {
    asOf: options.asOf ?? null,
    accounts,
    totals: [...totals].map(([currency, t]) => ({
      currency,
      debitMinor: t.debitMinor,
      creditMinor: t.creditMinor,
      differenceMinor: t.debitMinor - t.creditMinor,
    })),
  };
}

/**
 * Recomputes every balance from the postings (posted, and pending not yet resolved) and checks that
 * every entry balances: for `tillpoint ledger verify` and tests. Reads everything: not for hot paths.
 */
export async function verifyIntegrity(db: Queryable): Promise<IntegrityReport> {
  const result = await db.query<{
    code: string;
    debits_posted: bigint;
    credits_posted: bigint;
    debits_pending: bigint;
    credits_pending: bigint;
    dp: string;
    cp: string;
    dq: string;
    cq: string;
  }>(
    `SELECT a.code, b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending,
            coalesce(s.dp, 0)::text AS dp, coalesce(s.cp, 0)::text AS cp,
            coalesce(s.dq, 0)::text AS dq, coalesce(s.cq, 0)::text AS cq
       FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
       LEFT JOIN (
         SELECT p.account_id,
                sum(p.amount) FILTER (WHERE p.side = 'debit' AND NOT p.pending) AS dp,
                sum(p.amount) FILTER (WHERE p.side = 'credit' AND NOT p.pending) AS cp,
                sum(p.amount) FILTER (WHERE p.side = 'debit' AND p.pending AND r.id IS NULL) AS dq,
                sum(p.amount) FILTER (WHERE p.side = 'credit' AND p.pending AND r.id IS NULL) AS cq
           FROM ledger_postings p
           LEFT JOIN ledger_entries r ON p.pending AND r.pending_entry_id = p.entry_id
          GROUP BY p.account_id) s ON s.account_id = a.id
      ORDER BY a.code`,
  );
  const mismatches: IntegrityReport['mismatches'] = [];
  for (const row of result.rows) {
    const pairs: Array<[string, bigint, string]> = [
      ['debits_posted', row.debits_posted, row.dp],
      ['credits_posted', row.credits_posted, row.cp],
      ['debits_pending', row.debits_pending, row.dq],
      ['credits_pending', row.credits_pending, row.cq],
    ];
    for (const [field, stored, computed] of pairs) {
      if (stored !== BigInt(computed)) {
        mismatches.push({ code: row.code, field, stored, fromPostings: BigInt(computed) });
      }
    }
  }
  const unbalanced = await db.query<{ entry_id: string }>(
    `SELECT entry_id FROM ledger_postings GROUP BY entry_id, currency
     HAVING sum(CASE side WHEN 'debit' THEN amount ELSE -amount END) <> 0 OR count(*) < 1
     UNION
     SELECT e.id FROM ledger_entries e
      WHERE e.kind IN ('posted', 'pending', 'post_pending')
        AND (SELECT count(*) FROM ledger_postings p WHERE p.entry_id = e.id) < 2`,
  );
  const unbalancedEntries = unbalanced.rows.map((row) => row.entry_id);
  return {
    ok: mismatches.length === 0 && unbalancedEntries.length === 0,
    accountsChecked: result.rows.length,
    mismatches,
    unbalancedEntries,
  };
}
