import { createHmac, createSecretKey, randomInt } from 'node:crypto';
import type { Database } from '../../db/index.ts';
import { type KeyHandle, pinVerificationValue } from '../../keys/index.ts';
import type {
  CardNetwork,
  NetworkOutcome,
  NetworkRequest,
  NetworkReversal,
  ReversalOutcome,
} from '../../payments/index.ts';
import { assert } from '../../shared/assert.ts';
import { businessDate, type Clock, systemClock } from '../../shared/clock.ts';
import { TillpointError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { type Logger, silentLogger } from '../../shared/logger.ts';
import { maskPan } from '../../shared/redact.ts';
import { Secret } from '../../shared/secret.ts';
import { FaultInjector, type FaultTarget } from './faults.ts';
import { type AuthorizationRow, availableMinor, type IssuerOutcome, type ReversalEffect } from './issuer.ts';
import {
  type AuthorizationDbRow,
  authorizationFromDb,
  IssuerStore,
  type MessageResult,
  newCardVersion,
} from './store.ts';
import {
  DEFAULT_PER_TRANSACTION_LIMIT_MINOR,
  type SimCardBehaviour,
  type SimCardKind,
  type SimCardStatus,
  TEST_CARD_EXPIRY,
  TEST_CARD_PIN,
  TEST_CARDS,
} from './test-cards.ts';

// The built-in card network: an issuer behind a network, with its own tables (schema.ts), so that
// balances move with sales, voids, refunds and holds. `send` and `reverse` are the CardNetwork the
// payments module calls; the card's behaviour (never answer, answer late) and the fault injector
// decide what the caller sees, and the issuer answers only after its state change is committed.

export interface CardNetworkSimulatorDeps {
  db: Database;
  /** Key of the HMAC-SHA256 under which PANs are hashed to find cards (never stored in clear). */
  panHashKey: Secret<Buffer>;
  /** The issuer's PIN verification key (usage `pvk`): PVVs are computed and checked under it. */
  pvk: KeyHandle;
  /** The zone PIN key shared with the acquirer (usage `zpk`): PIN blocks arrive under it. */
  zpk: KeyHandle;
  clock?: Clock;
  /** The issuer's business day (wrong-PIN counts, expiry): default Asia/Shanghai. */
  timeZone?: string;
  logger?: Logger;
  /** A completion may capture up to the pre-authorized amount plus this percentage (default 15). */
  completionTolerancePercent?: number;
  /** A late-approval card's approval lands this long after the caller's timeout (default 100 ms). */
  lateApprovalDelayMs?: number;
  /** Issuer institution code answered in approvals (field 44; default `01020000`). */
  issuerCode?: string;
  /** Group commit: messages per batch (default 500) and batches written at once (default 2). */
  maxBatch?: number;
  maxInFlight?: number;
  /**
   * Cards remembered between batches (default 100,000): a batch of plain messages on remembered
   * cards is written in one round trip, checked against the rows' versions (store.ts). 0: never.
   */
  maxCachedCards?: number;
}

export interface NewSimCard {
  pan: Secret<string>;
  pin: Secret<string>;
  kind: SimCardKind;
  /** Debit cards: the opening balance. */
  balanceMinor?: bigint;
  /** Credit cards: the limit. */
  creditLimitMinor?: bigint;
  /** YYMM (default 3012). */
  expiry?: string;
  status?: SimCardStatus;
  behaviour?: SimCardBehaviour;
  /** Default ¥100,000.00. */
  perTransactionLimitMinor?: bigint;
  /** ISO 4217 numeric (default 156). */
  currencyNumeric?: string;
}

export interface SimCardView {
  id: string;
  panMasked: string;
  kind: SimCardKind;
  currencyNumeric: string;
  balanceMinor: bigint;
  creditLimitMinor: bigint;
  usedMinor: bigint;
  heldMinor: bigint;
  /** Debit: balance − holds; credit: limit − used − holds. */
  availableMinor: bigint;
  perTransactionLimitMinor: bigint;
  expiry: string;
  status: SimCardStatus;
  behaviour: SimCardBehaviour;
  pinTriesDate: string | null;
  pinWrongCount: number;
}

export type SimAuthorizationView = AuthorizationRow;

export interface SimReversalView {
  authorizationId: string;
  stan: string;
  rrn: string;
  attempt: number;
  reason: NetworkReversal['reason'];
  effect: ReversalEffect;
}

/** What the issuer did with a message, without the caller's timeout: for the TCP server. */
export type IssuerAnswer =
  | { kind: 'answer'; outcome: NetworkOutcome & { status: 'approved' | 'declined' } }
  | { kind: 'no_answer' }
  | { kind: 'late' };

export interface CardNetworkSimulator extends CardNetwork {
  /** Faults on demand, for tests (also applied by the TCP server). */
  readonly faults: FaultInjector;
  /**
   * The issuer's answer to a message, once committed, with no timeout: `no_answer` for a card that
   * never answers, `late` for a late-approval card (call again with `late: true` when its time has
   * come). A message the issuer could not record is answered 96 (nothing moved), or not at all when
   * its commit's fate is unknown.
   */
  authorize(request: NetworkRequest, options?: { late?: boolean }): Promise<IssuerAnswer>;
  /** Applies a reversal, once committed; `false` when the issuer could not record it. */
  applyReversal(reversal: NetworkReversal): Promise<boolean>;
  /** Creates the test cards of docs/terminal-protocol.md; a second run changes nothing. Returns how many were new. */
  seedTestCards(): Promise<number>;
  /** Adds cards (a PAN already present is left as it is). Returns how many were new. */
  addCards(cards: readonly NewSimCard[]): Promise<number>;
  setCardStatus(pan: Secret<string>, status: SimCardStatus): Promise<boolean>;
  getCard(pan: Secret<string>): Promise<SimCardView | undefined>;
  /** The card's authorizations, oldest first. */
  listAuthorizations(pan: Secret<string>): Promise<SimAuthorizationView[]>;
  /** The reversals of the card's messages, oldest first. */
  listReversals(pan: Secret<string>): Promise<SimReversalView[]>;
  /** Resolves when no message is being written and no late approval is waiting to land. */
  idle(): Promise<void>;
  /** Group-commit counters, for benchmarks. */
  readonly stats: IssuerStore['stats'];
}

const TIMED_OUT = Symbol('timed out');

/** A timer the caller's timeout runs on; close() ends them all at once. */
class Deadline {
  readonly promise: Promise<typeof TIMED_OUT>;
  readonly #endsAt: number;
  #timer: NodeJS.Timeout | undefined;
  #fire!: () => void;
  readonly #all: Set<Deadline>;

  constructor(timeoutMs: number, all: Set<Deadline>) {
    this.#endsAt = Date.now() + timeoutMs;
    this.#all = all;
    this.promise = new Promise((resolve) => {
      this.#fire = () => {
        this.cancel();
        resolve(TIMED_OUT);
      };
    });
    this.#timer = setTimeout(this.#fire, Math.max(0, timeoutMs));
    all.add(this);
  }

  get remainingMs(): number {
    return Math.max(0, this.#endsAt - Date.now());
  }

  fireNow(): void {
    this.#fire();
  }

  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#all.delete(this);
  }
}

const CARD_COLUMNS = `id, pan_masked, kind, currency_numeric, balance_minor, credit_limit_minor, used_minor, held_minor,
  per_transaction_limit_minor, expiry, status, behaviour, pin_tries_date, pin_wrong_count`;

const INSERT_CARDS_SQL = `
INSERT INTO card_network_sim_cards (id, pan_hash, pan_masked, kind, currency_numeric, balance_minor, credit_limit_minor,
            per_transaction_limit_minor, expiry, status, pvv, behaviour)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::card_network_sim_card_kind[], $5::bpchar[], $6::int8[],
                     $7::int8[], $8::int8[], $9::bpchar[], $10::card_network_sim_card_status[], $11::bpchar[],
                     $12::card_network_sim_card_behaviour[])
ON CONFLICT (pan_hash) DO NOTHING`;

const EXPIRY_PATTERN = /^[0-9]{2}(0[1-9]|1[0-2])$/;

export function createCardNetworkSimulator(deps: CardNetworkSimulatorDeps): CardNetworkSimulator {
  const { db, pvk, zpk } = deps;
  const clock = deps.clock ?? systemClock;
  const timeZone = deps.timeZone ?? 'Asia/Shanghai';
  const logger = (deps.logger ?? silentLogger()).child({ component: 'card-network-simulator' });
  const completionTolerancePercent = deps.completionTolerancePercent ?? 15;
  const lateApprovalDelayMs = deps.lateApprovalDelayMs ?? 100;
  const issuerCode = deps.issuerCode ?? '01020000';
  assert(
    Number.isInteger(completionTolerancePercent) && completionTolerancePercent >= 0,
    'completionTolerancePercent is a whole number >= 0',
  );
  assert(deps.panHashKey.expose().length >= 16, 'the PAN-hash key has at least 16 bytes');
  // A KeyObject made once: createHmac with a Buffer key costs several times more per call.
  const hashKey = createSecretKey(Buffer.from(deps.panHashKey.expose()));
  const faults = new FaultInjector();
  let authCodeCounter = randomInt(0, 1_000_000);
  let today = { second: Number.NaN, date: '' };
  const store = new IssuerStore({
    db,
    logger,
    maxBatch: deps.maxBatch,
    maxInFlight: deps.maxInFlight,
    maxCachedCards: deps.maxCachedCards,
    context: () => {
      const now = clock.now();
      // Formatting a date in a time zone costs more than the rest of a small batch's context: once a second.
      const second = Math.floor(now.getTime() / 1000);
      if (second !== today.second) today = { second, date: businessDate(now, timeZone) };
      return {
        now,
        businessDate: today.date,
        zpk,
        pvk,
        completionTolerancePercent,
        nextAuthCode: () => {
          authCodeCounter = (authCodeCounter + 1) % 1_000_000;
          return authCodeCounter.toString().padStart(6, '0');
        },
      };
    },
  });
  const deadlines = new Set<Deadline>();
  /** Late approvals waiting to land, with what ends their task if close() drops them. */
  const lateTimers = new Map<NodeJS.Timeout, () => void>();
  const lateTasks = new Set<Promise<unknown>>();
  let closed = false;

  function panHash(pan: Secret<string> | string): string {
    return createHmac('sha256', hashKey)
      .update(typeof pan === 'string' ? pan : pan.expose(), 'ascii')
      .digest('hex');
  }

  function toOutcome(outcome: IssuerOutcome): NetworkOutcome & { status: 'approved' | 'declined' } {
    if (outcome.status === 'declined') return outcome;
    return {
      status: 'approved',
      authCode: outcome.authCode,
      ...(outcome.balanceMinor === undefined ? {} : { balanceMinor: outcome.balanceMinor }),
      issuerCode,
      cardOrganization: 'CUP',
    };
  }

  function answerOf(result: MessageResult): IssuerAnswer {
    switch (result.kind) {
      case 'answer':
        return { kind: 'answer', outcome: toOutcome(result.outcome) };
      case 'failed':
        // Surely nothing moved: 96. The commit's fate unknown: no answer (the caller times out and reverses).
        return result.committed === 'no'
          ? {
              kind: 'answer',
              outcome: { status: 'declined', responseCode: '96', reason: 'system_malfunction' },
            }
          : { kind: 'no_answer' };
      default:
        return result;
    }
  }

  /** Lands a late approval `delayMs` from now (tracked so that idle() waits for it, close() drops it). */
  function scheduleLate(request: NetworkRequest, hash: string, delayMs: number): void {
    if (closed) return;
    let release!: () => void;
    const task = new Promise<void>((resolve) => {
      release = () => {
        lateTasks.delete(task);
        resolve();
      };
    });
    lateTasks.add(task);
    const timer = setTimeout(() => {
      lateTimers.delete(timer);
      void store
        .submitMessage(request, hash, true)
        .then((result) => {
          logger.debug(
            { stan: request.stan, result: result.kind === 'answer' ? result.outcome.status : result.kind },
            'late approval landed',
          );
        })
        .finally(release);
    }, delayMs);
    lateTimers.set(timer, release);
  }

  function target(kind: FaultTarget['kind'], request: NetworkRequest): FaultTarget {
    return {
      kind,
      operation: request.operation,
      stan: request.stan,
      rrn: request.rrn,
      terminalId: request.terminalId,
    };
  }

  function timeout(detail: string): NetworkOutcome & ReversalOutcome {
    return { status: 'unknown', cause: 'timeout', detail };
  }

  async function whenDeadline(deadline: Deadline, detail: string): Promise<NetworkOutcome & ReversalOutcome> {
    await deadline.promise;
    return timeout(detail);
  }

  function checkTimeout(timeoutMs: number): void {
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new TillpointError('TILLPOINT_ERR_VALIDATION', 'timeoutMs must be a finite number >= 0', {
        param: 'timeoutMs',
      });
    }
  }

  const simulator: CardNetworkSimulator = {
    faults,
    get stats() {
      return structuredClone(store.stats);
    },

    async send(request, { timeoutMs }) {
      checkTimeout(timeoutMs);
      if (closed) return { status: 'unknown', cause: 'link_down', detail: 'the simulator is closed' };
      const startedAt = Date.now();
      const fault = faults.decide(target('request', request));
      const deadline = new Deadline(timeoutMs, deadlines);
      try {
        if (fault.dropRequest) return await whenDeadline(deadline, 'the request was lost (fault injected)');
        const hash = panHash(request.card.pan);
        const processing = store.submitMessage(request, hash, false);
        const result = await Promise.race([processing, deadline.promise]);
        if (result === TIMED_OUT) {
          // The issuer still decides; a late-approval card's approval must land all the same.
          void processing.then((late) => {
            if (late.kind === 'late') scheduleLate(request, hash, lateApprovalDelayMs);
          });
          return timeout(`no answer within ${timeoutMs} ms`);
        }
        switch (result.kind) {
          case 'no_answer':
            return await whenDeadline(deadline, `no answer within ${timeoutMs} ms`);
          case 'late':
            scheduleLate(
              request,
              hash,
              Math.max(0, startedAt + timeoutMs + lateApprovalDelayMs - Date.now()),
            );
            return await whenDeadline(deadline, `no answer within ${timeoutMs} ms`);
          case 'failed':
            if (result.committed === 'unknown') return timeout(result.detail);
            return { status: 'declined', responseCode: '96', reason: 'system_malfunction' };
          case 'answer':
            break;
        }
        if (fault.dropReply) return await whenDeadline(deadline, 'the reply was lost (fault injected)');
        if (fault.delayMs > 0) {
          if (fault.delayMs >= deadline.remainingMs) {
            return await whenDeadline(deadline, `no answer within ${timeoutMs} ms (reply delayed)`);
          }
          await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
        }
        if (fault.malformReply) {
          return {
            status: 'unknown',
            cause: 'malformed_reply',
            detail: 'the reply was garbled (fault injected)',
          };
        }
        return toOutcome(result.outcome);
      } finally {
        deadline.cancel();
      }
    },

    async reverse(reversal, { timeoutMs }) {
      checkTimeout(timeoutMs);
      assert(Number.isInteger(reversal.attempt) && reversal.attempt >= 1, 'a reversal attempt is 1 or more');
      if (closed) return { status: 'unknown', cause: 'link_down', detail: 'the simulator is closed' };
      const fault = faults.decide(target('reversal', reversal.original));
      const deadline = new Deadline(timeoutMs, deadlines);
      try {
        if (fault.dropRequest) return await whenDeadline(deadline, 'the reversal was lost (fault injected)');
        const hash = panHash(reversal.original.card.pan);
        const result = await Promise.race([store.submitReversal(reversal, hash), deadline.promise]);
        if (result === TIMED_OUT) return timeout(`no answer within ${timeoutMs} ms`);
        if (result.kind === 'failed') return timeout(result.detail);
        if (fault.dropReply) return await whenDeadline(deadline, 'the reply was lost (fault injected)');
        if (fault.delayMs > 0) {
          if (fault.delayMs >= deadline.remainingMs) {
            return await whenDeadline(deadline, `no answer within ${timeoutMs} ms (reply delayed)`);
          }
          await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
        }
        if (fault.malformReply) {
          return {
            status: 'unknown',
            cause: 'malformed_reply',
            detail: 'the reply was garbled (fault injected)',
          };
        }
        return { status: 'acknowledged' };
      } finally {
        deadline.cancel();
      }
    },

    async authorize(request, options = {}) {
      return answerOf(await store.submitMessage(request, panHash(request.card.pan), options.late === true));
    },

    async applyReversal(reversal) {
      const result = await store.submitReversal(reversal, panHash(reversal.original.card.pan));
      return result.kind === 'done';
    },

    async seedTestCards() {
      return simulator.addCards(
        TEST_CARDS.map((card) => ({
          pan: new Secret(card.pan),
          pin: new Secret(TEST_CARD_PIN),
          kind: card.kind,
          ...(card.kind === 'debit'
            ? { balanceMinor: card.amountMinor }
            : { creditLimitMinor: card.amountMinor }),
          expiry: card.expiry,
          status: card.status,
          behaviour: card.behaviour,
        })),
      );
    },

    async addCards(cards) {
      let inserted = 0;
      const chunk = 5_000;
      for (let from = 0; from < cards.length; from += chunk) {
        const columns: unknown[][] = Array.from({ length: 12 }, () => []);
        for (const card of cards.slice(from, from + chunk)) {
          const pan = card.pan.expose();
          if (!/^[0-9]{13,19}$/.test(pan)) {
            throw new TillpointError('TILLPOINT_ERR_VALIDATION', 'pan must be 13 to 19 digits', {
              param: 'pan',
            });
          }
          const expiry = card.expiry ?? TEST_CARD_EXPIRY;
          if (!EXPIRY_PATTERN.test(expiry)) {
            throw new TillpointError('TILLPOINT_ERR_VALIDATION', 'expiry must be YYMM', { param: 'expiry' });
          }
          const balance = card.balanceMinor ?? 0n;
          const limit = card.creditLimitMinor ?? 0n;
          if (card.kind === 'debit' ? balance < 0n || limit !== 0n : limit < 0n || balance !== 0n) {
            throw new TillpointError(
              'TILLPOINT_ERR_AMOUNT_INVALID',
              'a debit card has a balance >= 0 and no limit; a credit card a limit >= 0 and no balance',
              { param: card.kind === 'debit' ? 'balanceMinor' : 'creditLimitMinor' },
            );
          }
          columns[0]!.push(newId());
          columns[1]!.push(panHash(pan));
          columns[2]!.push(maskPan(pan));
          columns[3]!.push(card.kind);
          columns[4]!.push(card.currencyNumeric ?? '156');
          columns[5]!.push(balance.toString());
          columns[6]!.push(limit.toString());
          columns[7]!.push((card.perTransactionLimitMinor ?? DEFAULT_PER_TRANSACTION_LIMIT_MINOR).toString());
          columns[8]!.push(expiry);
          columns[9]!.push(card.status ?? 'active');
          columns[10]!.push(pinVerificationValue(card.pin, card.pan, pvk));
          columns[11]!.push(card.behaviour ?? 'normal');
        }
        const result = await db.query({ text: INSERT_CARDS_SQL, values: columns });
        inserted += result.rowCount ?? 0;
      }
      return inserted;
    },

    async setCardStatus(pan, status) {
      const hash = panHash(pan);
      const result = await db.query(
        'UPDATE card_network_sim_cards SET status = $2, version = $3, updated_at = now() WHERE pan_hash = $1',
        [hash, status, newCardVersion().toString()],
      );
      store.forgetCard(hash);
      return (result.rowCount ?? 0) > 0;
    },

    async getCard(pan) {
      const result = await db.query<{
        id: string;
        pan_masked: string;
        kind: SimCardKind;
        currency_numeric: string;
        balance_minor: bigint;
        credit_limit_minor: bigint;
        used_minor: bigint;
        held_minor: bigint;
        per_transaction_limit_minor: bigint;
        expiry: string;
        status: SimCardStatus;
        behaviour: SimCardBehaviour;
        pin_tries_date: string | null;
        pin_wrong_count: number;
      }>(`SELECT ${CARD_COLUMNS} FROM card_network_sim_cards WHERE pan_hash = $1`, [panHash(pan)]);
      const row = result.rows[0];
      if (row === undefined) return undefined;
      const view: SimCardView = {
        id: row.id,
        panMasked: row.pan_masked,
        kind: row.kind,
        currencyNumeric: row.currency_numeric,
        balanceMinor: row.balance_minor,
        creditLimitMinor: row.credit_limit_minor,
        usedMinor: row.used_minor,
        heldMinor: row.held_minor,
        availableMinor: 0n,
        perTransactionLimitMinor: row.per_transaction_limit_minor,
        expiry: row.expiry,
        status: row.status,
        behaviour: row.behaviour,
        pinTriesDate: row.pin_tries_date,
        pinWrongCount: row.pin_wrong_count,
      };
      view.availableMinor = availableMinor(view);
      return view;
    },

    async listAuthorizations(pan) {
      const result = await db.query<AuthorizationDbRow>(
        `SELECT a.* FROM card_network_sim_authorizations a
           JOIN card_network_sim_cards c ON c.id = a.card_id
          WHERE c.pan_hash = $1
          ORDER BY a.created_at, a.id`,
        [panHash(pan)],
      );
      return result.rows.map(authorizationFromDb);
    },

    async listReversals(pan) {
      const result = await db.query<{
        authorization_id: string;
        stan: string;
        rrn: string;
        attempt: number;
        reason: NetworkReversal['reason'];
        effect: ReversalEffect;
      }>(
        `SELECT r.authorization_id, a.stan, a.rrn, r.attempt, r.reason, r.effect
           FROM card_network_sim_reversals r
           JOIN card_network_sim_authorizations a ON a.id = r.authorization_id
           JOIN card_network_sim_cards c ON c.id = a.card_id
          WHERE c.pan_hash = $1
          ORDER BY r.created_at, r.id`,
        [panHash(pan)],
      );
      return result.rows.map((row) => ({
        authorizationId: row.authorization_id,
        stan: row.stan,
        rrn: row.rrn,
        attempt: row.attempt,
        reason: row.reason,
        effect: row.effect,
      }));
    },

    async idle() {
      while (lateTasks.size > 0 || store.busy) {
        await Promise.all([...lateTasks]);
        await store.idle();
      }
    },

    async close() {
      closed = true;
      for (const [timer, release] of lateTimers) {
        clearTimeout(timer);
        release();
      }
      lateTimers.clear();
      for (const deadline of [...deadlines]) deadline.fireNow();
      await store.idle();
      store.releaseConnections();
    },
  };
  return simulator;
}
