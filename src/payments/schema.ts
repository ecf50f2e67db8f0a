import { sql } from 'drizzle-orm';
import {
  bigint,
  char,
  check,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';

// Card payments from terminals. One row per request the host answered (sales, voids, refunds, the
// pre-authorization family, balance inquiries, reversals), keyed like the terminal keys them —
// terminal, merchant, batch, trace and request class — so that a retransmission finds its answer.
// A reversal for a request never seen leaves a `blocked` row under the original's key, which
// refuses the original if it arrives late.

export const paymentKinds = [
  'balance',
  'sale',
  'void',
  'refund',
  'preauth',
  'preauth_void',
  'completion',
  'completion_void',
  'reversal',
] as const;

export const paymentStatuses = [
  'approved', // in force
  'declined',
  'failed', // no clear answer from the network, or not recorded: reversed upstream
  'voided',
  'reversed',
  'completed', // a pre-authorization captured by a completion
  'expired', // a pre-authorization whose hold lapsed
  'blocked', // placeholder: reversed before it was seen
] as const;

export const cardPayments = pgTable(
  'card_payments',
  {
    id: uuid('id').primaryKey(),
    terminalId: text('terminal_id').notNull(),
    merchantId: text('merchant_id').notNull(),
    batchNo: integer('batch_no').notNull(),
    /** Field 11 of the request. */
    trace: char('trace', { length: 6 }).notNull(),
    /** The request's MTI (0100, 0200, 0220, 0400): with the four above, what a retransmission repeats. */
    requestMti: char('request_mti', { length: 4 }).notNull(),
    kind: text('kind', { enum: paymentKinds }).notNull(),
    status: text('status', { enum: paymentStatuses }).notNull(),
    /** Field 39 as answered. */
    responseCode: char('response_code', { length: 2 }).notNull(),
    amountMinor: bigint('amount_minor', { mode: 'bigint' }).notNull(),
    currency: char('currency', { length: 3 }).notNull().default('CNY'),
    panHash: text('pan_hash'),
    panMasked: text('pan_masked'),
    cardOrganization: text('card_organization'),
    entryMode: char('entry_mode', { length: 3 }),
    operatorCode: text('operator_code'),
    /** Retrieval reference number (37) and authorization code (38) given to the terminal. */
    rrn: char('rrn', { length: 12 }),
    authCode: char('auth_code', { length: 6 }),
    /** The trace this host used towards the network. */
    networkStan: char('network_stan', { length: 6 }),
    issuerCode: text('issuer_code'),
    /** For void, refund, completion, their voids and reversals: the payment they act on. */
    originalId: uuid('original_id'),
    /** For sales and completions: what refunds have given back so far. */
    refundedMinor: bigint('refunded_minor', { mode: 'bigint' }).notNull().default(sql`0`),
    /** Balance inquiries: the available balance answered. */
    balanceMinor: bigint('balance_minor', { mode: 'bigint' }),
    /** What the request asked (a hash of its content): a retransmission must match it (else 94). */
    requestHash: text('request_hash').notNull(),
    /** Fields 12, 13 and 15 of the reply, kept so that a retransmission gets the same bytes. */
    localTime: char('local_time', { length: 6 }).notNull(),
    localDate: char('local_date', { length: 4 }).notNull(),
    settlementDate: char('settlement_date', { length: 4 }).notNull(),
    ledgerEntryId: uuid('ledger_entry_id'),
    /** Pre-authorizations: when the hold lapses. */
    holdExpiresAt: timestamp('hold_expires_at', { withTimezone: true }),
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // Also serves a batch's look-ups (terminal, batch): no index of its own.
    unique('card_payments_request').on(t.terminalId, t.batchNo, t.trace, t.requestMti, t.merchantId),
    index('card_payments_rrn').on(t.rrn).where(sql`${t.rrn} IS NOT NULL`),
    index('card_payments_original').on(t.originalId).where(sql`${t.originalId} IS NOT NULL`),
    index('card_payments_holds')
      .on(t.holdExpiresAt)
      .where(sql`${t.kind} = 'preauth' AND ${t.status} = 'approved'`),
    check('card_payments_amount', sql`${t.amountMinor} >= 0 AND ${t.amountMinor} <= 1000000000000000`),
    check('card_payments_refunded', sql`${t.refundedMinor} >= 0 AND ${t.refundedMinor} <= ${t.amountMinor}`),
    check('card_payments_trace', sql`${t.trace} ~ '^[0-9]{6}$'`),
  ],
);

/**
 * Reversals this host owes the network (store and forward): sent until acknowledged, first as 0420
 * then repeated (0421). The card data it needs is in the card vault under `card_token`.
 */
export const networkReversals = pgTable(
  'network_reversals',
  {
    id: uuid('id').primaryKey(),
    paymentId: uuid('payment_id').notNull().unique(),
    reason: text('reason', { enum: ['timeout', 'host_failure', 'terminal'] }).notNull(),
    /** The original network request without card data (amounts as strings). */
    request: jsonb('request').notNull(),
    cardToken: text('card_token'),
    status: text('status', { enum: ['pending', 'acknowledged'] })
      .notNull()
      .default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    lastError: text('last_error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    acknowledgedAt: timestamp('acknowledged_at', { withTimezone: true }),
  },
  (t) => [index('network_reversals_due').on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`)],
);

/** A terminal's batch upload (after an unbalanced settlement), one line per transaction it sent. */
export const batchUploadLines = pgTable(
  'batch_upload_lines',
  {
    terminalId: text('terminal_id').notNull(),
    batchNo: integer('batch_no').notNull(),
    trace: char('trace', { length: 6 }).notNull(),
    cardOrganization: text('card_organization').notNull(),
    panHash: text('pan_hash').notNull(),
    panMasked: text('pan_masked').notNull(),
    amountMinor: bigint('amount_minor', { mode: 'bigint' }).notNull(),
    uploadedAt: timestamp('uploaded_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: 'batch_upload_lines_pkey', columns: [t.terminalId, t.batchNo, t.trace] })],
);

/** Differences found when reconciling an uploaded batch: for the settlement module to resolve. */
export const batchExceptions = pgTable(
  'batch_exceptions',
  {
    id: uuid('id').primaryKey(),
    terminalId: text('terminal_id').notNull(),
    merchantId: text('merchant_id').notNull(),
    batchNo: integer('batch_no').notNull(),
    trace: char('trace', { length: 6 }).notNull(),
    kind: text('kind', { enum: ['host_only', 'terminal_only', 'amount_mismatch'] }).notNull(),
    hostAmountMinor: bigint('host_amount_minor', { mode: 'bigint' }),
    terminalAmountMinor: bigint('terminal_amount_minor', { mode: 'bigint' }),
    paymentId: uuid('payment_id'),
    status: text('status', { enum: ['open', 'resolved'] })
      .notNull()
      .default('open'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [unique('batch_exceptions_line').on(t.terminalId, t.batchNo, t.trace, t.kind)],
);
