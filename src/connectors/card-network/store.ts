import { randomFillSync } from 'node:crypto';
import type pg from 'pg';
import { type Database, isRetryable } from '../../db/index.ts';
import type { NetworkRequest, NetworkReversal } from '../../payments/index.ts';
import { assert } from '../../shared/assert.ts';
import { BatchQueue } from '../../shared/batch-queue.ts';
import type { Logger } from '../../shared/logger.ts';
import {
  type AuthorizationRow,
  type CardRow,
  IssuerBatch,
  type IssuerContext,
  type IssuerDecision,
  type ReversalEffect,
  type WorkingCard,
  workingCard,
} from './issuer.ts';

// Group commit for the simulated issuer, over the shared BatchQueue. Messages that arrive while
// batches are being written queue; the next batch takes them all (up to maxBatch). A batch has two
// paths:
//
// FAST (one round trip, one statement, its own transaction): for plain messages (no original to find,
// no reversal) on cards the store remembers. The card cache holds each card's row as last written or
// read with its `version`, a random token that every write of the row changes (schema.ts). The batch
// decides in memory from the remembered rows (issuer.ts), and sends ONE statement that locks the
// batch's cards in id order, keeps those whose version is still the remembered one ("fresh"), updates
// them (money summed per card, a new version) and inserts the authorizations of their messages only;
// it returns the fresh cards. Messages on the others (a card another instance or a hand-written UPDATE
// changed) are decided again on the careful path; nothing of theirs was written. The cache is updated
// when the batch is decided, before its commit, so that the next batch (in flight at the same time)
// decides on top of it; its statement then waits in PostgreSQL for this one's locks and finds the
// version this one wrote, or, if this one failed, a version it did not expect. A statement that
// fails wrote nothing: its batch forgets its cards and goes the careful way (with its references
// loaded when it broke the unique reference: a retransmission, a message reversed before it came).
// The statement is prepared (parsed and planned once per connection), its arrays sent as parameters.
//
// CAREFUL (two round trips): for the rest (reversals, voids, refunds, completions, cards not
// remembered, cards whose version moved), in ONE transaction:
//   1. BEGIN and lock the card rows of its messages, in id order (batches side by side, from this
//      process or another, never deadlock), reading them: while it holds them, they are the truth;
//      when a message needs them (a reversal, a void, refund or completion), the authorizations the
//      messages refer to are read in the same round trip: their own references (repeats, reversals
//      seen first), their originals and the originals' originals. A batch of plain messages skips
//      this: a known reference then breaks the unique key on insert, and the batch is decided again
//      with its references loaded;
//   2. decide every message in memory, in arrival order (issuer.ts);
//   3. write the outcome in one statement (new authorizations, changed ones, reversal rows, each an
//      INSERT … SELECT FROM unnest, and one UPDATE per touched card with its summed change and a new
//      version) sent with its COMMIT; only then answer, and remember the cards as committed.
// A careful batch that fails before its commit wrote nothing: its messages are tried again one by
// one, so one bad message fails alone. A connection lost at the write (either path) leaves the
// outcome unknown: not retried, and the cards are forgotten.
//
// Asynchronous commit: the simulator's connections commit with synchronous_commit off, so an answer
// does not wait for its WAL flush (about half of a batch's time on a busy machine). This loses nothing
// the host relies on, because the simulator shares the host's database: the host records an approval
// only after the answer, and that commit flushes the WAL up to its own record, which comes after the
// simulator's. A crash can therefore lose only simulator writes the host never recorded: an approval
// the terminal then reverses (the simulator, not knowing it, acknowledges) or a reversal the host
// still owes and sends again. Pointed at a database of its own, the simulator would need
// synchronous commit back to behave like a real issuer across its own crashes.

export type MessageResult =
  | IssuerDecision
  /** committed: `no` when the transaction surely rolled back, `unknown` when its COMMIT failed. */
  | { kind: 'failed'; committed: 'no' | 'unknown'; detail: string };

export type ReversalResult =
  | { kind: 'done'; effect: ReversalEffect }
  | { kind: 'failed'; committed: 'no' | 'unknown'; detail: string };

type Job =
  | {
      kind: 'message';
      request: NetworkRequest;
      panHash: string;
      late: boolean;
      resolve: (result: MessageResult) => void;
    }
  | {
      kind: 'reversal';
      reversal: NetworkReversal;
      panHash: string;
      resolve: (result: ReversalResult) => void;
    };

/**
 * BEGIN and the lock in one round trip (the hashes are inlined: 64 hex digits each, checked), and
 * when given, the load of the authorizations the batch refers to after it (its own statement, so its
 * own snapshot: it sees everything committed before the locks were granted).
 */
function beginAndLockSql(hashes: readonly string[], load: string | undefined): string {
  for (const hash of hashes) assert(HASH_PATTERN.test(hash), 'a PAN hash is 64 hex digits');
  return `BEGIN;
SELECT id, pan_hash, kind, currency_numeric, balance_minor, credit_limit_minor, used_minor, held_minor,
       per_transaction_limit_minor, expiry, status, pvv, behaviour, pin_tries_date, pin_wrong_count, version
  FROM card_network_sim_cards
 WHERE pan_hash = ANY ('{${hashes.join(',')}}'::text[])
 ORDER BY id
   FOR UPDATE${load === undefined ? '' : `;\n${load}`}`;
}

const HASH_PATTERN = /^[0-9a-f]{64}$/;

const AUTHORIZATION_COLUMNS = `id, card_id, acquirer_code, stan, rrn, terminal_id, merchant_id, operation, amount_minor,
       currency_numeric, response_code, auth_code, status, hold_minor, released_minor, refunded_minor, original_id,
       transmitted_at, answered_at`;

const LOAD_AUTHORIZATIONS_SQL = `
WITH wanted AS (
  SELECT DISTINCT w.acquirer_code, w.stan, w.rrn
    FROM unnest($1::text[], $2::bpchar[], $3::text[]) AS w(acquirer_code, stan, rrn)
), hit AS (
  SELECT a.* FROM card_network_sim_authorizations a
    JOIN wanted w ON a.acquirer_code = w.acquirer_code AND a.stan = w.stan AND a.rrn = w.rrn
)
SELECT ${AUTHORIZATION_COLUMNS} FROM hit
UNION ALL
SELECT ${AUTHORIZATION_COLUMNS} FROM card_network_sim_authorizations o
 WHERE o.id IN (SELECT original_id FROM hit WHERE original_id IS NOT NULL)
   AND o.id NOT IN (SELECT id FROM hit)`;

const WRITE_SQL = `
WITH new_authorizations AS (
  INSERT INTO card_network_sim_authorizations (id, card_id, acquirer_code, stan, rrn, terminal_id, merchant_id, operation,
              amount_minor, currency_numeric, response_code, auth_code, status, hold_minor, released_minor,
              refunded_minor, original_id, transmitted_at, answered_at)
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bpchar[], $5::text[], $6::text[], $7::text[],
                       $8::card_network_sim_operation[], $9::int8[], $10::bpchar[], $11::bpchar[], $12::bpchar[],
                       $13::card_network_sim_authorization_status[], $14::int8[],
                       $15::int8[], $16::int8[], $17::uuid[], $18::timestamptz[], $19::timestamptz[])
  RETURNING 1
), changed_authorizations AS (
  UPDATE card_network_sim_authorizations a
     SET status = u.status, response_code = u.response_code, hold_minor = u.hold_minor,
         refunded_minor = u.refunded_minor, answered_at = u.answered_at, updated_at = now()
    FROM unnest($20::uuid[], $21::card_network_sim_authorization_status[], $22::bpchar[], $23::int8[], $24::int8[],
                $25::timestamptz[])
         AS u(id, status, response_code, hold_minor, refunded_minor, answered_at)
   WHERE a.id = u.id
  RETURNING 1
), new_reversals AS (
  INSERT INTO card_network_sim_reversals (id, authorization_id, attempt, reason, effect)
  SELECT * FROM unnest($26::uuid[], $27::uuid[], $28::int4[], $29::text[], $30::text[])
  RETURNING 1
), changed_cards AS (
  UPDATE card_network_sim_cards c
     SET balance_minor = c.balance_minor + d.balance_change, used_minor = c.used_minor + d.used_change,
         held_minor = c.held_minor + d.held_change, pin_tries_date = d.pin_tries_date,
         pin_wrong_count = d.pin_wrong_count, version = $37::int8, updated_at = now()
    FROM unnest($31::uuid[], $32::int8[], $33::int8[], $34::int8[], $35::date[], $36::int2[])
         AS d(id, balance_change, used_change, held_change, pin_tries_date, pin_wrong_count)
   WHERE c.id = d.id
  RETURNING 1
)
SELECT (SELECT count(*) FROM new_authorizations)::int AS inserted,
       (SELECT count(*) FROM changed_authorizations)::int AS changed,
       (SELECT count(*) FROM new_reversals)::int AS reversals,
       (SELECT count(*) FROM changed_cards)::int AS cards`;

/**
 * The fast path's one statement (autocommit: its own transaction). `expected` has one row per card of
 * the batch: the version the batch decided from, and (when `touched`) its summed changes. The
 * statement locks those cards in id order; `fresh` are those whose version is the expected one. Only
 * fresh cards are updated (with the batch's new version, $9) and only their messages' authorizations
 * inserted; the fresh card ids come back. Every data-modifying part reads `fresh`, so no row is
 * changed before it is locked, and every row is locked in id order. (The changes travel with
 * `expected` so that the update joins a materialized CTE by index: a generic plan that joined a
 * second unnest by nested loop cost O(cards²).)
 */
const FAST_WRITE_SQL = `
WITH expected AS (
  SELECT * FROM unnest($1::uuid[], $2::int8[], $3::bool[], $4::int8[], $5::int8[], $6::int8[], $7::date[], $8::int2[])
           AS e(id, version, touched, balance_change, used_change, held_change, pin_tries_date, pin_wrong_count)
), locked AS (
  SELECT c.id, c.version FROM card_network_sim_cards c
   WHERE c.id IN (SELECT id FROM expected)
   ORDER BY c.id
     FOR NO KEY UPDATE
), fresh AS (
  SELECT e.* FROM locked l JOIN expected e ON e.id = l.id AND e.version = l.version
), changed_cards AS (
  UPDATE card_network_sim_cards c
     SET balance_minor = c.balance_minor + d.balance_change, used_minor = c.used_minor + d.used_change,
         held_minor = c.held_minor + d.held_change, pin_tries_date = d.pin_tries_date,
         pin_wrong_count = d.pin_wrong_count, version = $9::int8, updated_at = now()
    FROM fresh d
   WHERE c.id = d.id AND d.touched
), new_authorizations AS (
  INSERT INTO card_network_sim_authorizations (id, card_id, acquirer_code, stan, rrn, terminal_id, merchant_id, operation,
              amount_minor, currency_numeric, response_code, auth_code, status, hold_minor, released_minor,
              refunded_minor, original_id, transmitted_at, answered_at)
  SELECT * FROM unnest($10::uuid[], $11::uuid[], $12::text[], $13::bpchar[], $14::text[], $15::text[], $16::text[],
                       $17::card_network_sim_operation[], $18::int8[], $19::bpchar[], $20::bpchar[], $21::bpchar[],
                       $22::card_network_sim_authorization_status[], $23::int8[],
                       $24::int8[], $25::int8[], $26::uuid[], $27::timestamptz[], $28::timestamptz[])
                AS u(id, card_id, acquirer_code, stan, rrn, terminal_id, merchant_id, operation, amount_minor,
                     currency_numeric, response_code, auth_code, status, hold_minor, released_minor,
                     refunded_minor, original_id, transmitted_at, answered_at)
   WHERE u.card_id IN (SELECT id FROM fresh)
)
SELECT id FROM fresh`;

interface CardDbRow {
  id: string;
  pan_hash: string;
  kind: CardRow['kind'];
  currency_numeric: string;
  balance_minor: bigint;
  credit_limit_minor: bigint;
  used_minor: bigint;
  held_minor: bigint;
  per_transaction_limit_minor: bigint;
  expiry: string;
  status: CardRow['status'];
  pvv: string;
  behaviour: CardRow['behaviour'];
  pin_tries_date: string | null;
  pin_wrong_count: number;
  version: bigint;
}

export interface AuthorizationDbRow {
  id: string;
  card_id: string | null;
  acquirer_code: string;
  stan: string;
  rrn: string;
  terminal_id: string;
  merchant_id: string;
  operation: AuthorizationRow['operation'];
  amount_minor: bigint;
  currency_numeric: string;
  response_code: string | null;
  auth_code: string | null;
  status: AuthorizationRow['status'];
  hold_minor: bigint;
  released_minor: bigint;
  refunded_minor: bigint;
  original_id: string | null;
  transmitted_at: Date;
  answered_at: Date | null;
}

export function authorizationFromDb(row: AuthorizationDbRow): AuthorizationRow {
  return {
    id: row.id,
    cardId: row.card_id,
    acquirerCode: row.acquirer_code,
    stan: row.stan,
    rrn: row.rrn,
    terminalId: row.terminal_id,
    merchantId: row.merchant_id,
    operation: row.operation,
    amountMinor: row.amount_minor,
    currencyNumeric: row.currency_numeric,
    responseCode: row.response_code,
    authCode: row.auth_code,
    status: row.status,
    holdMinor: row.hold_minor,
    releasedMinor: row.released_minor,
    refundedMinor: row.refunded_minor,
    originalId: row.original_id,
    transmittedAt: row.transmitted_at,
    answeredAt: row.answered_at,
  };
}

function cardFromDb(row: CardDbRow): CardRow {
  return {
    id: row.id,
    panHash: row.pan_hash,
    kind: row.kind,
    currencyNumeric: row.currency_numeric,
    balanceMinor: row.balance_minor,
    creditLimitMinor: row.credit_limit_minor,
    usedMinor: row.used_minor,
    heldMinor: row.held_minor,
    perTransactionLimitMinor: row.per_transaction_limit_minor,
    expiry: row.expiry,
    status: row.status,
    pvv: row.pvv,
    behaviour: row.behaviour,
    pinTriesDate: row.pin_tries_date,
    pinWrongCount: row.pin_wrong_count,
  };
}

class CommitFailed extends Error {}

/** A card as the store last wrote or read it, with the version that row had then. */
interface CachedCard {
  readonly row: CardRow;
  readonly version: bigint;
}

/**
 * The cards the store remembers, by PAN hash: a bounded map, oldest first out. An entry is a pair
 * (row, version) as it is (or, while its batch is in flight, as it will be) in the table; nothing is
 * trusted from it without the version check of the fast path.
 */
class CardCache {
  readonly #entries = new Map<string, CachedCard>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(panHash: string): CachedCard | undefined {
    return this.#entries.get(panHash);
  }

  set(panHash: string, entry: CachedCard): void {
    if (this.#max <= 0) return;
    this.#entries.delete(panHash);
    this.#entries.set(panHash, entry);
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }

  delete(panHash: string): void {
    this.#entries.delete(panHash);
  }

  clear(): void {
    this.#entries.clear();
  }
}

const versionDraws = new BigInt64Array(256);
let versionDrawn = versionDraws.length;

/** A new card version: random, never 0 (a new row's), so that no two writes of a row give the same one. */
export function newCardVersion(): bigint {
  for (;;) {
    if (versionDrawn === versionDraws.length) {
      randomFillSync(versionDraws);
      versionDrawn = 0;
    }
    const version = versionDraws[versionDrawn++]!;
    if (version !== 0n) return version;
  }
}

export interface IssuerStoreOptions {
  db: Database;
  /** The issuer's context for one batch (its clock reading, keys, rules). */
  context: () => IssuerContext;
  logger: Logger;
  /** Messages per batch (default 500). */
  maxBatch?: number;
  /** Batches written at once, each on its own connection (default 2). */
  maxInFlight?: number;
  /** Cards remembered for the fast path (default 100,000; 0: every batch takes the careful path). */
  maxCachedCards?: number;
}

export class IssuerStore {
  readonly #db: Database;
  readonly #context: () => IssuerContext;
  readonly #logger: Logger;
  readonly #maxInFlight: number;
  readonly #cache: CardCache;
  readonly #idleClients: pg.PoolClient[] = [];
  #closed = false;
  readonly #queue: BatchQueue<Job>;
  /** Batches written and messages decided, for benchmarks. */
  readonly stats = {
    batches: 0,
    jobs: 0,
    retriedAlone: 0,
    /** Batches of plain messages decided again with their references loaded (a known reference). */
    carefulAgain: 0,
    /** The fast path: batches (or parts of batches) written, their messages, and of these the ones
     * decided again carefully because their card's version had moved or the statement failed. */
    fast: { batches: 0, jobs: 0, stale: 0, failed: 0 },
    /** Milliseconds spent, summed over batches: BEGIN + lock (+ load), decide, write + COMMIT (the fast
     * path's one statement counts as write). */
    ms: { lock: 0, load: 0, decide: 0, write: 0 },
  };

  constructor(options: IssuerStoreOptions) {
    this.#db = options.db;
    this.#context = options.context;
    this.#logger = options.logger;
    this.#maxInFlight = options.maxInFlight ?? 2;
    this.#queue = new BatchQueue({
      maxBatch: options.maxBatch ?? 500,
      maxInFlight: this.#maxInFlight,
      run: (batch) => this.#runBatch(batch),
    });
    this.#cache = new CardCache(options.maxCachedCards ?? 100_000);
  }

  submitMessage(request: NetworkRequest, panHash: string, late: boolean): Promise<MessageResult> {
    return new Promise((resolve) => {
      this.#queue.add({ kind: 'message', request, panHash, late, resolve });
    });
  }

  submitReversal(reversal: NetworkReversal, panHash: string): Promise<ReversalResult> {
    return new Promise((resolve) => {
      this.#queue.add({ kind: 'reversal', reversal, panHash, resolve });
    });
  }

  /** Forgets a card (its row was changed outside the batches: its version moved anyway). */
  forgetCard(panHash: string): void {
    this.#cache.delete(panHash);
  }

  /** True while anything is queued or being written. */
  get busy(): boolean {
    return this.#queue.busy;
  }

  /** Resolves once nothing is queued or being written. */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  async #runBatch(jobs: Job[]): Promise<void> {
    this.stats.batches++;
    this.stats.jobs += jobs.length;
    let rest: Job[] = jobs;
    let loadReferences = false;
    try {
      ({ rest, loadReferences } = await this.#runFast(jobs));
    } catch (error) {
      // A bug, not the database: the jobs still get their answer.
      this.#logger.error({ err: error }, 'card-network simulator fast path failed');
    }
    if (rest.length > 0) await this.#runCareful(rest, loadReferences);
  }

  /**
   * A connection for a batch: one kept from an earlier batch when there is one (no turn of the event
   * loop). A connection taken from the pool commits without waiting for its WAL flush until it goes
   * back (see "Asynchronous commit" at the top of this file).
   */
  async #client(): Promise<pg.PoolClient> {
    const kept = this.#idleClients.pop();
    if (kept !== undefined) return kept;
    const client = await this.#db.pool.connect();
    try {
      await client.query('SET synchronous_commit = off');
    } catch (error) {
      client.release(true);
      throw error;
    }
    return client;
  }

  /**
   * Keeps a batch's connection for the next batch while healthy; any other is closed rather than given
   * back (it commits asynchronously, which no other user of the pool expects).
   */
  #keep(client: pg.PoolClient, healthy: boolean): void {
    if (healthy && !this.#closed && this.#idleClients.length < this.#maxInFlight)
      this.#idleClients.push(client);
    else client.release(true);
  }

  /** Jobs that may take the fast path: plain messages on remembered cards with no careful job of their own. */
  #fastJobs(jobs: readonly Job[]): Job[] {
    if (this.#cache.size === 0) return [];
    const careful = new Set<string>();
    for (const job of jobs) {
      const plain = job.kind === 'message' && job.request.original === undefined;
      if (!plain || this.#cache.get(job.panHash) === undefined) careful.add(job.panHash);
    }
    return careful.size === 0 ? jobs.slice() : jobs.filter((job) => !careful.has(job.panHash));
  }

  /**
   * The fast path for the jobs it can take: settles those it wrote (or whose fate became unknown) and
   * returns the rest, in arrival order, for the careful path; `loadReferences` when the statement hit
   * a known network reference (the careful path then loads them at once).
   */
  async #runFast(jobs: Job[]): Promise<{ rest: Job[]; loadReferences: boolean }> {
    if (this.#fastJobs(jobs).length === 0) return { rest: jobs, loadReferences: false };
    const client = await this.#client();
    try {
      return await this.#fastWrite(client, jobs);
    } catch (error) {
      // Thrown before the statement was sent (a bug in a decision): the connection is as it was.
      this.#keep(client, true);
      throw error;
    }
  }

  /** The fast path on a connection it gives back (kept, or released when broken) unless it throws. */
  async #fastWrite(client: pg.PoolClient, jobs: Job[]): Promise<{ rest: Job[]; loadReferences: boolean }> {
    // From here to the query, nothing awaits: the partition, the decisions and the cache's update
    // happen in one go, so that no other batch changes the cache in between.
    const fast = this.#fastJobs(jobs);
    if (fast.length === 0) {
      this.#keep(client, true);
      return { rest: jobs, loadReferences: false };
    }
    const ms = this.stats.ms;
    let at = performance.now();
    const cards = new Map<string, WorkingCard>();
    const expected = new Map<WorkingCard, bigint>();
    for (const job of fast) {
      if (cards.has(job.panHash)) continue;
      const cached = this.#cache.get(job.panHash)!;
      const card = workingCard({ ...cached.row });
      cards.set(job.panHash, card);
      expected.set(card, cached.version);
    }
    const batch = new IssuerBatch(this.#context(), cards, []);
    const results = fast.map((job) => {
      assert(job.kind === 'message', 'the fast path takes messages only');
      return batch.decideMessage(job.request, job.panHash, job.late);
    });
    assert(
      batch.updated.size === 0 && batch.reversals.length === 0,
      'plain messages on known cards only insert authorizations',
    );
    const touched = batch.touchedCards();
    const version = newCardVersion();
    const values = [...expectedValues(expected), version.toString(), ...insertValues(batch.inserted)];
    // The next batch decides on top of this one's outcome (see the top of this file).
    for (const card of touched) this.#cache.set(card.row.panHash, { row: card.row, version });
    ms.decide += performance.now() - at;
    at = performance.now();
    this.stats.fast.batches++;
    this.stats.fast.jobs += fast.length;
    let fresh: Set<string>;
    try {
      const result = await client.query<{ id: string }>({
        name: 'card_network_sim_fast_write',
        text: FAST_WRITE_SQL,
        values,
      });
      fresh = new Set(result.rows.map((row) => row.id));
    } catch (error) {
      for (const panHash of cards.keys()) this.#cache.delete(panHash);
      if (typeof (error as { code?: unknown }).code === 'string') {
        // The statement failed and wrote nothing: every job goes the careful way.
        this.#keep(client, true);
        this.stats.fast.failed += fast.length;
        const known = isReferenceConflict(error);
        if (known) this.stats.carefulAgain++;
        return { rest: jobs, loadReferences: known };
      }
      // The connection was lost on the way: the outcome is unknown.
      this.#keep(client, false);
      const detail = `the issuer could not record the message: ${(error as Error).message}`;
      this.#logger.error(
        { err: error, messages: fast.length, committed: 'unknown' },
        'card-network simulator batch failed',
      );
      for (const job of fast) settle(job, { kind: 'failed', committed: 'unknown', detail });
      const settled = new Set(fast);
      return { rest: jobs.filter((job) => !settled.has(job)), loadReferences: false };
    }
    this.#keep(client, true);
    ms.write += performance.now() - at;
    const stale = new Set<string>();
    for (const [panHash, card] of cards) {
      if (fresh.has(card.row.id)) continue;
      stale.add(panHash);
      this.#cache.delete(panHash);
    }
    const settled = new Set<Job>();
    fast.forEach((job, i) => {
      if (stale.has(job.panHash)) {
        this.stats.fast.stale++;
        return;
      }
      settled.add(job);
      settle(job, results[i]!);
    });
    return {
      rest: settled.size === jobs.length ? [] : jobs.filter((job) => !settled.has(job)),
      loadReferences: false,
    };
  }

  /** The careful path for the jobs: one transaction for them all, or one each if theirs fails. */
  async #runCareful(jobs: Job[], loadReferences: boolean): Promise<void> {
    try {
      const results = await this.#withRetry(() => this.#write(jobs, loadReferences));
      jobs.forEach((job, i) => {
        settle(job, results[i]!);
      });
      return;
    } catch (error) {
      if (error instanceof CommitFailed || jobs.length === 1) {
        const committed = error instanceof CommitFailed ? 'unknown' : 'no';
        const detail = `the issuer could not record the message: ${(error as Error).message}`;
        this.#logger.error(
          { err: error, messages: jobs.length, committed },
          'card-network simulator batch failed',
        );
        for (const job of jobs) settle(job, { kind: 'failed', committed, detail });
        return;
      }
    }
    // The batch rolled back: each message alone, so that only the one at fault fails.
    this.stats.retriedAlone += jobs.length;
    for (const job of jobs) {
      try {
        const [result] = await this.#withRetry(() => this.#write([job], loadReferences));
        settle(job, result!);
      } catch (error) {
        const committed = error instanceof CommitFailed ? 'unknown' : 'no';
        this.#logger.error({ err: error, committed }, 'card-network simulator message failed');
        settle(job, {
          kind: 'failed',
          committed,
          detail: `the issuer could not record the message: ${(error as Error).message}`,
        });
      }
    }
  }

  async #withRetry<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (error) {
        if (attempt >= 5 || error instanceof CommitFailed || !isRetryable(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 2 ** attempt));
      }
    }
  }

  /**
   * One transaction for the jobs; their results in order. A batch of plain messages (no original to
   * find, no reversal) skips loading authorizations unless told to: a reference already known (a
   * retransmission, a message reversed before it arrived) then breaks the unique reference on insert,
   * and the batch is decided again, carefully, with its references loaded.
   */
  async #write(
    jobs: readonly Job[],
    loadReferences: boolean,
  ): Promise<Array<MessageResult | ReversalResult>> {
    const careful =
      loadReferences || jobs.some((job) => job.kind === 'reversal' || job.request.original !== undefined);
    try {
      return await this.#transaction(jobs, careful);
    } catch (error) {
      if (careful || !isReferenceConflict(error)) throw error;
      this.stats.carefulAgain++;
      return this.#transaction(jobs, true);
    }
  }

  async #transaction(jobs: readonly Job[], careful: boolean): Promise<Array<MessageResult | ReversalResult>> {
    // Connections are kept for the next batch: taking one from the pool costs a turn of the event loop.
    const client = await this.#client();
    let healthy = true;
    try {
      return await this.#decideAndWrite(client, jobs, careful);
    } catch (error) {
      if (error instanceof CommitFailed) healthy = false;
      else {
        healthy = await client.query('ROLLBACK').then(
          () => true,
          () => false,
        );
      }
      throw error;
    } finally {
      this.#keep(client, healthy);
    }
  }

  /** Closes the kept connections and forgets the cards (the simulator's close). */
  releaseConnections(): void {
    this.#closed = true;
    this.#cache.clear();
    for (const client of this.#idleClients.splice(0)) client.release(true);
  }

  /**
   * BEGIN and lock (and load, when careful) in one round trip, decide, then write and COMMIT in one
   * round trip; the cards are remembered as committed.
   */
  async #decideAndWrite(
    client: pg.PoolClient,
    jobs: readonly Job[],
    careful: boolean,
  ): Promise<Array<MessageResult | ReversalResult>> {
    const ms = this.stats.ms;
    let at = performance.now();
    const hashes = new Set<string>();
    for (const job of jobs) hashes.add(job.panHash);
    // Forgotten while this batch holds them: a fast batch would only find their versions moved.
    for (const hash of hashes) this.#cache.delete(hash);
    const begun = (await client.query(
      beginAndLockSql([...hashes], careful ? loadSql(jobs) : undefined),
    )) as unknown as pg.QueryResult[];
    const locked = begun[1]!.rows as CardDbRow[];
    const cards = new Map<string, WorkingCard>();
    const versions = new Map<string, bigint>();
    for (const row of locked) {
      cards.set(row.pan_hash, workingCard(cardFromDb(row)));
      versions.set(row.pan_hash, row.version);
    }
    const loaded = careful ? (begun[2]!.rows as AuthorizationDbRow[]).map(authorizationFromDb) : [];
    ms.lock += performance.now() - at;
    at = performance.now();
    const batch = new IssuerBatch(this.#context(), cards, loaded);
    const results = jobs.map((job): MessageResult | ReversalResult =>
      job.kind === 'message'
        ? batch.decideMessage(job.request, job.panHash, job.late)
        : { kind: 'done', effect: batch.decideReversal(job.reversal, job.panHash) },
    );
    const touched = batch.touchedCards();
    const version = newCardVersion();
    const changes = batch.inserted.length + batch.updated.size + batch.reversals.length + touched.length;
    const sql = changes > 0 ? `${inlineWrite(writeValues(batch, touched, version))};\nCOMMIT` : 'COMMIT';
    ms.decide += performance.now() - at;
    at = performance.now();
    try {
      await client.query(sql);
    } catch (error) {
      // A server's error means the statement (or the COMMIT) failed and nothing was committed; a
      // connection lost on the way leaves the outcome unknown.
      if (typeof (error as { code?: unknown }).code === 'string') throw error;
      throw new CommitFailed((error as Error).message, { cause: error });
    }
    ms.write += performance.now() - at;
    for (const [hash, card] of cards) {
      this.#cache.set(hash, { row: card.row, version: card.touched ? version : versions.get(hash)! });
    }
    return results;
  }
}

/**
 * The load of the authorizations the jobs refer to: their own references, their originals', and
 * those rows' originals; inlined (quoted) to go in the lock's round trip.
 */
function loadSql(jobs: readonly Job[]): string {
  const acquirers: string[] = [];
  const stans: string[] = [];
  const rrns: string[] = [];
  for (const job of jobs) {
    const request = job.kind === 'message' ? job.request : job.reversal.original;
    acquirers.push(request.acquirerCode);
    stans.push(request.stan);
    rrns.push(request.rrn);
    if (request.original !== undefined) {
      acquirers.push(request.acquirerCode);
      stans.push(request.original.stan);
      rrns.push(request.original.rrn);
    }
  }
  return inlineParams(LOAD_AUTHORIZATIONS_SQL, [pgArray(acquirers), pgArray(stans), pgArray(rrns)]);
}

/**
 * The write statement with its array literals inlined as SQL string literals (quotes doubled;
 * standard_conforming_strings is on), so that it goes with its COMMIT as one simple query: one round
 * trip, one socket write, instead of two.
 */
function inlineWrite(values: readonly string[]): string {
  return inlineParams(WRITE_SQL, values);
}

/** A statement with its `$n::type` parameters inlined as string literals (quotes doubled). */
function inlineParams(sql: string, values: readonly string[]): string {
  return sql.replace(/\$(\d+)::/g, (_, n: string) => `'${values[Number(n) - 1]!.replaceAll("'", "''")}'::`);
}

/** A unique_violation on the authorizations' network reference. */
function isReferenceConflict(error: unknown): boolean {
  const e = error as { code?: string; constraint?: string } | null;
  return e?.code === '23505' && e.constraint === 'card_network_sim_authorizations_reference';
}

const BARE_ELEMENT = /^[A-Za-z0-9_.:+-]+$/;

type Element = string | number | bigint | null;

/**
 * A PostgreSQL array literal of text-form values, written here rather than by node-postgres (whose
 * quoting runs two regular-expression replaces per element): bare where it can be, quoted otherwise.
 * `trusted` columns (ids, numbers, codes this module chose) are written bare without a look.
 */
export function pgArray(values: readonly Element[], trusted = false): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const value = values[i];
    if (value === null || value === undefined) {
      out += 'NULL';
      continue;
    }
    const text = typeof value === 'string' ? value : value.toString();
    if (trusted || (BARE_ELEMENT.test(text) && text.toUpperCase() !== 'NULL')) out += text;
    else out += `"${text.replace(/[\\"]/g, '\\$&')}"`;
  }
  return `${out}}`;
}

/**
 * Columns of the authorizations' insert whose values come from outside (acquirer code, STAN, RRN,
 * terminal, merchant, currency): quoted when they need it. The others are ids, numbers and codes this
 * module made, written bare without a look; so are the cards' columns.
 */
const OUTSIDE_INSERT_COLUMNS: ReadonlySet<number> = new Set([2, 3, 4, 5, 6, 9]);

function settle(job: Job, result: MessageResult | ReversalResult): void {
  if (job.kind === 'message') job.resolve(result as MessageResult);
  else job.resolve(result as ReversalResult);
}

/** The 19 arrays of the authorizations' insert. */
function insertValues(inserted: readonly AuthorizationRow[]): string[] {
  const a: Element[][] = Array.from({ length: 19 }, () => []);
  for (const row of inserted) {
    a[0]!.push(row.id);
    a[1]!.push(row.cardId);
    a[2]!.push(row.acquirerCode);
    a[3]!.push(row.stan);
    a[4]!.push(row.rrn);
    a[5]!.push(row.terminalId);
    a[6]!.push(row.merchantId);
    a[7]!.push(row.operation);
    a[8]!.push(row.amountMinor);
    a[9]!.push(row.currencyNumeric);
    a[10]!.push(row.responseCode);
    a[11]!.push(row.authCode);
    a[12]!.push(row.status);
    a[13]!.push(row.holdMinor);
    a[14]!.push(row.releasedMinor);
    a[15]!.push(row.refundedMinor);
    a[16]!.push(row.originalId);
    a[17]!.push(row.transmittedAt.toISOString());
    a[18]!.push(row.answeredAt === null ? null : row.answeredAt.toISOString());
  }
  return a.map((values, i) => pgArray(values, !OUTSIDE_INSERT_COLUMNS.has(i)));
}

/** The 6 arrays of the cards' update: id, the summed changes of the money columns, the PIN tries. */
function cardValues(touched: readonly WorkingCard[]): string[] {
  const c: Element[][] = Array.from({ length: 6 }, () => []);
  for (const card of touched) {
    c[0]!.push(card.row.id);
    c[1]!.push(card.row.balanceMinor - card.start.balanceMinor);
    c[2]!.push(card.row.usedMinor - card.start.usedMinor);
    c[3]!.push(card.row.heldMinor - card.start.heldMinor);
    c[4]!.push(card.row.pinTriesDate);
    c[5]!.push(card.row.pinWrongCount);
  }
  return c.map((values) => pgArray(values, true));
}

/** The fast statement's cards ($1 … $8): id, expected version, touched, and the changes of cardValues. */
function expectedValues(expected: ReadonlyMap<WorkingCard, bigint>): string[] {
  const c: Element[][] = Array.from({ length: 8 }, () => []);
  for (const [card, version] of expected) {
    c[0]!.push(card.row.id);
    c[1]!.push(version);
    c[2]!.push(card.touched ? 't' : 'f');
    c[3]!.push(card.row.balanceMinor - card.start.balanceMinor);
    c[4]!.push(card.row.usedMinor - card.start.usedMinor);
    c[5]!.push(card.row.heldMinor - card.start.heldMinor);
    c[6]!.push(card.row.pinTriesDate);
    c[7]!.push(card.row.pinWrongCount);
  }
  return c.map((values) => pgArray(values, true));
}

/** The parameters of the careful path's write statement ($1 … $37). */
function writeValues(batch: IssuerBatch, touched: readonly WorkingCard[], version: bigint): string[] {
  const u: Element[][] = Array.from({ length: 6 }, () => []);
  for (const row of batch.updated) {
    u[0]!.push(row.id);
    u[1]!.push(row.status);
    u[2]!.push(row.responseCode);
    u[3]!.push(row.holdMinor);
    u[4]!.push(row.refundedMinor);
    u[5]!.push(row.answeredAt === null ? null : row.answeredAt.toISOString());
  }
  const r: Element[][] = Array.from({ length: 5 }, () => []);
  for (const reversal of batch.reversals) {
    r[0]!.push(reversal.id);
    r[1]!.push(reversal.authorizationId);
    r[2]!.push(reversal.attempt);
    r[3]!.push(reversal.reason);
    r[4]!.push(reversal.effect);
  }
  return [
    ...insertValues(batch.inserted),
    ...u.map((values) => pgArray(values, true)),
    // The reversal's reason comes from outside.
    ...r.map((values, i) => pgArray(values, i !== 3)),
    ...cardValues(touched),
    version.toString(),
  ];
}
