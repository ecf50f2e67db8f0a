import type { Audit } from '../audit/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import { businessDate, type Clock } from '../shared/clock.ts';
import { TillpointError } from '../shared/errors.ts';
import { isId, newId } from '../shared/ids.ts';
import { Accounts } from './accounts.ts';
import { balanceOf, historyOf, trialBalance, verifyIntegrity } from './reads.ts';
import {
  type AccountRef,
  checkBusinessDate,
  checkDescription,
  checkIdempotencyKey,
  checkPostings,
  type ResolvedPosting,
  requestHash,
  swapSide,
} from './rules.ts';
import type {
  Account,
  Actor,
  Balance,
  Entry,
  EntryInput,
  EntryKind,
  HistoryLine,
  IntegrityReport,
  OpenAccountInput,
  Page,
  Posting,
  PostPendingInput,
  PostResult,
  ReverseInput,
  TrialBalance,
  VoidPendingInput,
} from './types.ts';
import {
  GroupCommitter,
  type Guard,
  type PreparedEntry,
  writeEntries,
  writeEntriesGuarded,
  writeEntry,
} from './writer.ts';

export interface LedgerDeps {
  db: Database;
  audit: Audit;
  clock: Clock;
  /** The institution's time zone: business dates are calendar dates there. */
  timeZone: string;
}

/** Options of a write: `tx` makes it part of the caller's transaction (with its state change and audit line). */
export interface WriteOptions {
  tx?: Queryable;
}

interface EntryRow {
  id: string;
  idempotency_key: string;
  request_hash: string;
  kind: EntryKind;
  business_date: string;
  description: string;
  reference_type: string | null;
  reference_id: string | null;
  pending_entry_id: string | null;
  reverses_entry_id: string | null;
  expires_at: Date | null;
  created_at: Date;
}

interface PostingRow {
  entry_id: string;
  account_id: string;
  code: string;
  currency: string;
  side: Posting['side'];
  amount: bigint;
  pending: boolean;
}

/**
 * The ledger: the only way money moves in Tillpoint. Double entry (debits equal credits per currency),
 * idempotent by key, immutable (a correction is a reversing entry), with TigerBeetle-style two-phase
 * entries for holds. Each method names the errors it can throw in its comment.
 */
export class Ledger {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #timeZone: string;
  readonly #committer: GroupCommitter;
  readonly accounts: Accounts;

  constructor(deps: LedgerDeps) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#timeZone = deps.timeZone;
    this.accounts = new Accounts(deps.db, deps.audit);
    this.#committer = new GroupCommitter(deps.db, (db, key) => this.#loadByKey(db, key));
  }

  /** Today's business date in the institution's time zone. */
  today(): string {
    return businessDate(this.#clock.now(), this.#timeZone);
  }

  /**
   * Opens an account, or returns the existing one when the same code is opened again with the same
   * facts. Errors: VALIDATION, CURRENCY_UNKNOWN, ACCOUNT_EXISTS (same code, other facts).
   */
  openAccount(input: OpenAccountInput, actor?: Actor): Promise<{ account: Account; created: boolean }> {
    return this.accounts.open(input, actor);
  }

  /** Closes an account whose balances are all zero. Errors: ACCOUNT_NOT_FOUND, ACCOUNT_NOT_EMPTY. */
  closeAccount(code: string, actor?: Actor): Promise<Account> {
    return this.accounts.close(code, actor);
  }

  /** Errors: ACCOUNT_NOT_FOUND. */
  getAccount(code: string): Promise<Account> {
    return this.accounts.get(code);
  }

  listAccounts(options: {
    limit: number;
    startingAfter?: string;
    owner?: { type: string; id: string };
  }): Promise<Page<Account>> {
    return this.accounts.list(options);
  }

  /**
   * Posts an entry (or, with `pending`, reserves it). The same key again returns the first entry and
   * writes nothing. Errors: VALIDATION, AMOUNT_INVALID, ACCOUNT_NOT_FOUND, CURRENCY_MISMATCH,
   * ENTRY_TOO_FEW_POSTINGS, ENTRY_UNBALANCED, ACCOUNT_CLOSED, INSUFFICIENT_BALANCE, ENTRY_CONFLICT.
   */
  async post(input: EntryInput, options: WriteOptions = {}): Promise<PostResult> {
    const prepared = await this.prepare(input, options.tx);
    return this.#write(prepared, options);
  }

  /**
   * Checks and resolves an entry without writing it: for callers that write many entries in their own
   * batches (`writePrepared`). Throws what `post` throws before the database.
   */
  async prepare(input: EntryInput, db: Queryable = this.#db): Promise<PreparedEntry> {
    checkIdempotencyKey(input.idempotencyKey);
    checkDescription(input.description);
    const date = input.businessDate ?? this.today();
    checkBusinessDate(date);
    if (!Array.isArray(input.postings)) {
      throw new TillpointError('TILLPOINT_ERR_VALIDATION', 'postings must be a list', { param: 'postings' });
    }
    const refs = await this.accounts.refs(
      input.postings.map((p) => p.account),
      db,
    );
    const postings = checkPostings(input.postings, refs);
    const kind: EntryKind = input.pending === undefined ? 'posted' : 'pending';
    return {
      id: newId(),
      idempotencyKey: input.idempotencyKey,
      requestHash: requestHash({ kind, postings }),
      kind,
      businessDate: date,
      description: input.description,
      referenceType: input.reference?.type ?? null,
      referenceId: input.reference?.id ?? null,
      pendingEntryId: null,
      reversesEntryId: null,
      expiresAt: input.pending?.expiresAt ?? null,
      postings,
    };
  }

  /**
   * Posts a pending entry, in full or in part (the rest is released). Errors: PENDING_NOT_FOUND,
   * PENDING_ALREADY_RESOLVED (posted, voided or expired), PENDING_EXCEEDED, plus those of `post`.
   */
  async postPending(input: PostPendingInput, options: WriteOptions = {}): Promise<PostResult> {
    checkIdempotencyKey(input.idempotencyKey);
    const db = options.tx ?? this.#db;
    const pending = await this.#pendingEntry(db, input.pendingEntryId);
    let postings: ResolvedPosting[];
    if (input.postings === undefined) {
      postings = pending.postings.map((p) => ({
        account: { id: p.accountId, code: p.accountCode, currency: p.currency },
        side: p.side,
        amountMinor: p.amountMinor,
      }));
    } else {
      const refs = await this.accounts.refs(
        input.postings.map((p) => p.account),
        db,
      );
      postings = checkPostings(input.postings, refs);
      for (const [i, posting] of postings.entries()) {
        const total = (list: ReadonlyArray<{ accountId: string; side: string; amountMinor: bigint }>) =>
          list
            .filter((p) => p.accountId === posting.account.id && p.side === posting.side)
            .reduce((sum, p) => sum + p.amountMinor, 0n);
        const reserved = total(pending.postings);
        const asked = total(
          postings.map((p) => ({ accountId: p.account.id, side: p.side, amountMinor: p.amountMinor })),
        );
        if (asked > reserved) {
          throw new TillpointError(
            'TILLPOINT_ERR_PENDING_EXCEEDED',
            `postings[${i}] posts ${asked} to ${posting.side} ${posting.account.code}, but the pending entry reserved ${reserved}`,
            { param: `postings[${i}].amountMinor` },
          );
        }
      }
    }
    const description = input.description ?? `Post: ${pending.description}`.slice(0, 500);
    checkDescription(description);
    const date = input.businessDate ?? this.today();
    checkBusinessDate(date);
    const prepared = this.#resolution(
      'post_pending',
      pending,
      input.idempotencyKey,
      description,
      date,
      postings,
    );
    return this.#resolve(db, prepared, pending, options);
  }

  /** Voids a pending entry: everything it reserved is released. Errors as `postPending`. */
  async voidPending(input: VoidPendingInput, options: WriteOptions = {}): Promise<PostResult> {
    checkIdempotencyKey(input.idempotencyKey);
    const db = options.tx ?? this.#db;
    const pending = await this.#pendingEntry(db, input.pendingEntryId);
    const description = input.description ?? `Void: ${pending.description}`.slice(0, 500);
    checkDescription(description);
    const date = input.businessDate ?? this.today();
    checkBusinessDate(date);
    const prepared = this.#resolution('void_pending', pending, input.idempotencyKey, description, date, []);
    return this.#resolve(db, prepared, pending, options);
  }

  /**
   * Expires the pending entries whose time has passed (at most `limit`), releasing what they reserved.
   * Safe to run on several nodes at once: each expiry has a fixed key. Returns how many it expired.
   */
  async expirePending(limit = 1000): Promise<number> {
    const due = await this.#db.query<EntryRow>(
      `SELECT e.* FROM ledger_entries e
        WHERE e.kind = 'pending' AND e.expires_at IS NOT NULL AND e.expires_at <= $1
          AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.pending_entry_id = e.id)
        ORDER BY e.expires_at LIMIT $2`,
      [this.#clock.now(), limit],
    );
    let expired = 0;
    for (const row of due.rows) {
      const pending = await this.#entryFromRow(this.#db, row);
      const prepared = this.#resolution(
        'expire_pending',
        pending,
        `ledger:expire:${pending.id}`,
        `Expired: ${pending.description}`.slice(0, 500),
        this.today(),
        [],
      );
      try {
        const outcome = await this.#write(prepared, {});
        if (outcome.created) expired++;
      } catch (error) {
        // Posted or voided in the meantime: nothing left to expire.
        if (!(error instanceof TillpointError && error.code === 'TILLPOINT_ERR_PENDING_ALREADY_RESOLVED'))
          throw error;
      }
    }
    return expired;
  }

  /**
   * Reverses a posted entry with a new entry of the opposite postings that references it.
   * Errors: ENTRY_NOT_FOUND, ENTRY_ALREADY_REVERSED, VALIDATION (not a posted entry), ACCOUNT_CLOSED …
   */
  async reverse(input: ReverseInput, options: WriteOptions = {}): Promise<PostResult> {
    checkIdempotencyKey(input.idempotencyKey);
    const db = options.tx ?? this.#db;
    const original = await this.getEntry(input.entryId, db);
    if (original.kind !== 'posted' && original.kind !== 'post_pending') {
      throw new TillpointError(
        'TILLPOINT_ERR_VALIDATION',
        `Entry ${original.id} is ${original.kind}: only posted entries are reversed (void a pending entry instead)`,
        { param: 'entryId' },
      );
    }
    const description = input.description ?? `Reversal: ${original.description}`.slice(0, 500);
    checkDescription(description);
    const date = input.businessDate ?? this.today();
    checkBusinessDate(date);
    const postings = original.postings.map((p) => ({
      account: { id: p.accountId, code: p.accountCode, currency: p.currency },
      side: swapSide(p.side),
      amountMinor: p.amountMinor,
    }));
    return this.#write(
      {
        id: newId(),
        idempotencyKey: input.idempotencyKey,
        requestHash: requestHash({ kind: 'posted', reversesEntryId: original.id, postings }),
        kind: 'posted',
        businessDate: date,
        description,
        referenceType: original.referenceType,
        referenceId: original.referenceId,
        pendingEntryId: null,
        reversesEntryId: original.id,
        expiresAt: null,
        postings,
      },
      options,
    );
  }

  /** Errors: ENTRY_NOT_FOUND. */
  async getEntry(id: string, db: Queryable = this.#db): Promise<Entry> {
    if (!isId(id)) {
      throw new TillpointError('TILLPOINT_ERR_ENTRY_NOT_FOUND', `No journal entry ${id}`, { param: 'id' });
    }
    const result = await db.query<EntryRow>('SELECT * FROM ledger_entries WHERE id = $1', [id]);
    const row = result.rows[0];
    if (row === undefined) {
      throw new TillpointError('TILLPOINT_ERR_ENTRY_NOT_FOUND', `No journal entry ${id}`, { param: 'id' });
    }
    return this.#entryFromRow(db, row);
  }

  /** Entries of a business object (e.g. a payment), oldest first. */
  async entriesOf(reference: { type: string; id: string }, db: Queryable = this.#db): Promise<Entry[]> {
    const result = await db.query<EntryRow>(
      'SELECT * FROM ledger_entries WHERE reference_type = $1 AND reference_id = $2 ORDER BY created_at, id',
      [reference.type, reference.id],
    );
    return Promise.all(result.rows.map((row) => this.#entryFromRow(db, row)));
  }

  /**
   * The balance of an account now (from its balance row), or as of the end of a business date (from
   * its postings; posted amounts only). Errors: ACCOUNT_NOT_FOUND, VALIDATION (bad date).
   */
  async balance(code: string, options: { asOf?: string; db?: Queryable } = {}): Promise<Balance> {
    const db = options.db ?? this.#db;
    return balanceOf(db, await this.accounts.get(code, db), options.asOf);
  }

  /** Postings of an account, newest first; `startingAfter` is the last `postingId` of the previous page. */
  async history(
    code: string,
    options: { limit: number; startingAfter?: bigint },
  ): Promise<Page<HistoryLine>> {
    return historyOf(this.#db, await this.accounts.get(code), options);
  }

  /**
   * Every account's posted debit or credit balance and, per currency, the totals: debits equal credits
   * (difference zero) in a sound ledger. `asOf` computes it from postings up to that business date.
   */
  trialBalance(options: { asOf?: string } = {}): Promise<TrialBalance> {
    return trialBalance(this.#db, options);
  }

  /**
   * Recomputes every balance from the postings (posted, and pending not yet resolved) and checks that
   * every entry balances: for `tillpoint ledger verify` and tests. Reads everything: not for hot paths.
   */
  verifyIntegrity(): Promise<IntegrityReport> {
    return verifyIntegrity(this.#db);
  }

  /**
   * Writes entries made by `prepare` in one statement of the caller's transaction: for callers that
   * batch many business transactions into one commit (the terminal host). Each slot holds the outcome
   * or the per-entry error (a conflicting key); a broken rule fails the statement and is thrown.
   */
  writePrepared(
    entries: readonly PreparedEntry[],
    tx: Queryable,
  ): Promise<Array<PostResult | TillpointError>> {
    return writeEntries(tx, entries, (db, key) => this.#loadByKey(db, key));
  }

  /**
   * Writes the caller's rows (the guard's statement) and the entries they vouch for in ONE statement
   * — atomic on its own, one round trip — for group commits that need no explicit transaction. Only
   * entries whose id the guard returns as `entry_id` are written (the others' slots are null);
   * `guardKeys` are its `guard_key`s.
   */
  writeGuarded(
    entries: readonly PreparedEntry[],
    db: Queryable,
    guard: Guard,
  ): Promise<{ outcomes: Array<PostResult | TillpointError | null>; guardKeys: string[] }> {
    return writeEntriesGuarded(db, entries, (q, key) => this.#loadByKey(q, key), guard);
  }

  async #write(prepared: PreparedEntry, options: WriteOptions): Promise<PostResult> {
    if (options.tx !== undefined)
      return writeEntry(options.tx, prepared, (db, key) => this.#loadByKey(db, key));
    return this.#committer.write(prepared);
  }

  async #pendingEntry(db: Queryable, pendingEntryId: string): Promise<Entry> {
    const notFound = (why: string) =>
      new TillpointError('TILLPOINT_ERR_PENDING_NOT_FOUND', why, { param: 'pendingEntryId' });
    let pending: Entry;
    try {
      pending = await this.getEntry(pendingEntryId, db);
    } catch (error) {
      if (error instanceof TillpointError && error.code === 'TILLPOINT_ERR_ENTRY_NOT_FOUND') {
        throw notFound(`No pending entry ${pendingEntryId}`);
      }
      throw error;
    }
    if (pending.kind !== 'pending') throw notFound(`Entry ${pendingEntryId} is ${pending.kind}, not pending`);
    return pending;
  }

  /** Writes a resolution, unless its key already did (a replay) or the pending entry is no longer open. */
  async #resolve(
    db: Queryable,
    prepared: PreparedEntry,
    pending: Entry,
    options: WriteOptions,
  ): Promise<PostResult> {
    const earlier = await this.#loadByKey(db, prepared.idempotencyKey);
    if (earlier !== undefined) {
      if (earlier.requestHash === prepared.requestHash) return { entry: earlier.entry, created: false };
      throw new TillpointError(
        'TILLPOINT_ERR_ENTRY_CONFLICT',
        `Idempotency key ${prepared.idempotencyKey} was already used for entry ${earlier.entry.id} with a different request`,
        { param: 'idempotencyKey' },
      );
    }
    const resolution = await db.query<{ kind: EntryKind }>(
      'SELECT kind FROM ledger_entries WHERE pending_entry_id = $1',
      [pending.id],
    );
    const resolvedAs = resolution.rows[0]?.kind;
    if (resolvedAs !== undefined) {
      const word =
        resolvedAs === 'post_pending' ? 'posted' : resolvedAs === 'void_pending' ? 'voided' : 'expired';
      throw new TillpointError(
        'TILLPOINT_ERR_PENDING_ALREADY_RESOLVED',
        `Pending entry ${pending.id} was already ${word}`,
        { param: 'pendingEntryId' },
      );
    }
    if (
      prepared.kind !== 'expire_pending' &&
      pending.expiresAt !== null &&
      pending.expiresAt <= this.#clock.now()
    ) {
      throw new TillpointError(
        'TILLPOINT_ERR_PENDING_ALREADY_RESOLVED',
        `Pending entry ${pending.id} expired at ${pending.expiresAt.toISOString()}`,
        { param: 'pendingEntryId' },
      );
    }
    return this.#write(prepared, options);
  }

  #resolution(
    kind: 'post_pending' | 'void_pending' | 'expire_pending',
    pending: Entry,
    idempotencyKey: string,
    description: string,
    date: string,
    postings: ResolvedPosting[],
  ): PreparedEntry {
    return {
      id: newId(),
      idempotencyKey,
      requestHash: requestHash({ kind, pendingEntryId: pending.id, postings }),
      kind,
      businessDate: date,
      description,
      referenceType: pending.referenceType,
      referenceId: pending.referenceId,
      pendingEntryId: pending.id,
      reversesEntryId: null,
      expiresAt: null,
      postings,
    };
  }

  async #loadByKey(db: Queryable, key: string): Promise<{ entry: Entry; requestHash: string } | undefined> {
    const result = await db.query<EntryRow>('SELECT * FROM ledger_entries WHERE idempotency_key = $1', [key]);
    const row = result.rows[0];
    if (row === undefined) return undefined;
    return { entry: await this.#entryFromRow(db, row), requestHash: row.request_hash };
  }

  async #entryFromRow(db: Queryable, row: EntryRow): Promise<Entry> {
    const postings = await db.query<PostingRow>(
      `SELECT p.entry_id, p.account_id, a.code, p.currency, p.side, p.amount, p.pending
         FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
        WHERE p.entry_id = $1 ORDER BY p.line`,
      [row.id],
    );
    return {
      id: row.id,
      idempotencyKey: row.idempotency_key,
      kind: row.kind,
      businessDate: row.business_date,
      description: row.description,
      referenceType: row.reference_type,
      referenceId: row.reference_id,
      pendingEntryId: row.pending_entry_id,
      reversesEntryId: row.reverses_entry_id,
      expiresAt: row.expires_at,
      createdAt: row.created_at,
      postings: postings.rows.map((p) => ({
        accountId: p.account_id,
        accountCode: p.code,
        currency: p.currency.trim(),
        side: p.side,
        amountMinor: p.amount,
        pending: p.pending,
      })),
    };
  }
}

export type { AccountRef, Guard, PreparedEntry };
