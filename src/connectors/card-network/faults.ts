import type { NetworkOperation } from '../../payments/index.ts';
import { assert } from '../../shared/assert.ts';

// Faults on demand, for tests: the simulator (in process, and its TCP server) asks the injector what
// happens to each message before the issuer sees it. Draws come from a seeded generator in the order
// messages arrive, so a test that sends the same messages in the same order gets the same faults.

/** The message a fault may hit. */
export interface FaultTarget {
  kind: 'request' | 'reversal';
  operation: NetworkOperation;
  stan: string;
  rrn: string;
  terminalId: string;
}

export interface FaultSettings {
  /** Seed of the generator (default 1). Setting faults restarts the sequence. */
  seed?: number;
  /** Share of messages lost on the way to the issuer (0 to 1): nothing happens, the caller times out. */
  dropRate?: number;
  /** Share of replies lost after the issuer committed (0 to 1): the caller times out, money moved. */
  dropReplyRate?: number;
  /** Replies come this much later (after the issuer committed); at or past the caller's timeout it times out. */
  delayMs?: number;
  /** Share of replies delayed by delayMs (default 1 when delayMs is set). */
  delayRate?: number;
  /** Share of replies garbled on the wire (TCP server only; in process the caller gets malformed_reply). */
  malformRate?: number;
  /** Only messages this returns true for are touched (default: all). */
  match?: (target: FaultTarget) => boolean;
}

export interface FaultDecision {
  dropRequest: boolean;
  dropReply: boolean;
  delayMs: number;
  malformReply: boolean;
}

const NO_FAULT: FaultDecision = Object.freeze({
  dropRequest: false,
  dropReply: false,
  delayMs: 0,
  malformReply: false,
});

function checkRate(name: string, rate: number | undefined): void {
  assert(rate === undefined || (rate >= 0 && rate <= 1), `${name} is between 0 and 1`);
}

/** mulberry32: a small seeded generator, good enough to pick faults. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultInjector {
  #settings: FaultSettings | undefined;
  #random: () => number = generator(1);
  #counts = { dropped: 0, repliesDropped: 0, delayed: 0, malformed: 0 };

  /** Replaces the fault settings (and restarts the generator from the seed). */
  set(settings: FaultSettings): void {
    checkRate('dropRate', settings.dropRate);
    checkRate('dropReplyRate', settings.dropReplyRate);
    checkRate('delayRate', settings.delayRate);
    checkRate('malformRate', settings.malformRate);
    assert(settings.delayMs === undefined || settings.delayMs >= 0, 'delayMs >= 0');
    this.#settings = { ...settings };
    this.#random = generator(settings.seed ?? 1);
  }

  /** No faults from now on. */
  clear(): void {
    this.#settings = undefined;
  }

  /** How many messages each fault has hit since the injector was made. */
  get counts(): Readonly<{ dropped: number; repliesDropped: number; delayed: number; malformed: number }> {
    return { ...this.#counts };
  }

  /** What happens to this message. Four draws per matched message, whatever the outcome. */
  decide(target: FaultTarget): FaultDecision {
    const settings = this.#settings;
    if (settings === undefined) return NO_FAULT;
    if (settings.match !== undefined && !settings.match(target)) return NO_FAULT;
    const drop = this.#random() < (settings.dropRate ?? 0);
    const dropReply = this.#random() < (settings.dropReplyRate ?? 0);
    const delayed = this.#random() < (settings.delayMs === undefined ? 0 : (settings.delayRate ?? 1));
    const malform = this.#random() < (settings.malformRate ?? 0);
    if (drop) {
      this.#counts.dropped++;
      return { dropRequest: true, dropReply: false, delayMs: 0, malformReply: false };
    }
    if (dropReply) this.#counts.repliesDropped++;
    else if (malform) this.#counts.malformed++;
    if (delayed) this.#counts.delayed++;
    return {
      dropRequest: false,
      dropReply,
      delayMs: delayed ? (settings.delayMs ?? 0) : 0,
      malformReply: !dropReply && malform,
    };
  }
}
