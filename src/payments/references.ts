import type { Database } from '../db/index.ts';

// References this host gives: retrieval reference numbers (field 37, 12 digits: the last digit of the
// year, the day of the year, then 8 digits of a database sequence) and system trace audit numbers
// towards the network (6 digits of the same sequence). The sequence hands out blocks of 1,000, so a
// node asks the database once per 1,000 payments and no two nodes ever give the same reference.

const BLOCK = 1000n;

export class References {
  readonly #db: Database;
  #next = 0n;
  #end = 0n;
  #refill: Promise<void> | undefined;

  constructor(db: Database) {
    this.#db = db;
  }

  /** A fresh number, unique across nodes. */
  async next(): Promise<bigint> {
    while (this.#next >= this.#end) {
      this.#refill ??= this.#db
        .query<{ start: bigint }>("SELECT nextval('payment_reference_seq') AS start")
        .then((result) => {
          this.#next = result.rows[0]!.start;
          this.#end = this.#next + BLOCK;
        })
        .finally(() => {
          this.#refill = undefined;
        });
      await this.#refill;
    }
    return this.#next++;
  }
}

/** Field 37: `YDDD` of the business date, then 8 digits of the number. */
export function retrievalReference(businessDate: string, number: bigint): string {
  const year = businessDate.slice(3, 4);
  const start = Date.UTC(Number(businessDate.slice(0, 4)), 0, 1);
  const day = Math.floor((Date.parse(`${businessDate}T00:00:00Z`) - start) / 86_400_000) + 1;
  return `${year}${String(day).padStart(3, '0')}${String(number % 100_000_000n).padStart(8, '0')}`;
}

/** A system trace audit number towards the network (field 11 there). */
export function networkTrace(number: bigint): string {
  return String((number % 999_999n) + 1n).padStart(6, '0');
}

const partsFormatters = new Map<string, Intl.DateTimeFormat>();

let lastSecond = Number.NaN;
let lastZone = '';
let lastFields = { date: '', time: '', businessDate: '' };

/** Local date and time fields of an instant in a time zone: MMDD (13) and hhmmss (12), and YYYY-MM-DD. */
export function localFields(
  at: Date,
  timeZone: string,
): { date: string; time: string; businessDate: string } {
  // Formatting costs microseconds and a busy host asks thousands of times a second: once a second will do.
  const second = Math.floor(at.getTime() / 1000);
  if (second === lastSecond && timeZone === lastZone) return lastFields;
  let formatter = partsFormatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    partsFormatters.set(timeZone, formatter);
  }
  const parts: Record<string, string> = {};
  for (const part of formatter.formatToParts(at)) parts[part.type] = part.value;
  lastSecond = second;
  lastZone = timeZone;
  lastFields = {
    date: `${parts['month']}${parts['day']}`,
    time: `${parts['hour']}${parts['minute']}${parts['second']}`,
    businessDate: `${parts['year']}-${parts['month']}-${parts['day']}`,
  };
  return lastFields;
}
