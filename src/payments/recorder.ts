import { arrayLiteral, ConnectionKeeper, type Database, isRetryable, type Queryable } from '../db/index.ts';
import type { Ledger, PreparedEntry } from '../ledger/index.ts';
import { BatchQueue } from '../shared/batch-queue.ts';
import { isTillpointError, type TillpointError } from '../shared/errors.ts';

// Group commit for the requests that make up the volume — sales and balance inquiries, approved or
// declined. The rows of the requests that arrive while a commit is in flight go together in the next
// one: one INSERT … SELECT FROM unnest for the payments, one statement for their ledger entries and
// balances, one commit. Every caller learns its outcome only after that commit. A request whose key
// (terminal, merchant, batch, trace, MTI) is taken — a retransmission, or a trace a reversal blocked
// — comes back as `conflict` and writes nothing.

export interface PaymentRow {
  id: string;
  terminalId: string;
  merchantId: string;
  batchNo: number;
  trace: string;
  requestMti: string;
  kind: string;
  status: string;
  responseCode: string;
  amountMinor: bigint;
  panHash: string | null;
  panMasked: string | null;
  cardOrganization: string | null;
  entryMode: string | null;
  operatorCode: string | null;
  rrn: string | null;
  authCode: string | null;
  networkStan: string | null;
  issuerCode: string | null;
  balanceMinor: bigint | null;
  requestHash: string;
  localTime: string;
  localDate: string;
  settlementDate: string;
  businessDate: string;
  createdAt: Date;
  ledgerEntryId: string | null;
}

export interface RecordItem {
  row: PaymentRow;
  /** The ledger entry of an approved sale (its id is `row.ledgerEntryId`). */
  entry?: PreparedEntry;
}

export type RecordOutcome = { status: 'recorded' } | { status: 'conflict' };

interface Waiting {
  item: RecordItem;
  resolve: (outcome: RecordOutcome) => void;
  reject: (error: unknown) => void;
}

const INSERT_PAYMENTS = `
INSERT INTO card_payments (id, terminal_id, merchant_id, batch_no, trace, request_mti, kind, status, response_code,
                           amount_minor, pan_hash, pan_masked, card_organization, entry_mode, operator_code, rrn,
                           auth_code, network_stan, issuer_code, balance_minor, request_hash, local_time, local_date,
                           settlement_date, business_date, created_at, ledger_entry_id, updated_at)
SELECT u.*, u.created_at FROM (
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::bpchar[], $6::bpchar[], $7::text[],
                       $8::text[], $9::bpchar[], $10::bigint[], $11::text[], $12::text[], $13::text[], $14::bpchar[],
                       $15::text[], $16::bpchar[], $17::bpchar[], $18::bpchar[], $19::text[], $20::bigint[],
                       $21::text[], $22::bpchar[], $23::bpchar[], $24::bpchar[], $25::date[], $26::timestamptz[],
                       $27::uuid[])
) AS u(id, terminal_id, merchant_id, batch_no, trace, request_mti, kind, status, response_code, amount_minor,
       pan_hash, pan_masked, card_organization, entry_mode, operator_code, rrn, auth_code, network_stan,
       issuer_code, balance_minor, request_hash, local_time, local_date, settlement_date, business_date,
       created_at, ledger_entry_id)
ON CONFLICT (terminal_id, merchant_id, batch_no, trace, request_mti) DO NOTHING
RETURNING id AS guard_key, ledger_entry_id AS entry_id`;

/** What the recorder has written, for benchmarks: batches, their requests, and the milliseconds from
 * sending a batch to its answer, summed (over the time since the first batch: how busy it is). */
export interface RecorderStats {
  batches: number;
  items: number;
  ms: number;
  firstAt: number | undefined;
  lastAt: number | undefined;
}

export class PaymentRecorder {
  readonly stats: RecorderStats = { batches: 0, items: 0, ms: 0, firstAt: undefined, lastAt: undefined };
  readonly #ledger: Ledger;
  readonly #queue: BatchQueue<Waiting>;
  readonly #connections: ConnectionKeeper;

  constructor(deps: { db: Database; ledger: Ledger }, { maxBatch = 500, maxInFlight = 1 } = {}) {
    this.#ledger = deps.ledger;
    this.#connections = new ConnectionKeeper(deps.db, { max: maxInFlight });
    this.#queue = new BatchQueue({ maxBatch, maxInFlight, run: (batch, later) => this.#write(batch, later) });
  }

  record(item: RecordItem): Promise<RecordOutcome> {
    return new Promise((resolve, reject) => {
      this.#queue.add({ item, resolve, reject });
    });
  }

  async #write(batch: Waiting[], later: (answer: () => void) => void): Promise<void> {
    const startedAt = performance.now();
    try {
      const outcomes = await this.#withRetry(() => this.#writeBatch(batch.map((w) => w.item)));
      const stats = this.stats;
      stats.batches++;
      stats.items += batch.length;
      stats.lastAt = performance.now();
      stats.ms += stats.lastAt - startedAt;
      stats.firstAt ??= startedAt;
      // Answered once the next batch is on its way: their replies are built while it is written.
      later(() => {
        batch.forEach((waiting, i) => {
          waiting.resolve(outcomes[i]!);
        });
      });
      return;
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
    }
    // One request's rows broke a rule: write them one by one, so that only that one fails.
    for (const waiting of batch) {
      try {
        const [outcome] = await this.#withRetry(() => this.#writeBatch([waiting.item]));
        waiting.resolve(outcome!);
      } catch (error) {
        waiting.reject(error);
      }
    }
  }

  async #withRetry<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (error) {
        if (attempt >= 4 || !isRetryable(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 2 ** attempt));
      }
    }
  }

  /**
   * One statement, on the recorder's own connection, without an explicit transaction (a statement
   * is atomic): the payments and, as the ledger writes them behind its guard, the entries of those
   * that were new. One round trip per batch.
   */
  async #writeBatch(items: readonly RecordItem[]): Promise<RecordOutcome[]> {
    const columns: Array<Array<string | number | Date | null>> = Array.from({ length: 27 }, () => []);
    for (const { row } of items) {
      const values = [
        row.id,
        row.terminalId,
        row.merchantId,
        row.batchNo,
        row.trace,
        row.requestMti,
        row.kind,
        row.status,
        row.responseCode,
        row.amountMinor.toString(),
        row.panHash,
        row.panMasked,
        row.cardOrganization,
        row.entryMode,
        row.operatorCode,
        row.rrn,
        row.authCode,
        row.networkStan,
        row.issuerCode,
        row.balanceMinor?.toString() ?? null,
        row.requestHash,
        row.localTime,
        row.localDate,
        row.settlementDate,
        row.businessDate,
        row.createdAt,
        row.ledgerEntryId,
      ];
      for (let i = 0; i < values.length; i++) columns[i]!.push(values[i] ?? null);
    }
    const entries = items.filter((item) => item.entry !== undefined).map((item) => item.entry!);
    const client = await this.#connections.take();
    let healthy = true;
    try {
      const { outcomes, guardKeys } = await this.#ledger.writeGuarded(entries, client, {
        name: 'payments_record_batch',
        sql: INSERT_PAYMENTS,
        values: columns.map(arrayLiteral),
      });
      const failed = outcomes.find((result): result is TillpointError => result instanceof Error);
      if (failed !== undefined) throw failed;
      const recorded = new Set(guardKeys);
      return items.map(
        (item): RecordOutcome => ({ status: recorded.has(item.row.id) ? 'recorded' : 'conflict' }),
      );
    } catch (error) {
      // A server's error leaves the connection usable; anything else (a lost socket) does not.
      healthy = isTillpointError(error) || typeof (error as { code?: unknown }).code === 'string';
      throw error;
    } finally {
      this.#connections.give(client, healthy);
    }
  }

  /** Gives the kept connection back (server shutdown). */
  close(): void {
    this.#connections.releaseAll();
  }
}

/** Inserts one payment row (for the flows that write in their own transaction); false on a key conflict. */
export async function insertRow(
  tx: Queryable,
  row: PaymentRow,
  holdExpiresAt: Date | null = null,
  originalId: string | null = null,
): Promise<boolean> {
  const result = await tx.query(
    `INSERT INTO card_payments (id, terminal_id, merchant_id, batch_no, trace, request_mti, kind, status,
                                response_code, amount_minor, pan_hash, pan_masked, card_organization, entry_mode,
                                operator_code, rrn, auth_code, network_stan, issuer_code, balance_minor,
                                request_hash, local_time, local_date, settlement_date, business_date, created_at,
                                updated_at, ledger_entry_id, hold_expires_at, original_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
             $23, $24, $25, $26, $26, $27, $28, $29)
     ON CONFLICT (terminal_id, merchant_id, batch_no, trace, request_mti) DO NOTHING`,
    [
      row.id,
      row.terminalId,
      row.merchantId,
      row.batchNo,
      row.trace,
      row.requestMti,
      row.kind,
      row.status,
      row.responseCode,
      row.amountMinor,
      row.panHash,
      row.panMasked,
      row.cardOrganization,
      row.entryMode,
      row.operatorCode,
      row.rrn,
      row.authCode,
      row.networkStan,
      row.issuerCode,
      row.balanceMinor,
      row.requestHash,
      row.localTime,
      row.localDate,
      row.settlementDate,
      row.businessDate,
      row.createdAt,
      row.ledgerEntryId,
      holdExpiresAt,
      originalId,
    ],
  );
  return result.rowCount === 1;
}
