import { sql } from 'drizzle-orm';
import {
  bigint,
  check,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';

// Terminals: the devices bound to merchants, their cryptographic profile, their sign-in session and
// their batches. (Inventory, activation codes and parameters grow with the onboarding issue.)

export const terminals = pgTable(
  'terminals',
  {
    /** Field 41: eight characters. */
    id: text('id').primaryKey(),
    /** Field 42 of the merchant it is bound to. */
    merchantId: text('merchant_id').notNull(),
    serialNumber: text('serial_number'),
    model: text('model'),
    status: text('status', { enum: ['active', 'inactive', 'retired'] })
      .notNull()
      .default('active'),
    /** The cipher of its keys (its TMK's): 3DES or SM4. */
    algorithm: text('algorithm', { enum: ['3des', 'sm4'] }).notNull(),
    /** How it computes field 64: `ecb` (the profile's default) or `x99`. */
    macAlgorithm: text('mac_algorithm', { enum: ['ecb', 'x99'] })
      .notNull()
      .default('ecb'),
    /** The terminal master key in the key store. */
    tmkKeyId: uuid('tmk_key_id'),
    /** The open batch (field 60.2). */
    batchNo: integer('batch_no').notNull().default(1),
    /** Sign-in session: the working keys' version, who signed in, when. Null when signed out. */
    keysVersion: integer('keys_version'),
    operatorCode: text('operator_code'),
    signedInAt: timestamp('signed_in_at', { withTimezone: true }),
    /** Consecutive MAC failures; the third forces a new sign-in. */
    macFailures: integer('mac_failures').notNull().default(0),
    /** Bumped on every change: caches compare it. */
    revision: bigint('revision', { mode: 'bigint' }).notNull().default(sql`1`),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('terminals_id', sql`${t.id} ~ '^[0-9A-Za-z]{8}$'`),
    check('terminals_status', sql`${t.status} IN ('active', 'inactive', 'retired')`),
    check('terminals_algorithm', sql`${t.algorithm} IN ('3des', 'sm4')`),
    check('terminals_mac_algorithm', sql`${t.macAlgorithm} IN ('ecb', 'x99')`),
    check('terminals_batch', sql`${t.batchNo} BETWEEN 1 AND 999999`),
    check('terminals_mac_failures', sql`${t.macFailures} >= 0`),
  ],
);

export const terminalBatches = pgTable(
  'terminal_batches',
  {
    terminalId: text('terminal_id').notNull(),
    batchNo: integer('batch_no').notNull(),
    merchantId: text('merchant_id').notNull(),
    status: text('status', { enum: ['open', 'uploading', 'closed'] })
      .notNull()
      .default('open'),
    /** `balanced` when the terminal's totals matched the host's, else `unbalanced` (then uploaded). */
    settlement: text('settlement', { enum: ['balanced', 'unbalanced'] }),
    hostTotals: jsonb('host_totals'),
    terminalTotals: jsonb('terminal_totals'),
    openedAt: timestamp('opened_at', { withTimezone: true }).notNull().defaultNow(),
    closedAt: timestamp('closed_at', { withTimezone: true }),
  },
  (t) => [
    primaryKey({ name: 'terminal_batches_pkey', columns: [t.terminalId, t.batchNo] }),
    check('terminal_batches_status', sql`${t.status} IN ('open', 'uploading', 'closed')`),
  ],
);
