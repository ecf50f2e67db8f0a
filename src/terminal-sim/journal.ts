// The terminal's batch journal: every approved transaction of the open batch, as a terminal keeps
// it to print, void, refund, settle and upload. Settlement totals (field 48 of the 0500) and the
// batch-upload details (field 48 of the 0320 `201`) are computed from it here.
//
// It keeps the full card number, as a terminal's memory does: the void of a swiped sale and the
// batch upload (PAN n20) need it. Simulator state for test cards only.

import type { BatchUploadDetail, SettlementTotals, SideTotals } from '../protocols/iso8583/index.ts';
import { cardOrganizationOf, type FinancialType } from './protocol.ts';

export type CardEntry = 'swipe' | 'manual';

/** A card as the terminal read it: swiped (track 2 built from PAN and expiry) or keyed in. */
export interface CardData {
  readonly pan: string;
  /** YYMM. */
  readonly expiry: string;
  readonly entry: CardEntry;
}

/** The references of an original transaction (61.1–61.3, 37, 38). */
export interface OriginalRef {
  readonly batchNo: string;
  readonly trace: string;
  readonly rrn: string | null;
  readonly authCode: string | null;
  /** MMDD, or null when not known (voids do not send it). */
  readonly date: string | null;
}

export type JournalType = Exclude<FinancialType, 'balance'>;

/** open: counts; voided: a void (or completion void, pre-auth void) cancelled it; completed: a pre-auth that was completed. */
export type EntryStatus = 'open' | 'voided' | 'completed';

export interface JournalEntry {
  readonly type: JournalType;
  readonly batchNo: string;
  readonly trace: string;
  readonly amountMinor: bigint;
  readonly rrn: string | null;
  readonly authCode: string | null;
  /** MMDD and hhmmss of the host's reply (13, 12), or of the terminal's clock. */
  readonly date: string;
  readonly time: string;
  readonly year: number;
  readonly card: CardData;
  /** 63.1 of the reply, e.g. `CUP`. */
  readonly cardOrganization: string | null;
  readonly operator: string | null;
  readonly original: OriginalRef | null;
  status: EntryStatus;
  /** Sales: the amount refunded by refunds this terminal made. */
  refundedMinor: bigint;
}

function key(batchNo: string, trace: string): string {
  return batchNo + trace;
}

const ZERO_SIDE: SideTotals = {
  debitAmountMinor: 0n,
  debitCount: 0,
  creditAmountMinor: 0n,
  creditCount: 0,
  result: 0,
};

/** Debits are approved sales and completions that were not voided (reversed ones never got in). */
function isDebit(entry: JournalEntry): boolean {
  return (entry.type === 'sale' || entry.type === 'completion') && entry.status === 'open';
}

export class Journal {
  readonly #entries: JournalEntry[];
  readonly #byKey = new Map<string, JournalEntry>();

  constructor(entries: readonly JournalEntry[] = []) {
    this.#entries = [];
    for (const entry of entries) this.add(entry);
  }

  get entries(): readonly JournalEntry[] {
    return this.#entries;
  }

  get size(): number {
    return this.#entries.length;
  }

  add(entry: JournalEntry): void {
    this.#entries.push(entry);
    this.#byKey.set(key(entry.batchNo, entry.trace), entry);
  }

  get(batchNo: string, trace: string): JournalEntry | undefined {
    return this.#byKey.get(key(batchNo, trace));
  }

  /** The entry of this trace in the open batch, else the latest of an earlier batch (carried pre-auths). */
  findByTrace(trace: string, openBatchNo: string): JournalEntry | undefined {
    const current = this.get(openBatchNo, trace);
    if (current !== undefined) return current;
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      const entry = this.#entries[i]!;
      if (entry.trace === trace) return entry;
    }
    return undefined;
  }

  findByRrn(rrn: string, type?: JournalType): JournalEntry | undefined {
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      const entry = this.#entries[i]!;
      if (entry.rrn === rrn && (type === undefined || entry.type === type)) return entry;
    }
    return undefined;
  }

  /** Field 48 of the 0500: debits and credits of the open batch, domestic and foreign, result 0. */
  totals(batchNo: string): SettlementTotals {
    const sides = { domestic: { ...ZERO_SIDE }, foreign: { ...ZERO_SIDE } };
    for (const entry of this.#entries) {
      if (entry.batchNo !== batchNo) continue;
      const side = cardOrganizationOf(entry.cardOrganization).domestic ? sides.domestic : sides.foreign;
      if (isDebit(entry)) {
        side.debitAmountMinor += entry.amountMinor;
        side.debitCount++;
      } else if (entry.type === 'refund') {
        side.creditAmountMinor += entry.amountMinor;
        side.creditCount++;
      }
    }
    return sides;
  }

  /**
   * The details a batch upload carries, in trace order: the debits of the totals (sales and
   * completions not voided). The detail layout has no transaction type, so refunds, which the host
   * took online as 0220s, are not uploaded (as the golden upload frames show).
   */
  uploadDetails(batchNo: string): BatchUploadDetail[] {
    return this.#entries
      .filter((entry) => entry.batchNo === batchNo && isDebit(entry))
      .sort((a, b) => (a.trace < b.trace ? -1 : a.trace > b.trace ? 1 : 0))
      .map((entry) => ({
        cardOrganization: cardOrganizationOf(entry.cardOrganization).code,
        trace: entry.trace,
        panZeroPadded: entry.card.pan.padEnd(20, '0'),
        amountMinor: entry.amountMinor,
      }));
  }

  /** Keeps the entries `keep` accepts, in order; returns how many were dropped. */
  retain(keep: (entry: JournalEntry) => boolean): number {
    const kept = this.#entries.filter(keep);
    const dropped = this.#entries.length - kept.length;
    this.#entries.length = 0;
    this.#byKey.clear();
    for (const entry of kept) this.add(entry);
    return dropped;
  }

  /**
   * Closes the batch after settlement: only pre-auths still open are kept (a completion may follow
   * in a later batch). Returns how many entries were dropped.
   */
  closeBatch(): number {
    return this.retain((entry) => entry.type === 'preauth' && entry.status === 'open');
  }
}
