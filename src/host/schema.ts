import { sql } from 'drizzle-orm';
import { bigint, char, index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

// The message journal: every message in and out of the terminal host, masked (field 2 first 6 /
// last 4; 35, 36, 52, 55 and 62 hidden), for support ("what did terminal 10000001 send at 14:02?").

export const hostMessages = pgTable(
  'host_messages',
  {
    id: bigint('id', { mode: 'bigint' }).primaryKey().generatedAlwaysAsIdentity({ cache: 100 }),
    at: timestamp('at', { withTimezone: true }).notNull(),
    direction: text('direction', { enum: ['in', 'out'] }).notNull(),
    remote: text('remote'),
    terminalId: text('terminal_id'),
    merchantId: text('merchant_id'),
    mti: char('mti', { length: 4 }),
    trace: char('trace', { length: 6 }),
    responseCode: char('response_code', { length: 2 }),
    /** What the host made of it: `processed`, `duplicate`, `format_error`, `mac_failed`, `framing_error` … */
    outcome: text('outcome').notNull(),
    /** Microseconds from the request's arrival to this message (replies). */
    elapsedUs: integer('elapsed_us'),
    paymentId: uuid('payment_id'),
    /** The masked dump. */
    dump: text('dump').notNull(),
  },
  (t) => [
    // BRIN: cheap to keep up at thousands of rows a second; finds a time range, then the terminal.
    index('host_messages_time').using('brin', t.at),
    index('host_messages_payment').on(t.paymentId).where(sql`${t.paymentId} IS NOT NULL`),
  ],
);
