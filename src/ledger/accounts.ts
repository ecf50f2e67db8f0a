import type { Audit } from '../audit/index.ts';
import { type Database, type Queryable, transaction } from '../db/index.ts';
import { TillpointError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import { DEFAULT_CURRENCY, isKnownCurrency } from '../shared/money.ts';
import { ledgerErrorFromDatabase } from './db-errors.ts';
import { type AccountRef, checkAccountCode } from './rules.ts';
import { ACCOUNT_TYPES, type Account, type Actor, type OpenAccountInput, type Page } from './types.ts';

interface AccountRow {
  id: string;
  code: string;
  name: string;
  type: Account['type'];
  currency: string;
  owner_type: string | null;
  owner_id: string | null;
  status: Account['status'];
  no_negative: boolean;
  created_at: Date;
  closed_at: Date | null;
}

export function toAccount(row: AccountRow): Account {
  return {
    id: row.id,
    code: row.code,
    name: row.name,
    type: row.type,
    currency: row.currency,
    ownerType: row.owner_type,
    ownerId: row.owner_id,
    status: row.status,
    noNegative: row.no_negative,
    createdAt: row.created_at,
    closedAt: row.closed_at,
  };
}

export const SYSTEM_ACTOR: Actor = { type: 'system', id: 'tillpoint' };

/**
 * Accounts, and a cache of what never changes about them (id, code, currency) so that the write path
 * resolves codes without a query. Status is not cached: the database refuses postings to closed
 * accounts.
 */
export class Accounts {
  readonly #db: Database;
  readonly #audit: Audit;
  readonly #refs = new Map<string, AccountRef>();

  constructor(db: Database, audit: Audit) {
    this.#db = db;
    this.#audit = audit;
  }

  async open(
    input: OpenAccountInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ account: Account; created: boolean }> {
    checkAccountCode(input.code);
    if (typeof input.name !== 'string' || input.name.length === 0 || input.name.length > 200) {
      throw new TillpointError('TILLPOINT_ERR_VALIDATION', 'name must be 1 to 200 characters', {
        param: 'name',
      });
    }
    if (!ACCOUNT_TYPES.includes(input.type)) {
      throw new TillpointError(
        'TILLPOINT_ERR_VALIDATION',
        `type must be one of ${ACCOUNT_TYPES.join(', ')}`,
        {
          param: 'type',
        },
      );
    }
    const currency = input.currency ?? DEFAULT_CURRENCY.code;
    if (!/^[A-Z]{3}$/.test(currency) || !isKnownCurrency(currency)) {
      throw new TillpointError(
        'TILLPOINT_ERR_CURRENCY_UNKNOWN',
        `Unknown or unsupported currency "${currency}"`,
        {
          param: 'currency',
        },
      );
    }
    const noNegative = input.noNegative ?? false;
    const existing = await this.find(input.code);
    if (existing !== undefined)
      return { account: this.#sameOrConflict(existing, input, currency), created: false };
    try {
      return await transaction(this.#db, async (tx) => {
        const inserted = await tx.query<AccountRow>(
          `INSERT INTO ledger_accounts (id, code, name, type, currency, owner_type, owner_id, no_negative)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (code) DO NOTHING RETURNING *`,
          [
            newId(),
            input.code,
            input.name,
            input.type,
            currency,
            input.owner?.type ?? null,
            input.owner?.id ?? null,
            noNegative,
          ],
        );
        const row = inserted.rows[0];
        if (row === undefined) {
          const raced = await this.find(input.code, tx);
          return { account: this.#sameOrConflict(raced!, input, currency), created: false };
        }
        const account = toAccount(row);
        await this.#audit.record(tx, {
          actor: { type: actor.type, id: actor.id },
          source: actor.source,
          event: 'ledger.account.opened',
          object: { type: 'ledger_account', id: account.code },
          details: { type: account.type, currency: account.currency, noNegative: account.noNegative },
        });
        return { account, created: true };
      });
    } catch (error) {
      throw ledgerErrorFromDatabase(error);
    }
  }

  #sameOrConflict(existing: Account, input: OpenAccountInput, currency: string): Account {
    const same =
      existing.type === input.type &&
      existing.currency === currency &&
      existing.noNegative === (input.noNegative ?? false) &&
      existing.ownerType === (input.owner?.type ?? null) &&
      existing.ownerId === (input.owner?.id ?? null);
    if (!same) {
      throw new TillpointError(
        'TILLPOINT_ERR_ACCOUNT_EXISTS',
        `Ledger account ${existing.code} already exists with another type, currency, owner or flag`,
        { param: 'code' },
      );
    }
    return existing;
  }

  async close(code: string, actor: Actor = SYSTEM_ACTOR): Promise<Account> {
    try {
      return await transaction(this.#db, async (tx) => {
        const updated = await tx.query<AccountRow>(
          `UPDATE ledger_accounts SET status = 'closed', closed_at = now()
           WHERE code = $1 AND status = 'open' RETURNING *`,
          [code],
        );
        const row = updated.rows[0];
        if (row === undefined) {
          const account = await this.get(code, tx);
          return account; // already closed: closing again changes nothing
        }
        const account = toAccount(row);
        await this.#audit.record(tx, {
          actor: { type: actor.type, id: actor.id },
          source: actor.source,
          event: 'ledger.account.closed',
          object: { type: 'ledger_account', id: account.code },
        });
        return account;
      });
    } catch (error) {
      throw ledgerErrorFromDatabase(error);
    }
  }

  async find(code: string, db: Queryable = this.#db): Promise<Account | undefined> {
    const result = await db.query<AccountRow>('SELECT * FROM ledger_accounts WHERE code = $1', [code]);
    const row = result.rows[0];
    return row === undefined ? undefined : toAccount(row);
  }

  async get(code: string, db: Queryable = this.#db): Promise<Account> {
    const account = await this.find(code, db);
    if (account === undefined) {
      throw new TillpointError('TILLPOINT_ERR_ACCOUNT_NOT_FOUND', `No ledger account with code ${code}`, {
        param: 'code',
      });
    }
    return account;
  }

  async list(options: {
    limit: number;
    startingAfter?: string;
    owner?: { type: string; id: string };
  }): Promise<Page<Account>> {
    const values: unknown[] = [];
    const conditions: string[] = [];
    if (options.startingAfter !== undefined) {
      values.push(options.startingAfter);
      conditions.push(`code > $${values.length}`);
    }
    if (options.owner !== undefined) {
      values.push(options.owner.type, options.owner.id);
      conditions.push(`owner_type = $${values.length - 1} AND owner_id = $${values.length}`);
    }
    values.push(options.limit + 1);
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const result = await this.#db.query<AccountRow>(
      `SELECT * FROM ledger_accounts ${where} ORDER BY code LIMIT $${values.length}`,
      values,
    );
    return {
      data: result.rows.slice(0, options.limit).map(toAccount),
      hasMore: result.rows.length > options.limit,
    };
  }

  /** Resolves account codes to their permanent facts, from the cache or in one query for the misses. */
  async refs(codes: readonly string[], db: Queryable = this.#db): Promise<AccountRef[]> {
    const missing = [...new Set(codes.filter((code) => !this.#refs.has(code)))];
    if (missing.length > 0) {
      const result = await db.query<{ id: string; code: string; currency: string }>(
        'SELECT id, code, currency FROM ledger_accounts WHERE code = ANY($1)',
        [missing],
      );
      for (const row of result.rows)
        this.#refs.set(row.code, { id: row.id, code: row.code, currency: row.currency });
    }
    return codes.map((code, i) => {
      const ref = this.#refs.get(code);
      if (ref === undefined) {
        throw new TillpointError('TILLPOINT_ERR_ACCOUNT_NOT_FOUND', `No ledger account with code ${code}`, {
          param: `postings[${i}].account`,
        });
      }
      return ref;
    });
  }
}
