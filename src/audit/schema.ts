import { sql } from 'drizzle-orm';
import { bigint, check, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

// The append-only audit log. Each line carries the hash of the line before it (a hash chain), so an
// edited, inserted or deleted line breaks the chain that `tillpoint audit verify` walks. Updates and
// deletes are refused by a trigger (hand-written migration `*_audit_rules.sql`).

export const auditLog = pgTable(
  'audit_log',
  {
    /** 1, 2, 3 … without gaps: a missing number is a deleted line. */
    seq: bigint('seq', { mode: 'bigint' }).primaryKey(),
    id: uuid('id').notNull().unique(),
    occurredAt: timestamp('occurred_at', { withTimezone: true, precision: 3 }).notNull(),
    actorType: text('actor_type', { enum: ['user', 'operator', 'terminal', 'system'] }).notNull(),
    actorId: text('actor_id').notNull(),
    event: text('event').notNull(),
    objectType: text('object_type'),
    objectId: text('object_id'),
    /** Where the action came from: an IP address, a terminal id, `cli`. */
    source: text('source'),
    outcome: text('outcome', { enum: ['success', 'failure', 'denied'] }).notNull(),
    /** Canonical JSON (sorted keys), exactly as hashed. */
    details: text('details').notNull(),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [
    index('audit_log_object').on(t.objectType, t.objectId),
    index('audit_log_actor').on(t.actorType, t.actorId),
    index('audit_log_event_time').on(t.event, t.occurredAt),
    check('audit_log_actor_type', sql`${t.actorType} IN ('user', 'operator', 'terminal', 'system')`),
    check('audit_log_outcome', sql`${t.outcome} IN ('success', 'failure', 'denied')`),
    check('audit_log_hash_format', sql`${t.hash} ~ '^[0-9a-f]{64}$' AND ${t.prevHash} ~ '^[0-9a-f]{64}$'`),
  ],
);
