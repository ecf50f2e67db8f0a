import type { Audit } from '../audit/index.ts';
import { type Database, type Queryable, transaction } from '../db/index.ts';
import type { KeyHandle, KeyStore } from '../keys/index.ts';
import type { Actor } from '../ledger/index.ts';
import type { Merchant, Merchants } from '../merchants/index.ts';
import { TillpointError } from '../shared/errors.ts';

// Terminals: provisioning, the sign-in session (working keys, operator, MAC failure count) and the
// batch a terminal is in. The terminal host reads terminals through `context()`, a cache of what a
// request needs (terminal, merchant, working keys), refreshed when it is older than a second or when
// the caller knows it is stale (a MAC that fails, a batch that does not match: another node may have
// signed the terminal in again).

export type TerminalAlgorithm = '3des' | 'sm4';
export type TerminalMacAlgorithm = 'ecb' | 'x99';

export interface Terminal {
  id: string;
  merchantId: string;
  status: 'active' | 'inactive' | 'retired';
  algorithm: TerminalAlgorithm;
  macAlgorithm: TerminalMacAlgorithm;
  tmkKeyId: string | null;
  batchNo: number;
  keysVersion: number | null;
  operatorCode: string | null;
  signedInAt: Date | null;
  macFailures: number;
  revision: bigint;
}

export interface WorkingKeyHandles {
  version: number;
  pin: KeyHandle;
  mac: KeyHandle;
  track?: KeyHandle;
}

/** What a request from a terminal needs, as of `loadedAtMs`. */
export interface TerminalContext {
  terminal: Terminal;
  merchant: Merchant;
  /** The working keys of the current sign-in; undefined when signed out. */
  keys: WorkingKeyHandles | undefined;
  loadedAtMs: number;
}

export interface ProvisionInput {
  id: string;
  merchantId: string;
  algorithm: TerminalAlgorithm;
  macAlgorithm?: TerminalMacAlgorithm;
  /** The terminal master key, already in the key store (owner terminal:<id>, usage tmk). */
  tmkKeyId: string;
  serialNumber?: string;
  model?: string;
}

interface TerminalRow {
  id: string;
  merchant_id: string;
  status: Terminal['status'];
  algorithm: TerminalAlgorithm;
  mac_algorithm: TerminalMacAlgorithm;
  tmk_key_id: string | null;
  batch_no: number;
  keys_version: number | null;
  operator_code: string | null;
  signed_in_at: Date | null;
  mac_failures: number;
  revision: bigint;
}

function toTerminal(row: TerminalRow): Terminal {
  return {
    id: row.id,
    merchantId: row.merchant_id,
    status: row.status,
    algorithm: row.algorithm,
    macAlgorithm: row.mac_algorithm,
    tmkKeyId: row.tmk_key_id,
    batchNo: row.batch_no,
    keysVersion: row.keys_version,
    operatorCode: row.operator_code,
    signedInAt: row.signed_in_at,
    macFailures: row.mac_failures,
    revision: row.revision,
  };
}

const TERMINAL_ID = /^[0-9A-Za-z]{8}$/;
/** The third consecutive MAC failure forces a new sign-in. */
export const MAC_FAILURES_BEFORE_SIGN_IN = 3;
const CONTEXT_MAX_AGE_MS = 1000;

export type SignInRefusal = 'terminal_unknown' | 'merchant_invalid' | 'operator_unknown';

export interface SignInResult {
  /** Field 62 of the reply: the working keys under the TMK, with check values. */
  field62: Buffer;
  batchNo: number;
  keysVersion: number;
}

export interface TerminalsDeps {
  db: Database;
  audit: Audit;
  keys: KeyStore;
  merchants: Merchants;
  nowMs?: () => number;
}

export class Terminals {
  readonly #db: Database;
  readonly #audit: Audit;
  readonly #keys: KeyStore;
  readonly #merchants: Merchants;
  readonly #nowMs: () => number;
  readonly #contexts = new Map<string, TerminalContext>();

  constructor(deps: TerminalsDeps) {
    this.#db = deps.db;
    this.#audit = deps.audit;
    this.#keys = deps.keys;
    this.#merchants = deps.merchants;
    this.#nowMs = deps.nowMs ?? Date.now;
  }

  /** Binds a terminal to a merchant with its TMK; provisioning it again with the same facts changes nothing. */
  async provision(input: ProvisionInput, actor: Actor): Promise<{ terminal: Terminal; created: boolean }> {
    if (!TERMINAL_ID.test(input.id)) {
      throw new TillpointError('TILLPOINT_ERR_VALIDATION', 'A terminal id is 8 letters or digits', {
        param: 'id',
      });
    }
    const merchant = await this.#merchants.find(input.merchantId);
    if (merchant === undefined) {
      throw new TillpointError('TILLPOINT_ERR_MERCHANT_NOT_FOUND', `No merchant ${input.merchantId}`, {
        param: 'merchantId',
      });
    }
    return transaction(this.#db, async (tx) => {
      const inserted = await tx.query<TerminalRow>(
        `INSERT INTO terminals (id, merchant_id, algorithm, mac_algorithm, tmk_key_id, serial_number, model)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING *`,
        [
          input.id,
          input.merchantId,
          input.algorithm,
          input.macAlgorithm ?? 'ecb',
          input.tmkKeyId,
          input.serialNumber ?? null,
          input.model ?? null,
        ],
      );
      const row = inserted.rows[0];
      if (row === undefined) {
        const existing = toTerminal(
          (await tx.query<TerminalRow>('SELECT * FROM terminals WHERE id = $1', [input.id])).rows[0]!,
        );
        if (existing.merchantId !== input.merchantId || existing.algorithm !== input.algorithm) {
          throw new TillpointError(
            'TILLPOINT_ERR_VALIDATION',
            `Terminal ${input.id} exists, bound to merchant ${existing.merchantId} with ${existing.algorithm} keys`,
            { param: 'id' },
          );
        }
        return { terminal: existing, created: false };
      }
      await tx.query(
        `INSERT INTO terminal_batches (terminal_id, batch_no, merchant_id) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING`,
        [row.id, row.batch_no, row.merchant_id],
      );
      await this.#audit.record(tx, {
        actor: { type: actor.type, id: actor.id },
        source: actor.source,
        event: 'terminals.terminal.provisioned',
        object: { type: 'terminal', id: row.id },
        details: { merchantId: row.merchant_id, algorithm: row.algorithm, macAlgorithm: row.mac_algorithm },
      });
      return { terminal: toTerminal(row), created: true };
    });
  }

  async find(id: string, db: Queryable = this.#db): Promise<Terminal | undefined> {
    const row = (await db.query<TerminalRow>('SELECT * FROM terminals WHERE id = $1', [id])).rows[0];
    return row === undefined ? undefined : toTerminal(row);
  }

  /**
   * The context of a request from `terminalId`, from the cache when fresh. `stale: true` (the caller
   * found the cached session out of step) or an entry older than a second reloads it.
   */
  async context(terminalId: string, options: { stale?: boolean } = {}): Promise<TerminalContext | undefined> {
    const cached = this.#contexts.get(terminalId);
    if (cached !== undefined && !options.stale && this.#nowMs() - cached.loadedAtMs < CONTEXT_MAX_AGE_MS) {
      return cached;
    }
    const terminal = await this.find(terminalId);
    if (terminal === undefined) {
      this.#contexts.delete(terminalId);
      return undefined;
    }
    const merchant = await this.#merchants.find(terminal.merchantId);
    if (merchant === undefined) return undefined;
    let keys = cached?.keys;
    if (terminal.keysVersion === null) keys = undefined;
    else if (keys?.version !== terminal.keysVersion) {
      const set = await this.#keys.workingKeys(terminal.id, { version: terminal.keysVersion });
      keys = set !== undefined && set.version === terminal.keysVersion ? set : undefined;
    }
    const context: TerminalContext = { terminal, merchant, keys, loadedAtMs: this.#nowMs() };
    this.#contexts.set(terminalId, context);
    return context;
  }

  /**
   * Signs a terminal in: checks it and its merchant (and the operator, when given), issues fresh
   * working keys under its TMK (the previous set is retired), and opens its batch if none is open.
   * Returns the refusal instead when the terminal may not sign in.
   */
  async signIn(input: {
    terminalId: string;
    merchantId: string;
    operatorCode?: string;
    keySet: 'pin+mac' | 'pin+mac+track';
    source?: string;
  }): Promise<SignInResult | { refused: SignInRefusal }> {
    const terminal = await this.find(input.terminalId);
    if (terminal === undefined || terminal.tmkKeyId === null) return { refused: 'terminal_unknown' };
    const merchant = await this.#merchants.find(terminal.merchantId);
    if (
      terminal.status !== 'active' ||
      merchant === undefined ||
      merchant.status !== 'active' ||
      merchant.id !== input.merchantId
    ) {
      return { refused: 'merchant_invalid' };
    }
    if (input.operatorCode !== undefined) {
      const operators = await this.#merchants.operators(merchant.id);
      if (!operators.some((o) => o.code === input.operatorCode && o.status === 'active')) {
        return { refused: 'operator_unknown' };
      }
    }
    const tmkKeyId = terminal.tmkKeyId;
    const actor = { type: 'terminal' as const, id: terminal.id, source: input.source };
    const result = await transaction(this.#db, async (tx) => {
      const issued = await this.#keys.issueWorkingKeys(
        { terminalId: terminal.id, tmkKeyId, set: input.keySet },
        actor,
        { tx },
      );
      const updated = await tx.query<TerminalRow>(
        `UPDATE terminals SET keys_version = $2, operator_code = $3, signed_in_at = now(), mac_failures = 0,
                revision = revision + 1, updated_at = now()
          WHERE id = $1 RETURNING *`,
        [terminal.id, issued.version, input.operatorCode ?? null],
      );
      const row = updated.rows[0]!;
      await tx.query(
        `INSERT INTO terminal_batches (terminal_id, batch_no, merchant_id) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING`,
        [row.id, row.batch_no, row.merchant_id],
      );
      await this.#audit.record(tx, {
        actor,
        source: input.source,
        event: 'terminals.terminal.signed_in',
        object: { type: 'terminal', id: terminal.id },
        details: { operator: input.operatorCode ?? null, keysVersion: issued.version, keySet: input.keySet },
      });
      return { row, issued };
    });
    this.#contexts.set(terminal.id, {
      terminal: toTerminal(result.row),
      merchant,
      keys: {
        version: result.issued.version,
        pin: result.issued.pin,
        mac: result.issued.mac,
        ...(result.issued.track ? { track: result.issued.track } : {}),
      },
      loadedAtMs: this.#nowMs(),
    });
    return {
      field62: result.issued.field62,
      batchNo: result.row.batch_no,
      keysVersion: result.issued.version,
    };
  }

  /** Signs a terminal out: its working keys stop being accepted until it signs in again. */
  async signOut(terminalId: string, source?: string): Promise<void> {
    await transaction(this.#db, async (tx) => {
      const updated = await tx.query(
        `UPDATE terminals SET keys_version = NULL, revision = revision + 1, updated_at = now()
          WHERE id = $1 AND keys_version IS NOT NULL`,
        [terminalId],
      );
      if (updated.rowCount === 0) return;
      await this.#audit.record(tx, {
        actor: { type: 'terminal', id: terminalId },
        source,
        event: 'terminals.terminal.signed_out',
        object: { type: 'terminal', id: terminalId },
      });
    });
    this.#contexts.delete(terminalId);
  }

  /**
   * Counts a MAC failure. The third in a row signs the terminal out (it must sign in again: header
   * processing requirement 3). Returns whether it must sign in again.
   */
  async recordMacFailure(
    terminalId: string,
    source?: string,
  ): Promise<{ failures: number; mustSignIn: boolean }> {
    return transaction(this.#db, async (tx) => {
      const updated = await tx.query<{ mac_failures: number }>(
        `UPDATE terminals SET mac_failures = mac_failures + 1, revision = revision + 1, updated_at = now(),
                keys_version = CASE WHEN mac_failures + 1 >= $2 THEN NULL ELSE keys_version END
          WHERE id = $1 RETURNING mac_failures`,
        [terminalId, MAC_FAILURES_BEFORE_SIGN_IN],
      );
      const failures = updated.rows[0]?.mac_failures ?? 0;
      const mustSignIn = failures >= MAC_FAILURES_BEFORE_SIGN_IN;
      if (mustSignIn) {
        await this.#audit.record(tx, {
          actor: { type: 'terminal', id: terminalId },
          source,
          event: 'terminals.terminal.mac_failures',
          object: { type: 'terminal', id: terminalId },
          outcome: 'denied',
          details: { failures, signedOut: true },
        });
      }
      this.#contexts.delete(terminalId);
      return { failures, mustSignIn };
    });
  }

  /** A good MAC after failures ends the run of consecutive failures. */
  async clearMacFailures(terminalId: string): Promise<void> {
    await this.#db.query(
      'UPDATE terminals SET mac_failures = 0, revision = revision + 1 WHERE id = $1 AND mac_failures > 0',
      [terminalId],
    );
    const cached = this.#contexts.get(terminalId);
    if (cached !== undefined) cached.terminal.macFailures = 0;
  }

  /**
   * Closes the terminal's open batch within the caller's transaction and opens the next one
   * (999999 wraps to 000001). Returns the new batch number.
   */
  async closeBatch(
    tx: Queryable,
    input: {
      terminalId: string;
      batchNo: number;
      settlement: 'balanced' | 'unbalanced';
      hostTotals: unknown;
      terminalTotals: unknown;
    },
  ): Promise<number> {
    const next = input.batchNo >= 999999 ? 1 : input.batchNo + 1;
    const updated = await tx.query<{ merchant_id: string }>(
      `UPDATE terminals SET batch_no = $3, revision = revision + 1, updated_at = now()
        WHERE id = $1 AND batch_no = $2 RETURNING merchant_id`,
      [input.terminalId, input.batchNo, next],
    );
    const row = updated.rows[0];
    if (row === undefined) {
      throw new TillpointError(
        'TILLPOINT_ERR_VALIDATION',
        `Batch ${input.batchNo} of ${input.terminalId} is not open`,
      );
    }
    await tx.query(
      `UPDATE terminal_batches SET status = 'closed', settlement = $3, host_totals = $4, terminal_totals = $5,
              closed_at = now()
        WHERE terminal_id = $1 AND batch_no = $2`,
      [
        input.terminalId,
        input.batchNo,
        input.settlement,
        JSON.stringify(input.hostTotals),
        JSON.stringify(input.terminalTotals),
      ],
    );
    await tx.query(
      `INSERT INTO terminal_batches (terminal_id, batch_no, merchant_id) VALUES ($1, $2, $3)
       ON CONFLICT (terminal_id, batch_no) DO UPDATE SET status = 'open', settlement = NULL, host_totals = NULL,
              terminal_totals = NULL, opened_at = now(), closed_at = NULL`,
      [input.terminalId, next, row.merchant_id],
    );
    return next;
  }

  /** Marks the open batch as waiting for its upload (after an unbalanced settlement). */
  async markUploading(
    tx: Queryable,
    terminalId: string,
    batchNo: number,
    totals: { host: unknown; terminal: unknown },
  ): Promise<void> {
    await tx.query(
      `UPDATE terminal_batches SET status = 'uploading', settlement = 'unbalanced', host_totals = $3, terminal_totals = $4
        WHERE terminal_id = $1 AND batch_no = $2`,
      [terminalId, batchNo, JSON.stringify(totals.host), JSON.stringify(totals.terminal)],
    );
  }

  async batchStatus(
    terminalId: string,
    batchNo: number,
    db: Queryable = this.#db,
  ): Promise<'open' | 'uploading' | 'closed' | undefined> {
    const result = await db.query<{ status: 'open' | 'uploading' | 'closed' }>(
      'SELECT status FROM terminal_batches WHERE terminal_id = $1 AND batch_no = $2',
      [terminalId, batchNo],
    );
    return result.rows[0]?.status;
  }

  /** Forget cached contexts (after a change made elsewhere, e.g. a batch closed by this node). */
  invalidate(terminalId: string): void {
    this.#contexts.delete(terminalId);
  }
}
