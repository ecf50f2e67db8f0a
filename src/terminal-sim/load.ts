// The load generator: N terminals at once against a host, each signing in first and then running a
// mix of transactions back to back with one request outstanding (as a real terminal has). It reports
// transactions per second, latency percentiles from HDR histograms, and the count of each response
// code, per transaction type.
//
// What the host must provision: the terminals (8-character ids, e.g. 90000001–90000050) bound to one
// merchant (the bench merchant), each with the TMK and algorithm given here (default: the demo TMK,
// 3DES, `ecb` MACs) and the operator (default 001); the card network must know the cards (default: the
// two approving test cards) with the PIN given (default 123456). Nothing else: the terminals speak the
// profile exactly as `tillpoint terminal` does.
//
// Cheap by construction: each terminal parses its keys once at sign-in, keeps its PIN block per card,
// reuses its cipher handles (the keys module caches them per key), and the generator allocates one
// result per request; nothing is logged per request.

import { performance } from 'node:perf_hooks';
import type { Histogram } from 'hdr-histogram-js';
import type { Tpdu } from '../protocols/iso8583/index.ts';
import { Secret } from '../shared/secret.ts';
import { isTerminalError, TerminalError } from './errors.ts';
import type { CardData } from './journal.ts';
import { type Endpoint, formatEndpoint } from './link.ts';
import type { Outcome } from './results.ts';
import {
  applyStateOptions,
  FileStateStore,
  memoryStore,
  newTerminalState,
  type StateOptions,
  stateFileOf,
  type TerminalState,
} from './state.ts';
import { Terminal } from './terminal.ts';

export const LOAD_TYPES = ['sale', 'balance', 'void', 'refund', 'preauth', 'complete', 'echo'] as const;
export type LoadType = (typeof LOAD_TYPES)[number];

export interface MixEntry {
  readonly type: LoadType;
  readonly weight: number;
}

/** `sale=80,balance=10,void=10` → the mix (weights are relative). */
export function parseMix(text: string): MixEntry[] {
  const mix: MixEntry[] = [];
  for (const part of text.split(',')) {
    const match = /^\s*([a-z]+)\s*=\s*(\d+)\s*$/.exec(part);
    if (match === null || !(LOAD_TYPES as readonly string[]).includes(match[1]!)) {
      throw new TerminalError(
        'invalid_input',
        `the mix is type=weight,… with types ${LOAD_TYPES.join(', ')}; got ${JSON.stringify(part)}`,
      );
    }
    const type = match[1] as LoadType;
    if (mix.some((entry) => entry.type === type)) {
      throw new TerminalError('invalid_input', `the mix names ${type} twice`);
    }
    const weight = Number(match[2]);
    if (weight > 0) mix.push({ type, weight });
  }
  if (mix.length === 0) throw new TerminalError('invalid_input', 'the mix has no type with a weight above 0');
  return mix;
}

export interface LoadOptions {
  readonly endpoint: Endpoint;
  /** Terminal → host TPDU (default 60 0003 0000). */
  readonly tpdu?: Tpdu;
  readonly terminalIds: readonly string[];
  /** The bench merchant the terminals are bound to on the host. */
  readonly merchantId: string;
  /** Default 3des. */
  readonly algorithm?: StateOptions['algorithm'];
  /** Default ecb. */
  readonly macAlgorithm?: StateOptions['macAlgorithm'];
  /** Default: the demo TMK. */
  readonly tmkHex?: string;
  /** Operator at sign-in (default 001; null: the terminal signs in alone). */
  readonly operator?: string | null;
  /** Default sale=80,balance=10,void=10. */
  readonly mix?: readonly MixEntry[];
  /** Used in turn (default: the two approving test cards, 6222021000000013 and 6250001000000010). */
  readonly cards?: readonly CardData[];
  /** The cards' PIN (default 123456; null: no PIN block). */
  readonly pin?: string | null;
  /** Amount of each sale, pre-auth, completion and refund (default 1 fen). */
  readonly amountMinor?: bigint;
  readonly durationMs: number;
  /** Run this long before measuring (default 0). */
  readonly warmupMs?: number;
  /** Per reply (default 10 s). */
  readonly timeoutMs?: number;
  /**
   * Where the terminals' state files are read and written (their traces continue from run to run, so
   * the host never sees a trace twice in a batch), or null (the default) to start each run afresh.
   */
  readonly stateDir?: string | null;
  /** Settle every terminal's batch after the run (default false). */
  readonly settle?: boolean;
  readonly signal?: AbortSignal;
  /** Called about once a second during the run. */
  readonly onProgress?: (progress: LoadProgress) => void;
}

export const DEFAULT_MIX: readonly MixEntry[] = [
  { type: 'sale', weight: 80 },
  { type: 'balance', weight: 10 },
  { type: 'void', weight: 10 },
];

export const DEFAULT_BENCH_CARDS: readonly CardData[] = [
  { pan: '6222021000000013', expiry: '3012', entry: 'swipe' },
  { pan: '6250001000000010', expiry: '3012', entry: 'swipe' },
];

export interface LoadProgress {
  readonly elapsedMs: number;
  readonly warmingUp: boolean;
  readonly completed: number;
  /** Transactions per second over the last interval. */
  readonly tps: number;
}

export interface LatencySummary {
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

export interface TypeReport {
  readonly type: LoadType | 'total';
  readonly count: number;
  readonly tps: number;
  readonly latency: LatencySummary;
  /** Field 39 of the replies, and `no_reply`, `mac_failed`, `bad_reply`. */
  readonly responseCodes: Readonly<Record<string, number>>;
}

export interface LoadReport {
  readonly endpoint: string;
  readonly terminals: number;
  readonly terminalIds: { readonly first: string; readonly last: string };
  readonly merchantId: string;
  readonly measuredMs: number;
  readonly warmupMs: number;
  readonly byType: readonly TypeReport[];
  readonly total: TypeReport;
  readonly signIn: { readonly approved: number; readonly failed: Readonly<Record<string, number>> };
  /** Reversals the terminals sent during the run (before their next transaction). */
  readonly reversals: { readonly sent: number; readonly cleared: number };
  /** Requests that could not be made (connect failures, unanswered reversals, …), by reason. */
  readonly errors: Readonly<Record<string, number>>;
  readonly settlement: Readonly<Record<string, number>> | null;
  /** The generator's own cost during the measured window: CPU per second of wall time, event loop utilization. */
  readonly client: { readonly cpuPercentOfOneCore: number; readonly eventLoopUtilization: number };
}

class TypeStats {
  readonly histogram: Histogram;
  readonly codes = new Map<string, number>();
  constructor(histogram: Histogram) {
    this.histogram = histogram;
  }
  record(latencyUs: number, code: string): void {
    this.histogram.recordValue(Math.max(1, latencyUs));
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
  }
}

function codeOf(outcome: Outcome, responseCode: string | null): string {
  if (outcome === 'approved' || outcome === 'declined') return responseCode ?? '??';
  return outcome;
}

function summarize(type: LoadType | 'total', stats: TypeStats, measuredMs: number): TypeReport {
  const h = stats.histogram;
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    type,
    count: h.totalCount,
    tps: measuredMs > 0 ? Math.round((h.totalCount / measuredMs) * 1000 * 10) / 10 : 0,
    latency: {
      p50Ms: ms(h.getValueAtPercentile(50)),
      p90Ms: ms(h.getValueAtPercentile(90)),
      p99Ms: ms(h.getValueAtPercentile(99)),
      p999Ms: ms(h.getValueAtPercentile(99.9)),
      maxMs: ms(h.maxValue),
      meanMs: ms(h.mean),
    },
    responseCodes: Object.fromEntries([...stats.codes].sort(([a], [b]) => (a < b ? -1 : 1))),
  };
}

async function loadHdr(): Promise<typeof import('hdr-histogram-js')> {
  try {
    return await import('hdr-histogram-js');
  } catch {
    throw new TerminalError(
      'invalid_input',
      'the load generator needs the dev dependency hdr-histogram-js: run npm install (with dev dependencies)',
    );
  }
}

function count(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One bench terminal: its Terminal and what it may void, refund or complete. */
interface Bencher {
  readonly terminal: Terminal;
  readonly store: FileStateStore | null;
  /** Approved sales of the open batch not yet voided or refunded: [trace, rrn]. */
  readonly sales: Array<readonly [string, string | null]>;
  readonly preauths: string[];
  card: number;
}

export async function runLoad(input: LoadOptions): Promise<LoadReport> {
  const options = {
    ...input,
    operator: input.operator === undefined ? '001' : input.operator,
    mix: input.mix ?? DEFAULT_MIX,
    cards: input.cards ?? DEFAULT_BENCH_CARDS,
    pin: input.pin === undefined ? '123456' : input.pin,
    amountMinor: input.amountMinor ?? 1n,
    warmupMs: input.warmupMs ?? 0,
    timeoutMs: input.timeoutMs ?? 10_000,
    stateDir: input.stateDir ?? null,
    settle: input.settle ?? false,
  };
  if (options.terminalIds.length === 0) throw new TerminalError('invalid_input', 'no terminals to run');
  if (options.cards.length === 0) throw new TerminalError('invalid_input', 'no cards to use');
  if (options.mix.length === 0) throw new TerminalError('invalid_input', 'the mix is empty');
  const hdr = await loadHdr();
  const newHistogram = () =>
    hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 3_600_000_000,
      numberOfSignificantValueDigits: 3,
    });
  const stats = new Map<LoadType, TypeStats>(
    options.mix.map((entry) => [entry.type, new TypeStats(newHistogram())]),
  );
  const totalStats = new TypeStats(newHistogram());
  const pin = options.pin === null ? null : new Secret(options.pin);
  const overrides: StateOptions = {
    merchantId: options.merchantId,
    ...(options.algorithm === undefined ? {} : { algorithm: options.algorithm }),
    ...(options.macAlgorithm === undefined ? {} : { macAlgorithm: options.macAlgorithm }),
    ...(options.tmkHex === undefined ? {} : { tmkHex: options.tmkHex }),
  };

  const benchers: Bencher[] = options.terminalIds.map((terminalId, index) => {
    const store =
      options.stateDir === null ? null : new FileStateStore(stateFileOf(options.stateDir, terminalId));
    let state: TerminalState | undefined = store?.load();
    if (state === undefined) state = newTerminalState(terminalId, overrides);
    else applyStateOptions(state, overrides);
    const terminal = new Terminal({
      state,
      store: memoryStore,
      endpoint: options.endpoint,
      ...(options.tpdu === undefined ? {} : { tpdu: options.tpdu }),
      timeoutMs: options.timeoutMs,
      cachePinBlocks: true,
    });
    const sales: Array<readonly [string, string | null]> = [];
    const preauths: string[] = [];
    for (const entry of state.journal.entries) {
      if (entry.batchNo !== state.batchNo || entry.status !== 'open') continue;
      if (entry.type === 'sale' && entry.refundedMinor === 0n) sales.push([entry.trace, entry.rrn]);
      else if (entry.type === 'preauth') preauths.push(entry.trace);
    }
    return { terminal, store, sales, preauths, card: index % options.cards.length };
  });

  const signIn = { approved: 0, failed: {} as Record<string, number> };
  const errors: Record<string, number> = {};
  const reversals = { sent: 0, cleared: 0 };
  const active: Bencher[] = [];
  try {
    // Sign in, a few at a time (a host may limit new connections per second).
    const signInOne = async (bencher: Bencher) => {
      try {
        const result = await bencher.terminal.signIn({ operator: options.operator });
        if (result.approved) {
          signIn.approved++;
          active.push(bencher);
        } else count(signIn.failed, codeOf(result.outcome, result.responseCode));
      } catch (error) {
        if (!isTerminalError(error)) throw error;
        count(signIn.failed, error.reason);
      }
    };
    for (let i = 0; i < benchers.length; i += 64) await Promise.all(benchers.slice(i, i + 64).map(signInOne));
    if (active.length === 0) {
      const why = Object.entries(signIn.failed)
        .map(([code, n]) => `${code} × ${n}`)
        .join(', ');
      throw new TerminalError(
        'sign_in_failed',
        `no terminal could sign in at ${formatEndpoint(options.endpoint)} (${why}): provision terminals ${options.terminalIds[0]}… of merchant ${options.merchantId} on the host`,
      );
    }

    const cumulative: number[] = [];
    let sum = 0;
    for (const entry of options.mix) {
      sum += entry.weight;
      cumulative.push(sum);
    }
    const pick = (): LoadType => {
      const r = Math.random() * sum;
      for (let i = 0; i < cumulative.length; i++) if (r < cumulative[i]!) return options.mix[i]!.type;
      return options.mix[options.mix.length - 1]!.type;
    };

    const started = performance.now();
    const warmupEnd = started + options.warmupMs;
    let end = warmupEnd + options.durationMs;
    let measuredFrom = warmupEnd;
    const stop = () => {
      end = Math.min(end, performance.now());
    };
    options.signal?.addEventListener('abort', stop, { once: true });
    let completed = 0;
    let cpuAtWarmupEnd: NodeJS.CpuUsage | undefined;
    let eluAtWarmupEnd: ReturnType<typeof performance.eventLoopUtilization> | undefined;
    const markWarmupEnd = () => {
      cpuAtWarmupEnd = process.cpuUsage();
      eluAtWarmupEnd = performance.eventLoopUtilization();
    };
    const warmupTimer = setTimeout(markWarmupEnd, options.warmupMs);
    if (options.warmupMs === 0) markWarmupEnd();
    let lastCompleted = 0;
    let lastTick = started;
    const ticker = setInterval(() => {
      const now = performance.now();
      options.onProgress?.({
        elapsedMs: now - started,
        warmingUp: now < warmupEnd,
        completed,
        tps: ((completed - lastCompleted) / (now - lastTick)) * 1000,
      });
      lastCompleted = completed;
      lastTick = now;
    }, 1000);

    const runOne = async (bencher: Bencher, chosen: LoadType) => {
      const t = bencher.terminal;
      const card = options.cards[bencher.card]!;
      bencher.card = (bencher.card + 1) % options.cards.length;
      const withPin = { ...card, pin };
      let type = chosen;
      if (type === 'void' && bencher.sales.length === 0) type = 'sale';
      if (type === 'refund' && bencher.sales.length === 0) type = 'sale';
      if (type === 'complete' && bencher.preauths.length === 0) type = 'preauth';
      switch (type) {
        case 'sale': {
          const result = await t.sale(options.amountMinor, withPin);
          if (result.approved) bencher.sales.push([result.trace, result.rrn]);
          return { type, result };
        }
        case 'balance':
          return { type, result: await t.balance(withPin) };
        case 'void': {
          const [trace] = takeRandom(bencher.sales);
          return { type, result: await t.voidSale(trace, { pin }) };
        }
        case 'refund': {
          const [, rrn] = takeRandom(bencher.sales);
          if (rrn === null)
            return { type: 'sale' as const, result: await t.sale(options.amountMinor, withPin) };
          return { type, result: await t.refund(rrn, options.amountMinor) };
        }
        case 'preauth': {
          const result = await t.preAuth(options.amountMinor, withPin);
          if (result.approved) bencher.preauths.push(result.trace);
          return { type, result };
        }
        case 'complete': {
          const trace = takeRandom(bencher.preauths);
          return { type, result: await t.complete(trace, options.amountMinor, { pin }) };
        }
        case 'echo':
          return { type, result: await t.echo() };
      }
    };

    const loop = async (bencher: Bencher) => {
      while (performance.now() < end) {
        const sentAt = performance.now();
        try {
          const { type, result } = await runOne(bencher, pick());
          completed++;
          if (result.reversal !== null) {
            reversals.sent++;
            if (result.reversal.cleared) reversals.cleared++;
          }
          if (sentAt >= measuredFrom && performance.now() <= end && result.latencyUs !== null) {
            const code = codeOf(result.outcome, result.responseCode);
            let typeStats = stats.get(type);
            if (typeStats === undefined) {
              typeStats = new TypeStats(newHistogram());
              stats.set(type, typeStats);
            }
            typeStats.record(result.latencyUs, code);
            totalStats.record(result.latencyUs, code);
          }
        } catch (error) {
          if (!isTerminalError(error)) throw error;
          count(errors, error.reason);
          await sleep(50);
        }
      }
    };
    await Promise.all(active.map(loop));
    clearInterval(ticker);
    clearTimeout(warmupTimer);
    options.signal?.removeEventListener('abort', stop);
    if (measuredFrom > end) measuredFrom = end;
    const measuredMs = end - measuredFrom;
    const cpu = process.cpuUsage(cpuAtWarmupEnd);
    const elu = performance.eventLoopUtilization(eluAtWarmupEnd);

    let settlement: Record<string, number> | null = null;
    if (options.settle) {
      settlement = {};
      const settleOne = async (bencher: Bencher) => {
        try {
          const result = await bencher.terminal.settle();
          count(settlement!, result.result ?? codeOf(result.outcome, result.responseCode));
        } catch (error) {
          if (!isTerminalError(error)) throw error;
          count(settlement!, error.reason);
        }
      };
      for (let i = 0; i < active.length; i += 64) await Promise.all(active.slice(i, i + 64).map(settleOne));
    }

    const byType = options.mix
      .map((entry) => entry.type)
      .concat([...stats.keys()].filter((type) => !options.mix.some((entry) => entry.type === type)))
      .map((type) => summarize(type, stats.get(type)!, measuredMs));
    return {
      endpoint: formatEndpoint(options.endpoint),
      terminals: active.length,
      terminalIds: {
        first: options.terminalIds[0]!,
        last: options.terminalIds[options.terminalIds.length - 1]!,
      },
      merchantId: options.merchantId,
      measuredMs: Math.round(measuredMs),
      warmupMs: options.warmupMs,
      byType,
      total: summarize('total', totalStats, measuredMs),
      signIn,
      reversals,
      errors,
      settlement,
      client: {
        cpuPercentOfOneCore:
          measuredMs > 0 ? Math.round(((cpu.user + cpu.system) / 1000 / measuredMs) * 1000) / 10 : 0,
        eventLoopUtilization: Math.round(elu.utilization * 1000) / 1000,
      },
    };
  } finally {
    for (const bencher of benchers) {
      if (bencher.store !== null) bencher.store.save(bencher.terminal.state);
      bencher.terminal.close();
    }
  }
}

/** Removes and returns a random element (the array is not empty). */
function takeRandom<T>(items: T[]): T {
  const index = Math.floor(Math.random() * items.length);
  const item = items[index]!;
  items[index] = items[items.length - 1]!;
  items.pop();
  return item;
}

/** Terminal ids `prefix` + a sequence number, zero-padded to 8 characters: `9`, 3 → 90000001–90000003. */
export function terminalIdsFromPrefix(prefix: string, count: number): string[] {
  if (!/^[0-9A-Za-z]{1,7}$/.test(prefix)) {
    throw new TerminalError(
      'invalid_input',
      `a terminal id prefix is 1 to 7 letters or digits, got ${JSON.stringify(prefix)}`,
    );
  }
  const room = 8 - prefix.length;
  if (count > 10 ** room - 1) {
    throw new TerminalError(
      'invalid_input',
      `prefix ${prefix} leaves room for ${10 ** room - 1} terminals, not ${count}`,
    );
  }
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(room, '0')}`);
}

/** `90000001,90000002` or `90000001-90000050` (or both, comma-separated). */
export function parseTerminalIds(text: string): string[] {
  const ids: string[] = [];
  for (const part of text.split(',')) {
    const range = /^(\d{8})-(\d{8})$/.exec(part.trim());
    if (range !== null) {
      const from = Number(range[1]);
      const to = Number(range[2]);
      if (to < from || to - from > 100_000) {
        throw new TerminalError('invalid_input', `terminal range ${part} is empty or too large`);
      }
      for (let n = from; n <= to; n++) ids.push(String(n).padStart(8, '0'));
    } else if (/^[0-9A-Za-z]{8}$/.test(part.trim())) ids.push(part.trim());
    else
      throw new TerminalError(
        'invalid_input',
        `terminal ids are 8 characters, or a range like 90000001-90000050; got ${JSON.stringify(part)}`,
      );
  }
  if (new Set(ids).size !== ids.length)
    throw new TerminalError('invalid_input', 'a terminal id appears twice');
  return ids;
}

/** `6222021000000013,6250001000000010:3012` or `6222021000000013-6222021000000099` (PANs, optional :YYMM). */
export function parseCards(text: string, defaultExpiry = '3012'): CardData[] {
  const cards: CardData[] = [];
  for (const part of text.split(',')) {
    const match = /^\s*(\d{13,19})(?:-(\d{13,19}))?(?::(\d{4}))?\s*$/.exec(part);
    if (match === null) {
      throw new TerminalError(
        'invalid_input',
        `cards are PANs (13 to 19 digits) with an optional :YYMM, or a range PAN-PAN; got ${JSON.stringify(part)}`,
      );
    }
    const expiry = match[3] ?? defaultExpiry;
    if (match[2] === undefined) {
      cards.push({ pan: match[1]!, expiry, entry: 'swipe' });
      continue;
    }
    const from = BigInt(match[1]!);
    const to = BigInt(match[2]);
    if (match[1]!.length !== match[2].length || to < from || to - from > 100_000n) {
      throw new TerminalError(
        'invalid_input',
        `card range ${part.trim()} is empty, too large, or of two lengths`,
      );
    }
    for (let pan = from; pan <= to; pan++) {
      cards.push({ pan: pan.toString().padStart(match[1]!.length, '0'), expiry, entry: 'swipe' });
    }
  }
  return cards;
}
