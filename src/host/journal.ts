import { arrayElement, type Database } from '../db/index.ts';
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
const COLUMNS = 12;

/** Rows not yet written, as the bodies of the insert's twelve array literals, built as rows arrive. */
interface Batch {
  rows: number;
  columns: string[];
}

function emptyBatch(): Batch {
  return { rows: 0, columns: new Array<string>(COLUMNS).fill('') };
}

export class Journal {
  readonly #db: Database;
  readonly #log: Logger;
  #open: Batch = emptyBatch();
  readonly #full: Batch[] = [];
  #buffered = 0;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #dropped = 0;

  constructor(deps: { db: Database; logger: Logger }) {
    this.#db = deps.db;
    this.#log = deps.logger.child({ component: 'journal' });
  }

  record(row: JournalRecord): void {
    if (this.#buffered >= MAX_BUFFERED) {
      this.#dropped++;
      return;
    }
    // Each value goes into its column's literal now: a flush only closes the braces, so no request
    // waits behind a flush that formats a thousand rows at once.
    const batch = this.#open;
    const c = batch.columns;
    const comma = batch.rows === 0 ? '' : ',';
    c[0] += comma + arrayElement(new Date());
    c[1] += comma + arrayElement(row.direction);
    c[2] += comma + arrayElement(row.remote);
    c[3] += comma + arrayElement(row.terminalId);
    c[4] += comma + arrayElement(row.merchantId);
    c[5] += comma + (row.mti !== undefined && /^\d{4}$/.test(row.mti) ? row.mti : 'NULL');
    c[6] += comma + (row.trace !== undefined && /^\d{6}$/.test(row.trace) ? row.trace : 'NULL');
    c[7] += comma + arrayElement(row.responseCode);
    c[8] += comma + arrayElement(row.outcome);
    c[9] += comma + arrayElement(row.elapsedUs);
    c[10] += comma + arrayElement(row.paymentId);
    c[11] += comma + arrayElement(row.dump);
    batch.rows++;
    this.#buffered++;
    if (batch.rows >= MAX_BATCH) {
      this.#full.push(batch);
      this.#open = emptyBatch();
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, FLUSH_EVERY_MS);
  }

  /** Writes what is buffered; resolves when it is in the database (or failed and was logged). */
  async flush(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
    if (this.#open.rows > 0) {
      this.#full.push(this.#open);
      this.#open = emptyBatch();
    }
    const batch = this.#full.shift();
    if (batch === undefined) return;
    this.#writing = this.#write(batch).finally(() => {
      this.#writing = undefined;
    });
    await this.#writing;
    if (this.#full.length > 0 || this.#open.rows > 0) await this.flush();
  }

  async #write(batch: Batch): Promise<void> {
    try {
      await this.#db.query({
        name: 'host_journal_insert',
        text: `INSERT INTO host_messages (at, direction, remote, terminal_id, merchant_id, mti, trace, response_code,
                                          outcome, elapsed_us, payment_id, dump)
               SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bpchar[],
                                    $7::bpchar[], $8::bpchar[], $9::text[], $10::int[], $11::uuid[], $12::text[])`,
        values: batch.columns.map((column) => `{${column}}`),
      });
    } catch (error) {
      this.#log.error({ err: error, rows: batch.rows }, 'journal rows could not be written');
    } finally {
      this.#buffered -= batch.rows;
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
