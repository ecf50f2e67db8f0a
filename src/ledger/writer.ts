import type { PoolClient } from 'pg';
import { arrayLiteral, ConnectionKeeper, type Database, isRetryable, type Queryable } from '../db/index.ts';
import { assert } from '../shared/assert.ts';
import { BatchQueue } from '../shared/batch-queue.ts';
import { TillpointError } from '../shared/errors.ts';
import { ledgerErrorFromDatabase } from './db-errors.ts';
import type { ResolvedPosting } from './rules.ts';
import type { Entry, EntryKind, Posting } from './types.ts';

// The write path. An entry, checked and resolved, is one row in ledger_entries and its postings; a
// batch of them is written by ONE statement (entries and postings through unnest), which the
// database's triggers check and turn into balance updates. Without a caller's transaction, posts that
// arrive while a batch is being written wait and go together in the next one (group commit): one
// round trip and one WAL flush for many entries, each reply only after its commit.

export interface PreparedEntry {
  id: string;
  idempotencyKey: string;
  requestHash: string;
  kind: EntryKind;
  businessDate: string;
  description: string;
  referenceType: string | null;
  referenceId: string | null;
  pendingEntryId: string | null;
  reversesEntryId: string | null;
  expiresAt: Date | null;
  postings: ResolvedPosting[];
}

export interface WriteOutcome {
  entry: Entry;
  created: boolean;
}

// One statement writes a batch: its entries (a key already used is skipped), their postings, and
// the balances of the accounts touched — posted and pending amounts of the new postings, less what
// the pending entries resolved by this batch had reserved. Balance rows are locked in account order,
// so batches running side by side never deadlock on them.
const ENTRIES_SQL = `new_entries AS (
  INSERT INTO ledger_entries (id, idempotency_key, request_hash, kind, business_date, description, reference_type,
                              reference_id, pending_entry_id, reverses_entry_id, expires_at)
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::date[], $6::text[], $7::text[],
                       $8::text[], $9::uuid[], $10::uuid[], $11::timestamptz[])
         AS u(id, idempotency_key, request_hash, kind, business_date, description, reference_type, reference_id,
              pending_entry_id, reverses_entry_id, expires_at)
   /*guard*/
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING id, pending_entry_id, created_at
), new_postings AS (
  INSERT INTO ledger_postings (entry_id, line, account_id, currency, side, amount, pending, business_date)
  SELECT p.entry_id, p.line, p.account_id, p.currency, p.side, p.amount, p.pending, p.business_date
    FROM unnest($12::uuid[], $13::int2[], $14::uuid[], $15::bpchar[], $16::text[], $17::bigint[], $18::bool[],
                $19::date[]) AS p(entry_id, line, account_id, currency, side, amount, pending, business_date)
   WHERE p.entry_id IN (SELECT id FROM new_entries)
  RETURNING account_id, side, amount, pending
), released AS (
  -- = ANY (ARRAY(…)) keeps this an index look-up of the pending entries' postings, never a scan.
  SELECT q.account_id, q.side, q.amount FROM ledger_postings q
   WHERE q.entry_id = ANY (ARRAY(SELECT pending_entry_id FROM new_entries WHERE pending_entry_id IS NOT NULL))
), deltas AS (
  SELECT account_id,
         sum(CASE WHEN side = 'debit' AND NOT pending THEN amount ELSE 0 END)::bigint AS debits_posted,
         sum(CASE WHEN side = 'credit' AND NOT pending THEN amount ELSE 0 END)::bigint AS credits_posted,
         sum(CASE WHEN side = 'debit' AND pending THEN amount ELSE 0 END)::bigint AS debits_pending,
         sum(CASE WHEN side = 'credit' AND pending THEN amount ELSE 0 END)::bigint AS credits_pending
    FROM (SELECT account_id, side, amount, pending FROM new_postings
          UNION ALL
          SELECT account_id, side, -amount, true FROM released) moves
   GROUP BY account_id
), locked AS (
  SELECT account_id FROM ledger_balances
   WHERE account_id = ANY (ARRAY(SELECT account_id FROM deltas))
   ORDER BY account_id FOR UPDATE
), balances AS (
  UPDATE ledger_balances b
     SET debits_posted = b.debits_posted + d.debits_posted,
         credits_posted = b.credits_posted + d.credits_posted,
         debits_pending = b.debits_pending + d.debits_pending,
         credits_pending = b.credits_pending + d.credits_pending,
         updated_at = now()
    FROM deltas d
   WHERE b.account_id = d.account_id AND b.account_id IN (SELECT account_id FROM locked)
  RETURNING 1
)`;

const WRITE_SQL = `WITH ${ENTRIES_SQL.replace('/*guard*/', '')}
SELECT id, created_at FROM new_entries`;

/** The number of parameters the entries part uses ($1 … $19); a guard's come after. */
const ENTRY_PARAMETERS = 19;

/**
 * A statement that runs first, in the same statement as the entries: it writes the caller's own
 * rows (with $1, $2 … of its own) and returns `entry_id` (the entries it vouches for; only those
 * are written) and `guard_key` (what it wrote, for the caller).
 */
export interface Guard {
  /** A unique name, for the prepared statement. */
  name: string;
  sql: string;
  values: unknown[];
}

const guardedSql = new Map<string, string>();

function guardedWriteSql(guard: Guard): string {
  let sql = guardedSql.get(guard.name);
  if (sql === undefined) {
    const renumbered = guard.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + ENTRY_PARAMETERS}`);
    sql = `WITH guard AS (${renumbered}), ${ENTRIES_SQL.replace(
      '/*guard*/',
      'WHERE u.id IN (SELECT entry_id FROM guard WHERE entry_id IS NOT NULL)',
    )}
SELECT id, created_at, NULL::text AS guard_key, NULL::uuid AS admitted FROM new_entries
UNION ALL SELECT NULL, NULL, guard_key::text, entry_id FROM guard`;
    guardedSql.set(guard.name, sql);
  }
  return sql;
}

function toEntry(prepared: PreparedEntry, createdAt: Date): Entry {
  const pending = prepared.kind === 'pending';
  return {
    id: prepared.id,
    idempotencyKey: prepared.idempotencyKey,
    kind: prepared.kind,
    businessDate: prepared.businessDate,
    description: prepared.description,
    referenceType: prepared.referenceType,
    referenceId: prepared.referenceId,
    pendingEntryId: prepared.pendingEntryId,
    reversesEntryId: prepared.reversesEntryId,
    expiresAt: prepared.expiresAt,
    createdAt,
    postings: prepared.postings.map(
      (p): Posting => ({
        accountId: p.account.id,
        accountCode: p.account.code,
        currency: p.account.currency,
        side: p.side,
        amountMinor: p.amountMinor,
        pending,
      }),
    ),
  };
}

export type LoadByKey = (
  db: Queryable,
  key: string,
) => Promise<{ entry: Entry; requestHash: string } | undefined>;

/**
 * Writes prepared entries in one statement. An entry whose key already exists is looked up: the same
 * request is a replay (`created: false`), another request under that key a conflict error in its slot.
 * A rule broken by any entry fails the whole statement (nothing written) and is thrown.
 */
export async function writeEntries(
  db: Queryable,
  entries: readonly PreparedEntry[],
  loadByKey: LoadByKey,
): Promise<Array<WriteOutcome | TillpointError>> {
  const { outcomes } = await writeEntriesGuarded(db, entries, loadByKey, undefined);
  return outcomes.map((outcome) => {
    assert(outcome !== null, 'without a guard every entry has an outcome');
    return outcome;
  });
}

/**
 * `writeEntries` with a guard: the caller's rows and the entries in ONE statement (so one round
 * trip, atomic without an explicit transaction). Returns the guard's keys too.
 */
export async function writeEntriesGuarded(
  db: Queryable,
  entries: readonly PreparedEntry[],
  loadByKey: LoadByKey,
  guard: Guard | undefined,
): Promise<{ outcomes: Array<WriteOutcome | TillpointError | null>; guardKeys: string[] }> {
  const e: Array<Array<string | number | boolean | Date | null>> = Array.from({ length: 11 }, () => []);
  const p: Array<Array<string | number | boolean | Date | null>> = Array.from({ length: 8 }, () => []);
  for (const entry of entries) {
    e[0]!.push(entry.id);
    e[1]!.push(entry.idempotencyKey);
    e[2]!.push(entry.requestHash);
    e[3]!.push(entry.kind);
    e[4]!.push(entry.businessDate);
    e[5]!.push(entry.description);
    e[6]!.push(entry.referenceType);
    e[7]!.push(entry.referenceId);
    e[8]!.push(entry.pendingEntryId);
    e[9]!.push(entry.reversesEntryId);
    e[10]!.push(entry.expiresAt);
    const pending = entry.kind === 'pending';
    entry.postings.forEach((posting, i) => {
      p[0]!.push(entry.id);
      p[1]!.push(i + 1);
      p[2]!.push(posting.account.id);
      p[3]!.push(posting.account.currency);
      p[4]!.push(posting.side);
      p[5]!.push(posting.amountMinor.toString());
      p[6]!.push(pending);
      p[7]!.push(entry.businessDate);
    });
  }
  const inserted = new Map<string, Date>();
  const guardKeys: string[] = [];
  /** With a guard: the entries it vouched for (the others were not to be written at all). */
  const admitted = new Set<string>();
  try {
    const result = await db.query<{
      id: string | null;
      created_at: Date | null;
      guard_key?: string | null;
      admitted?: string | null;
    }>(
      guard === undefined
        ? {
            name: 'ledger_write_entries',
            text: WRITE_SQL,
            values: [...e.map(arrayLiteral), ...p.map(arrayLiteral)],
          }
        : {
            name: guard.name,
            text: guardedWriteSql(guard),
            values: [...e.map(arrayLiteral), ...p.map(arrayLiteral), ...guard.values],
          },
    );
    for (const row of result.rows) {
      if (row.id !== null && row.created_at !== null) inserted.set(row.id, row.created_at);
      else if (row.guard_key != null) {
        guardKeys.push(row.guard_key);
        if (row.admitted != null) admitted.add(row.admitted);
      }
    }
  } catch (error) {
    throw ledgerErrorFromDatabase(error);
  }
  const outcomes: Array<WriteOutcome | TillpointError | null> = [];
  for (const entry of entries) {
    const createdAt = inserted.get(entry.id);
    if (createdAt !== undefined) {
      outcomes.push({ entry: toEntry(entry, createdAt), created: true });
      continue;
    }
    if (guard !== undefined && !admitted.has(entry.id)) {
      outcomes.push(null); // the guard did not vouch for it (its own row was already there)
      continue;
    }
    const existing = await loadByKey(db, entry.idempotencyKey);
    assert(existing !== undefined, 'an entry skipped on conflict exists under its key');
    outcomes.push(
      existing.requestHash === entry.requestHash
        ? { entry: existing.entry, created: false }
        : new TillpointError(
            'TILLPOINT_ERR_ENTRY_CONFLICT',
            `Idempotency key ${entry.idempotencyKey} was already used for entry ${existing.entry.id} with different postings`,
            { param: 'idempotencyKey' },
          ),
    );
  }
  return { outcomes, guardKeys };
}

interface Waiting {
  entry: PreparedEntry;
  resolve: (outcome: WriteOutcome) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for posts made outside a caller's transaction. While one batch is being written, new
 * entries queue; the next batch takes them all (up to `maxBatch`). If a batch fails, its entries are
 * written one by one, so one bad entry (an overdraft, a conflicting key) fails alone.
 */
export class GroupCommitter {
  readonly #loadByKey: LoadByKey;
  readonly #connections: ConnectionKeeper;
  readonly #queue: BatchQueue<Waiting>;

  /**
   * `maxInFlight` batches may be written at once (on their own connections), so that the database
   * works on one while the next is being gathered; their balance rows are locked in account order.
   */
  constructor(db: Database, loadByKey: LoadByKey, { maxBatch = 200, maxInFlight = 2 } = {}) {
    this.#loadByKey = loadByKey;
    this.#connections = new ConnectionKeeper(db, { max: maxInFlight });
    this.#queue = new BatchQueue({
      maxBatch,
      maxInFlight,
      take: takeBatch,
      run: (batch) => this.#writeBatch(batch),
    });
  }

  write(entry: PreparedEntry): Promise<WriteOutcome> {
    return new Promise((resolve, reject) => {
      this.#queue.add({ entry, resolve, reject });
    });
  }

  async #writeBatch(batch: Waiting[]): Promise<void> {
    if (batch.length > 1) {
      try {
        const outcomes = await this.#withRetry(() =>
          this.#onConnection((client) =>
            writeEntries(
              client,
              batch.map((w) => w.entry),
              this.#loadByKey,
            ),
          ),
        );
        batch.forEach((waiting, i) => {
          settle(waiting, outcomes[i]!);
        });
        return;
      } catch {
        // fall through: one by one, so that only the entry at fault fails
      }
    }
    for (const waiting of batch) {
      try {
        const [outcome] = await this.#withRetry(() =>
          this.#onConnection((client) => writeEntries(client, [waiting.entry], this.#loadByKey)),
        );
        settle(waiting, outcome!);
      } catch (error) {
        waiting.reject(error);
      }
    }
  }

  /** Runs `write` on a kept connection (one statement: atomic without an explicit transaction). */
  async #onConnection<T>(write: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#connections.take();
    let healthy = true;
    try {
      return await write(client);
    } catch (error) {
      healthy = error instanceof TillpointError || typeof (error as { code?: unknown }).code === 'string';
      throw error;
    } finally {
      this.#connections.give(client, healthy);
    }
  }

  /** A statement aborted by a deadlock or serialization failure wrote nothing: try it again, a few times. */
  async #withRetry<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (error) {
        if (attempt >= 5 || !isRetryable((error as { cause?: unknown }).cause ?? error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 2 ** attempt));
      }
    }
  }
}

/** Takes up to maxBatch entries, leaving a second use of the same key for the next batch. */
function takeBatch(queue: Waiting[], maxBatch: number): { batch: Waiting[]; rest: Waiting[] } {
  const batch: Waiting[] = [];
  const keys = new Set<string>();
  const rest: Waiting[] = [];
  for (const waiting of queue) {
    if (batch.length < maxBatch && !keys.has(waiting.entry.idempotencyKey)) {
      keys.add(waiting.entry.idempotencyKey);
      batch.push(waiting);
    } else {
      rest.push(waiting);
    }
  }
  return { batch, rest };
}

function settle(waiting: Waiting, outcome: WriteOutcome | TillpointError): void {
  if (outcome instanceof TillpointError) waiting.reject(outcome);
  else waiting.resolve(outcome);
}

/** Writes one entry within `db` (a caller's transaction): its outcome, or throws what stopped it. */
export async function writeEntry(
  db: Queryable,
  entry: PreparedEntry,
  loadByKey: LoadByKey,
): Promise<WriteOutcome> {
  const [outcome] = await writeEntries(db, [entry], loadByKey);
  if (outcome instanceof TillpointError) throw outcome;
  return outcome!;
}
