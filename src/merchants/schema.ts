import { sql } from 'drizzle-orm';
import { bigint, char, check, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

// Merchants, as far as the terminal host needs them: who they are, whether they may transact, and
// their limits. Applications, documents, reviews and contracts come with the onboarding issue.

export const merchants = pgTable(
  'merchants',
  {
    /** The acquirer's merchant number (field 42): 15 characters. */
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    kind: text('kind', { enum: ['enterprise', 'individual'] }).notNull(),
    status: text('status', { enum: ['active', 'suspended', 'closed'] })
      .notNull()
      .default('active'),
    /** Merchant category code (ISO 18245). */
    mcc: char('mcc', { length: 4 }).notNull().default('5411'),
    /** The largest single card transaction it may take, in minor units (field 39 = 61 above it). */
    singleLimitMinor: bigint('single_limit_minor', { mode: 'bigint' }).notNull().default(sql`5000000`),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('merchants_id', sql`${t.id} ~ '^[0-9A-Za-z]{15}$'`),
    check('merchants_kind', sql`${t.kind} IN ('enterprise', 'individual')`),
    check('merchants_status', sql`${t.status} IN ('active', 'suspended', 'closed')`),
    check('merchants_limit', sql`${t.singleLimitMinor} > 0`),
  ],
);

export const merchantOperators = pgTable(
  'merchant_operators',
  {
    merchantId: text('merchant_id')
      .notNull()
      .references(() => merchants.id),
    /** Field 63.1: three characters, `001` … */
    code: text('code').notNull(),
    name: text('name').notNull(),
    status: text('status', { enum: ['active', 'disabled'] })
      .notNull()
      .default('active'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'merchant_operators_pkey', columns: [t.merchantId, t.code] }),
    check('merchant_operators_code', sql`${t.code} ~ '^[0-9A-Za-z]{3}$'`),
  ],
);
