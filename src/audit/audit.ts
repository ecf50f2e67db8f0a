import { createHash } from 'node:crypto';
import type { Queryable } from '../db/index.ts';
import type { Clock } from '../shared/clock.ts';
import { newId } from '../shared/ids.ts';
import { redact } from '../shared/redact.ts';

// The audit log: who did what, to what, when, from where, with what outcome. A line is written in the
// same transaction as the change it records, so neither exists without the other. Lines form a hash
// chain (each carries the hash of the line before); appends are serialised by a transaction-scoped
// advisory lock, which also keeps `seq` free of gaps.

export type ActorType = 'user' | 'operator' | 'terminal' | 'system';
export type Outcome = 'success' | 'failure' | 'denied';

export interface AuditEvent {
  actor: { type: ActorType; id: string };
  /** What happened, `module.object.verb`: `ledger.account.opened`, `keys.key.exported`. */
  event: string;
  object?: { type: string; id: string };
  /** Where from: an IP address, a terminal id, `cli`. */
  source?: string;
  outcome?: Outcome;
  /** Extra facts; redacted (no card numbers, no key material) before they are stored. */
  details?: Record<string, unknown>;
}

export interface AuditLine {
  seq: bigint;
  id: string;
  occurredAt: Date;
  actorType: ActorType;
  actorId: string;
  event: string;
  objectType: string | null;
  objectId: string | null;
  source: string | null;
  outcome: Outcome;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export type ChainProblem = 'gap' | 'chain_break' | 'hash_mismatch';

export interface VerifyResult {
  ok: boolean;
  lines: number;
  /** The last line's number and hash: record them elsewhere to detect a truncated tail later. */
  head: { seq: bigint; hash: string } | undefined;
  problems: Array<{ seq: bigint; problem: ChainProblem; detail: string }>;
}

export const GENESIS_HASH = '0'.repeat(64);
/** Advisory lock key that serialises appends ("tillaudt"). */
const AUDIT_LOCK_KEY = '8388065744862618740';

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return typeof value === 'bigint' ? JSON.stringify(value.toString()) : (JSON.stringify(value) ?? 'null');
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  const keys = Object.keys(value).sort();
  const parts: string[] = [];
  for (const key of keys) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== undefined) parts.push(`${JSON.stringify(key)}:${canonicalJson(item)}`);
  }
  return `{${parts.join(',')}}`;
}

interface HashedFields {
  seq: bigint;
  id: string;
  occurredAt: Date;
  actorType: string;
  actorId: string;
  event: string;
  objectType: string | null;
  objectId: string | null;
  source: string | null;
  outcome: string;
  details: string;
  prevHash: string;
}

export function lineHash(line: HashedFields): string {
  const text = canonicalJson([
    line.seq.toString(),
    line.id,
    line.occurredAt.toISOString(),
    line.actorType,
    line.actorId,
    line.event,
    line.objectType,
    line.objectId,
    line.source,
    line.outcome,
    line.details,
    line.prevHash,
  ]);
  return createHash('sha256').update(text).digest('hex');
}

export interface Audit {
  /** Appends lines within the caller's transaction (`tx`), in order. */
  record(tx: Queryable, events: AuditEvent | readonly AuditEvent[]): Promise<void>;
  /** Walks the whole chain and reports every gap, break and altered line. */
  verify(db: Queryable): Promise<VerifyResult>;
  /** Most recent first; `startingAfter` is a `seq` from a previous page. */
  list(
    db: Queryable,
    options: { limit: number; startingAfter?: bigint; objectType?: string; objectId?: string },
  ): Promise<{ data: AuditLine[]; hasMore: boolean }>;
}

interface Row {
  seq: bigint;
  id: string;
  occurred_at: Date;
  actor_type: ActorType;
  actor_id: string;
  event: string;
  object_type: string | null;
  object_id: string | null;
  source: string | null;
  outcome: Outcome;
  details: string;
  prev_hash: string;
  hash: string;
}

function toLine(row: Row): AuditLine {
  return {
    seq: row.seq,
    id: row.id,
    occurredAt: row.occurred_at,
    actorType: row.actor_type,
    actorId: row.actor_id,
    event: row.event,
    objectType: row.object_type,
    objectId: row.object_id,
    source: row.source,
    outcome: row.outcome,
    details: JSON.parse(row.details) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export function createAudit(deps: { clock: Clock }): Audit {
  return {
    async record(tx, input) {
      const events = Array.isArray(input) ? (input as readonly AuditEvent[]) : [input as AuditEvent];
      if (events.length === 0) return;
      await tx.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK_KEY]);
      const head = await tx.query<{ seq: bigint; hash: string }>(
        'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
      );
      let seq = head.rows[0]?.seq ?? 0n;
      let prevHash = head.rows[0]?.hash ?? GENESIS_HASH;
      const columns: unknown[][] = Array.from({ length: 13 }, () => []);
      const occurredAt = new Date(deps.clock.now().getTime());
      for (const event of events) {
        seq += 1n;
        const fields: HashedFields = {
          seq,
          id: newId(occurredAt.getTime()),
          occurredAt,
          actorType: event.actor.type,
          actorId: event.actor.id,
          event: event.event,
          objectType: event.object?.type ?? null,
          objectId: event.object?.id ?? null,
          source: event.source ?? null,
          outcome: event.outcome ?? 'success',
          details: canonicalJson(redact(event.details ?? {})),
          prevHash,
        };
        const hash = lineHash(fields);
        const values = [
          fields.seq.toString(),
          fields.id,
          fields.occurredAt,
          fields.actorType,
          fields.actorId,
          fields.event,
          fields.objectType,
          fields.objectId,
          fields.source,
          fields.outcome,
          fields.details,
          fields.prevHash,
          hash,
        ];
        values.forEach((value, i) => {
          columns[i]!.push(value);
        });
        prevHash = hash;
      }
      await tx.query(
        `INSERT INTO audit_log (seq, id, occurred_at, actor_type, actor_id, event, object_type, object_id,
                                source, outcome, details, prev_hash, hash)
         SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[], $6::text[],
                              $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])`,
        columns,
      );
    },

    async verify(db) {
      const problems: VerifyResult['problems'] = [];
      let expectedSeq = 1n;
      let prevHash = GENESIS_HASH;
      let lines = 0;
      let head: VerifyResult['head'];
      let after = 0n;
      for (;;) {
        const page = await db.query<Row>('SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 5000', [
          after.toString(),
        ]);
        if (page.rows.length === 0) break;
        for (const row of page.rows) {
          lines++;
          if (row.seq !== expectedSeq) {
            problems.push({
              seq: row.seq,
              problem: 'gap',
              detail: `line ${expectedSeq}${row.seq - expectedSeq > 1n ? `–${row.seq - 1n}` : ''} is missing`,
            });
          }
          if (row.prev_hash !== prevHash) {
            problems.push({
              seq: row.seq,
              problem: 'chain_break',
              detail: 'its previous-line hash does not match the line before it',
            });
          }
          const recomputed = lineHash({
            seq: row.seq,
            id: row.id,
            occurredAt: row.occurred_at,
            actorType: row.actor_type,
            actorId: row.actor_id,
            event: row.event,
            objectType: row.object_type,
            objectId: row.object_id,
            source: row.source,
            outcome: row.outcome,
            details: row.details,
            prevHash: row.prev_hash,
          });
          if (recomputed !== row.hash) {
            problems.push({ seq: row.seq, problem: 'hash_mismatch', detail: 'its content was changed' });
          }
          expectedSeq = row.seq + 1n;
          prevHash = row.hash;
          head = { seq: row.seq, hash: row.hash };
          after = row.seq;
        }
      }
      return { ok: problems.length === 0, lines, head, problems };
    },

    async list(db, options) {
      const conditions: string[] = [];
      const values: unknown[] = [];
      if (options.startingAfter !== undefined) {
        values.push(options.startingAfter.toString());
        conditions.push(`seq < $${values.length}`);
      }
      if (options.objectType !== undefined) {
        values.push(options.objectType);
        conditions.push(`object_type = $${values.length}`);
      }
      if (options.objectId !== undefined) {
        values.push(options.objectId);
        conditions.push(`object_id = $${values.length}`);
      }
      values.push(options.limit + 1);
      const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
      const result = await db.query<Row>(
        `SELECT * FROM audit_log ${where} ORDER BY seq DESC LIMIT $${values.length}`,
        values,
      );
      const rows = result.rows.slice(0, options.limit);
      return { data: rows.map(toLine), hasMore: result.rows.length > options.limit };
    },
  };
}
