import type { Audit } from '../audit/index.ts';
import { type Database, type Queryable, transaction } from '../db/index.ts';
import type { Actor } from '../ledger/index.ts';
import { TillpointError } from '../shared/errors.ts';
import { MAX_AMOUNT_MINOR } from '../shared/money.ts';

export type MerchantStatus = 'active' | 'suspended' | 'closed';

export interface Merchant {
  id: string;
  name: string;
  kind: 'enterprise' | 'individual';
  status: MerchantStatus;
  mcc: string;
  singleLimitMinor: bigint;
  createdAt: Date;
  updatedAt: Date;
}

export interface Operator {
  merchantId: string;
  code: string;
  name: string;
  status: 'active' | 'disabled';
}

export interface CreateMerchantInput {
  id: string;
  name: string;
  kind: Merchant['kind'];
  mcc?: string;
  singleLimitMinor?: bigint;
  operators?: Array<{ code: string; name: string }>;
}

interface MerchantRow {
  id: string;
  name: string;
  kind: Merchant['kind'];
  status: MerchantStatus;
  mcc: string;
  single_limit_minor: bigint;
  created_at: Date;
  updated_at: Date;
}

function toMerchant(row: MerchantRow): Merchant {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    status: row.status,
    mcc: row.mcc,
    singleLimitMinor: row.single_limit_minor,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const MERCHANT_ID = /^[0-9A-Za-z]{15}$/;
const OPERATOR_CODE = /^[0-9A-Za-z]{3}$/;

/**
 * Merchants as the terminal host needs them: identity, status, single-transaction limit and
 * operators. Every change writes an audit line in its transaction.
 */
export class Merchants {
  readonly #db: Database;
  readonly #audit: Audit;

  constructor(deps: { db: Database; audit: Audit }) {
    this.#db = deps.db;
    this.#audit = deps.audit;
  }

  /** Creates a merchant, or returns it unchanged when it exists (operators are added if missing). */
  async create(input: CreateMerchantInput, actor: Actor): Promise<{ merchant: Merchant; created: boolean }> {
    if (!MERCHANT_ID.test(input.id)) {
      throw new TillpointError('TILLPOINT_ERR_VALIDATION', 'A merchant id is 15 letters or digits', {
        param: 'id',
      });
    }
    if (input.name.trim() === '' || input.name.length > 100) {
      throw new TillpointError('TILLPOINT_ERR_VALIDATION', 'A merchant name is 1 to 100 characters', {
        param: 'name',
      });
    }
    const limit = input.singleLimitMinor ?? 5_000_000n;
    if (limit <= 0n || limit > MAX_AMOUNT_MINOR) {
      throw new TillpointError('TILLPOINT_ERR_AMOUNT_INVALID', 'singleLimitMinor is out of range', {
        param: 'singleLimitMinor',
      });
    }
    for (const [i, operator] of (input.operators ?? []).entries()) {
      if (!OPERATOR_CODE.test(operator.code)) {
        throw new TillpointError('TILLPOINT_ERR_VALIDATION', 'An operator code is 3 letters or digits', {
          param: `operators[${i}].code`,
        });
      }
    }
    return transaction(this.#db, async (tx) => {
      const inserted = await tx.query<MerchantRow>(
        `INSERT INTO merchants (id, name, kind, mcc, single_limit_minor) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO NOTHING RETURNING *`,
        [input.id, input.name, input.kind, input.mcc ?? '5411', limit],
      );
      const created = inserted.rows[0] !== undefined;
      for (const operator of input.operators ?? []) {
        await tx.query(
          `INSERT INTO merchant_operators (merchant_id, code, name) VALUES ($1, $2, $3)
           ON CONFLICT (merchant_id, code) DO NOTHING`,
          [input.id, operator.code, operator.name],
        );
      }
      if (created) {
        await this.#audit.record(tx, {
          actor: { type: actor.type, id: actor.id },
          source: actor.source,
          event: 'merchants.merchant.created',
          object: { type: 'merchant', id: input.id },
          details: { kind: input.kind, singleLimitMinor: limit },
        });
      }
      const merchant = inserted.rows[0] ?? (await this.#row(tx, input.id));
      return { merchant: toMerchant(merchant!), created };
    });
  }

  async #row(db: Queryable, id: string): Promise<MerchantRow | undefined> {
    return (await db.query<MerchantRow>('SELECT * FROM merchants WHERE id = $1', [id])).rows[0];
  }

  async find(id: string, db: Queryable = this.#db): Promise<Merchant | undefined> {
    const row = await this.#row(db, id);
    return row === undefined ? undefined : toMerchant(row);
  }

  async get(id: string): Promise<Merchant> {
    const merchant = await this.find(id);
    if (merchant === undefined) {
      throw new TillpointError('TILLPOINT_ERR_MERCHANT_NOT_FOUND', `No merchant ${id}`, { param: 'id' });
    }
    return merchant;
  }

  /** Suspends, reactivates or closes a merchant; its terminals' requests answer 03 while not active. */
  async setStatus(id: string, status: MerchantStatus, actor: Actor, reason: string): Promise<Merchant> {
    return transaction(this.#db, async (tx) => {
      const updated = await tx.query<MerchantRow>(
        `UPDATE merchants SET status = $2, updated_at = now() WHERE id = $1 RETURNING *`,
        [id, status],
      );
      const row = updated.rows[0];
      if (row === undefined) {
        throw new TillpointError('TILLPOINT_ERR_MERCHANT_NOT_FOUND', `No merchant ${id}`, { param: 'id' });
      }
      await this.#audit.record(tx, {
        actor: { type: actor.type, id: actor.id },
        source: actor.source,
        event: 'merchants.merchant.status_changed',
        object: { type: 'merchant', id },
        details: { status, reason },
      });
      return toMerchant(row);
    });
  }

  async operators(merchantId: string, db: Queryable = this.#db): Promise<Operator[]> {
    const result = await db.query<{
      merchant_id: string;
      code: string;
      name: string;
      status: Operator['status'];
    }>(
      'SELECT merchant_id, code, name, status FROM merchant_operators WHERE merchant_id = $1 ORDER BY code',
      [merchantId],
    );
    return result.rows.map((row) => ({
      merchantId: row.merchant_id,
      code: row.code,
      name: row.name,
      status: row.status,
    }));
  }
}
