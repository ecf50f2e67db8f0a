import { sql } from 'drizzle-orm';
import {
  bigint,
  char,
  check,
  date,
  foreignKey,
  integer,
  pgEnum,
  pgTable,
  smallint,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';

// The card-network simulator's own state: the issuer behind the simulated network. Nothing else in
// Tillpoint reads these tables (the payments module knows only the CardNetwork interface). The PAN is
// never stored: a card is found by the HMAC-SHA256 of its PAN under the simulator's PAN-hash key, and
// its PIN only as a PIN verification value under the issuer's PVK.

export const simCardKinds = ['debit', 'credit'] as const;
export const simCardStatuses = ['active', 'lost', 'stolen'] as const;
export const simCardBehaviours = ['normal', 'no_answer', 'late_approval'] as const;

// The closed lists of the two hot tables are enum types rather than CHECK constraints: PostgreSQL
// reads and compiles every CHECK of a table for every statement that writes it (and evaluates them all
// on every UPDATE), which cost about 10 µs of server CPU per authorization (measured); an enum is
// checked when a value is converted to it, and never on an UPDATE that leaves the column alone.
export const simCardKindEnum = pgEnum('card_network_sim_card_kind', simCardKinds);
export const simCardStatusEnum = pgEnum('card_network_sim_card_status', simCardStatuses);
export const simCardBehaviourEnum = pgEnum('card_network_sim_card_behaviour', simCardBehaviours);

export const cardNetworkSimCards = pgTable(
  'card_network_sim_cards',
  {
    id: uuid('id').primaryKey(),
    /** HMAC-SHA256 of the PAN under the simulator's PAN-hash key, 64 lower-case hex digits. */
    panHash: text('pan_hash').notNull(),
    /** First 6 and last 4 digits, the rest `*`. */
    panMasked: text('pan_masked').notNull(),
    kind: simCardKindEnum('kind').notNull(),
    currencyNumeric: char('currency_numeric', { length: 3 }).notNull().default('156'),
    /** Debit cards: the account's balance (holds are counted apart, in held_minor). */
    balanceMinor: bigint('balance_minor', { mode: 'bigint' }).notNull().default(sql`0`),
    /** Credit cards: the credit limit. */
    creditLimitMinor: bigint('credit_limit_minor', { mode: 'bigint' }).notNull().default(sql`0`),
    /** Credit cards: what is used of the limit (negative after refunds above what was spent). */
    usedMinor: bigint('used_minor', { mode: 'bigint' }).notNull().default(sql`0`),
    /** Open pre-authorization holds. */
    heldMinor: bigint('held_minor', { mode: 'bigint' }).notNull().default(sql`0`),
    /** The largest amount of one sale, pre-authorization or completion (above: 61). */
    perTransactionLimitMinor: bigint('per_transaction_limit_minor', { mode: 'bigint' }).notNull(),
    /** YYMM: the card is valid through the end of that month. */
    expiry: char('expiry', { length: 4 }).notNull(),
    status: simCardStatusEnum('status').notNull().default('active'),
    /** PIN verification value (keys module `pinVerificationValue` under the issuer's PVK). */
    pvv: char('pvv', { length: 32 }).notNull(),
    behaviour: simCardBehaviourEnum('behaviour').notNull().default('normal'),
    /** The business day (Asia/Shanghai by default) that pin_wrong_count counts. */
    pinTriesDate: date('pin_tries_date', { mode: 'string' }),
    /** Wrong PINs in a row on pin_tries_date; 3 blocks PIN transactions (75) until the day ends. */
    pinWrongCount: smallint('pin_wrong_count').notNull().default(0),
    /**
     * A token that every write of the row changes to a value never used before (the simulator writes
     * a random one; a trigger draws one for any UPDATE that leaves it as it was). The simulator's card
     * cache trusts a remembered row only while its version is still the one in the table.
     */
    version: bigint('version', { mode: 'bigint' }).notNull().default(sql`0`),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    unique('card_network_sim_cards_pan_hash').on(t.panHash),
    // PostgreSQL checks every CHECK on every UPDATE, and a card row is updated by nearly every
    // authorization: regular expressions here cost about 20 µs a row (measured), so the formats of
    // expiry, PVV and hash are checked by the simulator when a card is added, and the database
    // checks lengths only.
    check('card_network_sim_cards_pvv', sql`octet_length(${t.pvv}) = 32`),
    check('card_network_sim_cards_pan_hash_format', sql`octet_length(${t.panHash}) = 64`),
    check(
      'card_network_sim_cards_amounts',
      sql`${t.heldMinor} >= 0 AND ${t.creditLimitMinor} >= 0 AND ${t.perTransactionLimitMinor} > 0`,
    ),
    check('card_network_sim_cards_pin_wrong_count', sql`${t.pinWrongCount} BETWEEN 0 AND 3`),
  ],
);

export const simOperations = [
  'balance',
  'sale',
  'void',
  'refund',
  'preauth',
  'preauth_void',
  'completion',
  'completion_void',
] as const;

export const simAuthorizationStatuses = [
  'approved', // approved and standing (a pre-authorization: its hold is open)
  'declined',
  'reversed', // undone by a reversal, or reversed before it arrived (then refused when it does)
  'voided', // a sale, pre-authorization or completion voided by a later message
  'refunded_partial',
  'refunded',
  'completed', // a pre-authorization captured by a completion
] as const;

export const simOperationEnum = pgEnum('card_network_sim_operation', simOperations);
export const simAuthorizationStatusEnum = pgEnum(
  'card_network_sim_authorization_status',
  simAuthorizationStatuses,
);

/** One row per message the simulated issuer answered (and one per reversal seen before its original). */
export const cardNetworkSimAuthorizations = pgTable(
  'card_network_sim_authorizations',
  {
    id: uuid('id').primaryKey(),
    /** Absent when the card is unknown (14). */
    cardId: uuid('card_id'),
    /** The network reference: acquirer institution code (32), STAN (11), RRN (37). */
    acquirerCode: text('acquirer_code').notNull(),
    stan: char('stan', { length: 6 }).notNull(),
    rrn: text('rrn').notNull(),
    terminalId: text('terminal_id').notNull(),
    merchantId: text('merchant_id').notNull(),
    operation: simOperationEnum('operation').notNull(),
    amountMinor: bigint('amount_minor', { mode: 'bigint' }).notNull(),
    currencyNumeric: char('currency_numeric', { length: 3 }).notNull(),
    /** Field 39 answered; null for a reversal remembered before its original arrived. */
    responseCode: char('response_code', { length: 2 }),
    authCode: char('auth_code', { length: 6 }),
    status: simAuthorizationStatusEnum('status').notNull(),
    /** Pre-authorizations: the hold still open. */
    holdMinor: bigint('hold_minor', { mode: 'bigint' }).notNull().default(sql`0`),
    /** Pre-auth voids and completions: the hold they released (given back again if reversed). */
    releasedMinor: bigint('released_minor', { mode: 'bigint' }).notNull().default(sql`0`),
    /** Sales and completions: what refunds have given back so far (never more than the amount). */
    refundedMinor: bigint('refunded_minor', { mode: 'bigint' }).notNull().default(sql`0`),
    /** Void, refund, completion and their voids: the message they refer to. */
    originalId: uuid('original_id'),
    transmittedAt: timestamp('transmitted_at', { withTimezone: true }).notNull(),
    /** When the answer was given; null while only a reversal of it has been seen. */
    answeredAt: timestamp('answered_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // card_id and original_id have no foreign keys on purpose: rows are written only by the
    // simulator's batch under the card's row lock, and a key check per row would cost a lookup per
    // authorization on the hot path.
    unique('card_network_sim_authorizations_reference').on(t.acquirerCode, t.stan, t.rrn),
    check(
      'card_network_sim_authorizations_amounts',
      sql`${t.amountMinor} >= 0 AND ${t.holdMinor} >= 0 AND ${t.releasedMinor} >= 0 AND ${t.refundedMinor} >= 0 AND ${t.refundedMinor} <= ${t.amountMinor}`,
    ),
    check(
      'card_network_sim_authorizations_answered',
      sql`(${t.responseCode} IS NULL) = (${t.answeredAt} IS NULL)`,
    ),
  ],
);

export const simReversalEffects = [
  'reversed', // the original was approved: its money (or hold) given back
  'remembered', // the original was never seen: remembered, so that it is refused when it arrives
  'already_reversed', // a repeat: acknowledged again, nothing moved
  'nothing_to_reverse', // the original was declined, or its effect is already undone by a void or refund
] as const;

/** One row per reversal message answered (0420 and its 0421 repeats). */
export const cardNetworkSimReversals = pgTable(
  'card_network_sim_reversals',
  {
    id: uuid('id').primaryKey(),
    /** The reversed message (or the row remembering it). */
    authorizationId: uuid('authorization_id').notNull(),
    attempt: integer('attempt').notNull(),
    reason: text('reason', { enum: ['timeout', 'host_failure', 'terminal'] }).notNull(),
    effect: text('effect', { enum: simReversalEffects }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    foreignKey({
      name: 'card_network_sim_reversals_authorization',
      columns: [t.authorizationId],
      foreignColumns: [cardNetworkSimAuthorizations.id],
    }),
    check('card_network_sim_reversals_attempt', sql`${t.attempt} >= 1`),
    check('card_network_sim_reversals_reason', sql`${t.reason} IN ('timeout', 'host_failure', 'terminal')`),
    check(
      'card_network_sim_reversals_effect',
      sql`${t.effect} IN ('reversed', 'remembered', 'already_reversed', 'nothing_to_reverse')`,
    ),
  ],
);
