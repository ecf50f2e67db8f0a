import { arrayLiteral, type Database } from '../db/index.ts';
import type { Logger } from '../shared/logger.ts';

// The message journal's writer. Rows are gathered and written in batches (one INSERT … unnest per
// batch, at most every 50 ms), off the request's path: a reply waits for its payment's commit, not
// for its journal rows. On a crash the last rows not yet written are lost; payments never are.

export interface JournalRecord {
  direction: 'in' | 'out';
  remote?: string | undefined;
  terminalId?: string | undefined;
  merchantId?: string | undefined;
  mti?: string | undefined;
  trace?: string | undefined;
  responseCode?: string | undefined;
  /** What the host made of it: received, processed, duplicate, format_error, mac_failed … */
  outcome: string;
  elapsedUs?: number | undefined;
  paymentId?: string | undefined;
  /** The masked dump (never raw card data). */
  dump: string;
}

const FLUSH_EVERY_MS = 50;
const MAX_BATCH = 1000;
/** Beyond this many unwritten rows (the database is down), new rows are dropped and counted. */
const MAX_BUFFERED = 100_000;

export class Journal {
  readonly #db: Database;
  readonly #log: Logger;
  #rows: Array<JournalRecord & { at: Date }> = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #dropped = 0;

  constructor(deps: { db: Database; logger: Logger }) {
    this.#db = deps.db;
    this.#log = deps.logger.child({ component: 'journal' });
  }

  record(row: JournalRecord): void {
    if (this.#rows.length >= MAX_BUFFERED) {
      this.#dropped++;
      return;
    }
    this.#rows.push({ ...row, at: new Date() });
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, FLUSH_EVERY_MS);
  }

  /** Writes what is buffered; resolves when it is in the database (or failed and was logged). */
  async flush(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
    if (this.#rows.length === 0) return;
    const rows = this.#rows.splice(0, MAX_BATCH);
    this.#writing = this.#write(rows).finally(() => {
      this.#writing = undefined;
    });
    await this.#writing;
    if (this.#rows.length > 0) await this.flush();
  }

  async #write(rows: Array<JournalRecord & { at: Date }>): Promise<void> {
    const column = (pick: (row: JournalRecord & { at: Date }) => string | number | Date | null) =>
      arrayLiteral(rows.map(pick));
    try {
      await this.#db.query({
        name: 'host_journal_insert',
        text: `INSERT INTO host_messages (at, direction, remote, terminal_id, merchant_id, mti, trace, response_code,
                                          outcome, elapsed_us, payment_id, dump)
               SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bpchar[],
                                    $7::bpchar[], $8::bpchar[], $9::text[], $10::int[], $11::uuid[], $12::text[])`,
        values: [
          column((r) => r.at),
          column((r) => r.direction),
          column((r) => r.remote ?? null),
          column((r) => r.terminalId ?? null),
          column((r) => r.merchantId ?? null),
          column((r) => (r.mti !== undefined && /^\d{4}$/.test(r.mti) ? r.mti : null)),
          column((r) => (r.trace !== undefined && /^\d{6}$/.test(r.trace) ? r.trace : null)),
          column((r) => r.responseCode ?? null),
          column((r) => r.outcome),
          column((r) => r.elapsedUs ?? null),
          column((r) => r.paymentId ?? null),
          column((r) => r.dump),
        ],
      });
    } catch (error) {
      this.#log.error({ err: error, rows: rows.length }, 'journal rows could not be written');
    }
    if (this.#dropped > 0) {
      this.#log.warn({ dropped: this.#dropped }, 'journal rows dropped while the database was behind');
      this.#dropped = 0;
    }
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
