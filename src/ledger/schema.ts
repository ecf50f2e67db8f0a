import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  char,
  check,
  date,
  foreignKey,
  index,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

// The ledger's tables. Rules the database enforces beyond these constraints (balanced entries with
// at least two postings, phases, no change to a closed account, immutability) are in the
// hand-written migrations `0001_ledger_rules.sql` and `0013_ledger_statement_checks.sql`.

export const ledgerAccounts = pgTable(
  'ledger_accounts',
  {
    id: uuid('id').primaryKey(),
    /** Human-readable and unique, e.g. `merchant:102314054110001:pending`. Never changes. */
    code: text('code').notNull().unique(),
    name: text('name').notNull(),
    type: text('type', { enum: ['asset', 'liability', 'revenue', 'expense', 'equity'] }).notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    ownerType: text('owner_type'),
    ownerId: text('owner_id'),
    status: text('status', { enum: ['open', 'closed'] })
      .notNull()
      .default('open'),
    /** The account may not go negative: its available balance never drops below zero. */
    noNegative: boolean('no_negative').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    closedAt: timestamp('closed_at', { withTimezone: true }),
  },
  (t) => [
    index('ledger_accounts_owner').on(t.ownerType, t.ownerId),
    check('ledger_accounts_type', sql`${t.type} IN ('asset', 'liability', 'revenue', 'expense', 'equity')`),
    check('ledger_accounts_status', sql`${t.status} IN ('open', 'closed')`),
    check('ledger_accounts_currency', sql`${t.currency} ~ '^[A-Z]{3}$'`),
    check('ledger_accounts_code', sql`${t.code} ~ '^[a-z0-9][a-z0-9:._-]{0,199}$'`),
  ],
);

/**
 * One row per account, kept by the database from the postings (TigerBeetle's four counters).
 * `normal_side` and `no_negative` are copied from the account so that the CHECK can see them.
 */
export const ledgerBalances = pgTable(
  'ledger_balances',
  {
    accountId: uuid('account_id')
      .primaryKey()
      .references(() => ledgerAccounts.id),
    normalSide: text('normal_side', { enum: ['debit', 'credit'] }).notNull(),
    noNegative: boolean('no_negative').notNull(),
    /** Copied from the account when it closes: a trigger then refuses any change to the row. */
    closed: boolean('closed').notNull().default(false),
    debitsPosted: bigint('debits_posted', { mode: 'bigint' }).notNull().default(sql`0`),
    creditsPosted: bigint('credits_posted', { mode: 'bigint' }).notNull().default(sql`0`),
    debitsPending: bigint('debits_pending', { mode: 'bigint' }).notNull().default(sql`0`),
    creditsPending: bigint('credits_pending', { mode: 'bigint' }).notNull().default(sql`0`),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check(
      'ledger_balances_counters',
      sql`${t.debitsPosted} >= 0 AND ${t.creditsPosted} >= 0 AND ${t.debitsPending} >= 0 AND ${t.creditsPending} >= 0`,
    ),
    check(
      'ledger_balances_no_negative',
      sql`NOT ${t.noNegative} OR CASE ${t.normalSide}
        WHEN 'debit' THEN ${t.creditsPosted} + ${t.creditsPending} <= ${t.debitsPosted}
        ELSE ${t.debitsPosted} + ${t.debitsPending} <= ${t.creditsPosted} END`,
    ),
  ],
);

export const entryKinds = ['posted', 'pending', 'post_pending', 'void_pending', 'expire_pending'] as const;

export const ledgerEntries = pgTable(
  'ledger_entries',
  {
    id: uuid('id').primaryKey(),
    idempotencyKey: text('idempotency_key').notNull().unique(),
    /** sha-256 of what the entry asks for (kind, references, postings): a reused key must match it. */
    requestHash: text('request_hash').notNull(),
    kind: text('kind', { enum: entryKinds }).notNull(),
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    description: text('description').notNull(),
    referenceType: text('reference_type'),
    referenceId: text('reference_id'),
    /** For post/void/expire: the pending entry it resolves (at most one resolution each). */
    pendingEntryId: uuid('pending_entry_id'),
    /** For a correction: the entry it reverses (at most one reversal each). */
    reversesEntryId: uuid('reverses_entry_id'),
    /** For a pending entry: when it expires if neither posted nor voided. */
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /**
     * The transaction that wrote the entry: the statement check of the postings refuses a posting
     * whose entry was written by another transaction.
     */
    createdTx: bigint('created_tx', { mode: 'bigint' })
      .notNull()
      .default(sql`(pg_current_xact_id()::text)::bigint`),
    /**
     * 1 for the kinds that have postings, null for releases: the target of a deferred foreign key to
     * the entry's first posting, so that the database refuses, at commit, an entry without postings.
     */
    firstPostingLine: smallint('first_posting_line').generatedAlwaysAs(
      sql`CASE WHEN kind IN ('void_pending', 'expire_pending') THEN NULL ELSE 1 END`,
    ),
  },
  (t) => [
    uniqueIndex('ledger_entries_pending_entry_id_unique')
      .on(t.pendingEntryId)
      .where(sql`${t.pendingEntryId} IS NOT NULL`),
    uniqueIndex('ledger_entries_reverses_entry_id_unique')
      .on(t.reversesEntryId)
      .where(sql`${t.reversesEntryId} IS NOT NULL`),
    foreignKey({ name: 'ledger_entries_pending', columns: [t.pendingEntryId], foreignColumns: [t.id] }),
    foreignKey({ name: 'ledger_entries_reverses', columns: [t.reversesEntryId], foreignColumns: [t.id] }),
    index('ledger_entries_reference')
      .on(t.referenceType, t.referenceId)
      .where(sql`${t.referenceId} IS NOT NULL`),
    index('ledger_entries_expiring')
      .on(t.expiresAt)
      .where(sql`${t.kind} = 'pending' AND ${t.expiresAt} IS NOT NULL`),
    check(
      'ledger_entries_kind',
      sql`${t.kind} IN ('posted', 'pending', 'post_pending', 'void_pending', 'expire_pending')`,
    ),
    check(
      'ledger_entries_resolution_has_pending',
      sql`(${t.kind} IN ('post_pending', 'void_pending', 'expire_pending')) = (${t.pendingEntryId} IS NOT NULL)`,
    ),
    check('ledger_entries_expiry_only_pending', sql`${t.expiresAt} IS NULL OR ${t.kind} = 'pending'`),
    check('ledger_entries_reversal_is_posted', sql`${t.reversesEntryId} IS NULL OR ${t.kind} = 'posted'`),
  ],
);

export const ledgerPostings = pgTable(
  'ledger_postings',
  {
    entryId: uuid('entry_id').notNull(),
    /** 1, 2, … within the entry. */
    line: smallint('line').notNull(),
    /** Orders an account's history (its cursor); postings are found by entry through the primary key. */
    id: bigint('id', { mode: 'bigint' }).notNull().generatedAlwaysAsIdentity({ cache: 100 }),
    accountId: uuid('account_id').notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    side: text('side', { enum: ['debit', 'credit'] }).notNull(),
    amount: bigint('amount', { mode: 'bigint' }).notNull(),
    /** True for the postings of a pending entry: they count in the pending balances only. */
    pending: boolean('pending').notNull(),
    businessDate: date('business_date', { mode: 'string' }).notNull(),
  },
  (t) => [
    primaryKey({ name: 'ledger_postings_pkey', columns: [t.entryId, t.line] }),
    // Its entry (written in the same transaction) and its account (open, of the posting's
    // currency) are checked once per statement by the trigger of migration 0013, not by foreign keys
    // checked row by row.
    index('ledger_postings_account_history').on(t.accountId, t.id),
    check('ledger_postings_amount', sql`${t.amount} > 0 AND ${t.amount} <= 1000000000000000`),
    check('ledger_postings_side', sql`${t.side} IN ('debit', 'credit')`),
    check('ledger_postings_line', sql`${t.line} >= 1`),
  ],
);
