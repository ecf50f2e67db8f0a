import { type KeyHandle, verifyPin } from '../../keys/index.ts';
import type { NetworkOperation, NetworkRequest, NetworkReversal } from '../../payments/index.ts';
import { assert, assertNever } from '../../shared/assert.ts';
import { isTillpointError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { DECLINE_REASONS, type DeclineCode } from './codes.ts';
import type { SimCardBehaviour, SimCardKind, SimCardStatus } from './test-cards.ts';

// The simulated issuer's rules, applied in memory to the card rows a batch holds locked and to the
// authorizations it loaded (see store.ts). Nothing here does I/O: a batch decides its messages one
// after the other, in arrival order, against working copies, and store.ts writes what changed in one
// statement per table. Every check reads the state left by the messages before it in the batch, so
// two sales on a card with ¥10 left are decided one after the other, never side by side.

/** Wrong PINs in a row, on one business day, that block the card's PIN until the day ends. */
export const PIN_TRIES_MAX = 3;

export type AuthorizationStatus =
  | 'approved'
  | 'declined'
  | 'reversed'
  | 'voided'
  | 'refunded_partial'
  | 'refunded'
  | 'completed';

export type ReversalEffect = 'reversed' | 'remembered' | 'already_reversed' | 'nothing_to_reverse';

/** A card row as locked by a batch; the batch changes it in place and writes the difference. */
export interface CardRow {
  id: string;
  panHash: string;
  kind: SimCardKind;
  currencyNumeric: string;
  balanceMinor: bigint;
  creditLimitMinor: bigint;
  usedMinor: bigint;
  heldMinor: bigint;
  perTransactionLimitMinor: bigint;
  expiry: string;
  status: SimCardStatus;
  pvv: string;
  behaviour: SimCardBehaviour;
  pinTriesDate: string | null;
  pinWrongCount: number;
}

export interface WorkingCard {
  readonly row: CardRow;
  /** The money columns as locked: the batch writes current − start. */
  readonly start: { balanceMinor: bigint; usedMinor: bigint; heldMinor: bigint };
  touched: boolean;
}

export function workingCard(row: CardRow): WorkingCard {
  return {
    row,
    start: { balanceMinor: row.balanceMinor, usedMinor: row.usedMinor, heldMinor: row.heldMinor },
    touched: false,
  };
}

export interface AuthorizationRow {
  id: string;
  cardId: string | null;
  acquirerCode: string;
  stan: string;
  rrn: string;
  terminalId: string;
  merchantId: string;
  operation: NetworkOperation;
  amountMinor: bigint;
  currencyNumeric: string;
  responseCode: string | null;
  authCode: string | null;
  status: AuthorizationStatus;
  holdMinor: bigint;
  releasedMinor: bigint;
  refundedMinor: bigint;
  originalId: string | null;
  transmittedAt: Date;
  answeredAt: Date | null;
}

export interface ReversalLogRow {
  id: string;
  authorizationId: string;
  attempt: number;
  reason: NetworkReversal['reason'];
  effect: ReversalEffect;
}

export type IssuerOutcome =
  | { status: 'approved'; authCode: string; balanceMinor?: bigint }
  | { status: 'declined'; responseCode: DeclineCode; reason: string };

/** What the issuer does with a message: answer it, never answer it, or answer it late. */
export type IssuerDecision =
  | { kind: 'answer'; outcome: IssuerOutcome }
  | { kind: 'no_answer' }
  | { kind: 'late' };

export interface IssuerContext {
  readonly now: Date;
  /** Today in the issuer's time zone, YYYY-MM-DD: wrong-PIN counts and expiry use it. */
  readonly businessDate: string;
  readonly zpk: KeyHandle;
  readonly pvk: KeyHandle;
  /** A completion may capture up to the hold plus this percentage of it. */
  readonly completionTolerancePercent: number;
  readonly nextAuthCode: () => string;
}

export function referenceKey(acquirerCode: string, stan: string, rrn: string): string {
  return `${acquirerCode}|${stan}|${rrn}`;
}

export function availableMinor(
  card: Pick<CardRow, 'kind' | 'balanceMinor' | 'creditLimitMinor' | 'usedMinor' | 'heldMinor'>,
): bigint {
  return card.kind === 'debit'
    ? card.balanceMinor - card.heldMinor
    : card.creditLimitMinor - card.usedMinor - card.heldMinor;
}

function decline(code: DeclineCode): IssuerOutcome {
  return { status: 'declined', responseCode: code, reason: DECLINE_REASONS[code] };
}

/** YYMM of a business date YYYY-MM-DD. */
function yymmOf(businessDate: string): string {
  return businessDate.slice(2, 4) + businessDate.slice(5, 7);
}

/** Operations that draw on the card (status, expiry and per-transaction limit apply to them). */
function isNewDebit(operation: NetworkOperation): boolean {
  return operation === 'sale' || operation === 'preauth' || operation === 'balance';
}

/**
 * One batch's decisions. Construct it with the card rows the batch locked (by PAN hash) and the
 * authorizations it loaded (by network reference, and their originals), then call decideMessage /
 * decideReversal once per job in arrival order; `inserted`, `updated`, `reversals` and the touched
 * cards are what to write.
 */
export class IssuerBatch {
  readonly #ctx: IssuerContext;
  readonly #cards: ReadonlyMap<string, WorkingCard>;
  readonly #byRef = new Map<string, AuthorizationRow>();
  readonly #byId = new Map<string, AuthorizationRow>();
  readonly inserted: AuthorizationRow[] = [];
  readonly #insertedIds = new Set<string>();
  readonly updated = new Set<AuthorizationRow>();
  readonly reversals: ReversalLogRow[] = [];

  constructor(
    ctx: IssuerContext,
    cards: ReadonlyMap<string, WorkingCard>,
    loaded: readonly AuthorizationRow[],
  ) {
    this.#ctx = ctx;
    this.#cards = cards;
    for (const row of loaded) this.#remember(row);
  }

  /** The cards whose rows changed. */
  touchedCards(): WorkingCard[] {
    const touched: WorkingCard[] = [];
    for (const card of this.#cards.values()) if (card.touched) touched.push(card);
    return touched;
  }

  #remember(row: AuthorizationRow): void {
    this.#byRef.set(referenceKey(row.acquirerCode, row.stan, row.rrn), row);
    this.#byId.set(row.id, row);
  }

  #insert(row: AuthorizationRow): void {
    this.inserted.push(row);
    this.#insertedIds.add(row.id);
    this.#remember(row);
  }

  #update(row: AuthorizationRow): void {
    // A row inserted by this batch is written once, in its final state.
    if (!this.#insertedIds.has(row.id)) this.updated.add(row);
  }

  #newRow(request: NetworkRequest, cardId: string | null, outcome: IssuerOutcome): AuthorizationRow {
    return {
      id: newId(this.#ctx.now.getTime()),
      cardId,
      acquirerCode: request.acquirerCode,
      stan: request.stan,
      rrn: request.rrn,
      terminalId: request.terminalId,
      merchantId: request.merchantId,
      operation: request.operation,
      amountMinor: request.amountMinor < 0n ? 0n : request.amountMinor,
      currencyNumeric: request.currencyNumeric,
      responseCode: outcome.status === 'approved' ? '00' : outcome.responseCode,
      authCode: outcome.status === 'approved' ? outcome.authCode : null,
      status: outcome.status === 'approved' ? 'approved' : 'declined',
      holdMinor: 0n,
      releasedMinor: 0n,
      refundedMinor: 0n,
      originalId: null,
      transmittedAt: request.transmittedAt,
      answeredAt: this.#ctx.now,
    };
  }

  /**
   * Decides a financial message. `late` is set when a late-approval card's message is finally
   * processed (its behaviour no longer applies).
   */
  decideMessage(request: NetworkRequest, panHash: string, late: boolean): IssuerDecision {
    const card = this.#cards.get(panHash);
    // A card's behaviour comes first: a no-answer card never answers, a late one always answers late.
    if (!late && card?.row.behaviour === 'no_answer') return { kind: 'no_answer' };
    if (!late && card?.row.behaviour === 'late_approval') return { kind: 'late' };
    const existing = this.#byRef.get(referenceKey(request.acquirerCode, request.stan, request.rrn));
    if (existing !== undefined) return { kind: 'answer', outcome: this.#repeat(existing, request, card) };
    if (card === undefined) {
      const outcome = decline('14');
      this.#insert(this.#newRow(request, null, outcome));
      return { kind: 'answer', outcome };
    }
    const row = this.#newRow(request, card.row.id, decline('96'));
    const outcome = this.#decide(request, card, row);
    if (outcome.status === 'declined') {
      row.status = 'declined';
      row.responseCode = outcome.responseCode;
      row.authCode = null;
      row.holdMinor = 0n;
      row.releasedMinor = 0n;
    } else {
      row.status = 'approved';
      row.responseCode = '00';
      row.authCode = outcome.authCode;
    }
    this.#insert(row);
    return { kind: 'answer', outcome };
  }

  /** A message whose reference the issuer has seen: its answer again, or a refusal. */
  #repeat(existing: AuthorizationRow, request: NetworkRequest, card: WorkingCard | undefined): IssuerOutcome {
    if (existing.responseCode === null) {
      // Reversed before it arrived: refused now, and the refusal is its answer from now on.
      existing.responseCode = '12';
      existing.answeredAt = this.#ctx.now;
      this.#update(existing);
      return decline('12');
    }
    const same =
      existing.operation === request.operation &&
      existing.amountMinor === request.amountMinor &&
      existing.cardId === (card?.row.id ?? null) &&
      existing.terminalId === request.terminalId;
    if (!same) return decline('94');
    if (existing.responseCode === '00') {
      if (existing.status === 'reversed') return decline('12');
      assert(existing.authCode !== null, 'an approved authorization has an auth code');
      return existing.operation === 'balance' && card !== undefined
        ? { status: 'approved', authCode: existing.authCode, balanceMinor: availableMinor(card.row) }
        : { status: 'approved', authCode: existing.authCode };
    }
    return decline(existing.responseCode as DeclineCode);
  }

  #decide(request: NetworkRequest, card: WorkingCard, row: AuthorizationRow): IssuerOutcome {
    const c = card.row;
    const ctx = this.#ctx;
    const operation = request.operation;
    if (isNewDebit(operation)) {
      if (c.status === 'lost') return decline('41');
      if (c.status === 'stolen') return decline('43');
      const thisMonth = yymmOf(ctx.businessDate);
      const presented = request.card.expiry;
      if (c.expiry < thisMonth || (presented !== undefined && presented < thisMonth)) return decline('54');
    }
    if (request.pinBlockUnderZpk !== undefined) {
      const pin = this.#checkPin(request, card);
      if (pin !== undefined) return pin;
    }
    if (operation !== 'balance') {
      if (request.amountMinor <= 0n || request.currencyNumeric !== c.currencyNumeric) return decline('13');
    }
    if (
      (operation === 'sale' || operation === 'preauth' || operation === 'completion') &&
      request.amountMinor > c.perTransactionLimitMinor
    ) {
      return decline('61');
    }
    const amount = request.amountMinor;
    switch (operation) {
      case 'balance':
        return { status: 'approved', authCode: ctx.nextAuthCode(), balanceMinor: availableMinor(c) };
      case 'sale':
        if (availableMinor(c) < amount) return decline('51');
        spend(card, amount);
        return this.#approve();
      case 'preauth':
        if (availableMinor(c) < amount) return decline('51');
        hold(card, amount);
        row.holdMinor = amount;
        return this.#approve();
      case 'void':
      case 'completion_void': {
        // A void of a sale or of a completion gives its amount back, once, in full.
        const original = this.#original(request, c, [operation === 'void' ? 'sale' : 'completion']);
        if (original === undefined) return decline('25');
        if (original.status !== 'approved') return decline('12');
        if (amount !== original.amountMinor) return decline('64');
        spend(card, -original.amountMinor);
        this.#setStatus(original, 'voided', row);
        return this.#approve();
      }
      case 'refund': {
        const original = this.#original(request, c, ['sale', 'completion']);
        if (original === undefined) return decline('25');
        if (original.status === 'voided') return decline('12');
        const left = original.amountMinor - original.refundedMinor;
        if (amount > left || (original.status !== 'approved' && original.status !== 'refunded_partial')) {
          return decline('64');
        }
        spend(card, -amount);
        original.refundedMinor += amount;
        this.#setStatus(
          original,
          original.refundedMinor === original.amountMinor ? 'refunded' : 'refunded_partial',
          row,
        );
        return this.#approve();
      }
      case 'preauth_void': {
        const original = this.#original(request, c, ['preauth']);
        if (original === undefined) return decline('25');
        if (original.status !== 'approved') return decline('12');
        if (amount !== original.amountMinor) return decline('64');
        hold(card, -original.holdMinor);
        row.releasedMinor = original.holdMinor;
        original.holdMinor = 0n;
        this.#setStatus(original, 'voided', row);
        return this.#approve();
      }
      case 'completion': {
        const original = this.#original(request, c, ['preauth']);
        if (original === undefined) return decline('25');
        if (original.status !== 'approved') return decline('12');
        const tolerance = BigInt(ctx.completionTolerancePercent);
        if (amount * 100n > original.amountMinor * (100n + tolerance)) return decline('64');
        const beyondHold = amount - original.holdMinor;
        if (beyondHold > 0n && availableMinor(c) < beyondHold) return decline('51');
        hold(card, -original.holdMinor);
        spend(card, amount);
        row.releasedMinor = original.holdMinor;
        original.holdMinor = 0n;
        this.#setStatus(original, 'completed', row);
        return this.#approve();
      }
      default:
        return assertNever(operation, 'operation');
    }
  }

  #approve(): IssuerOutcome {
    return { status: 'approved', authCode: this.#ctx.nextAuthCode() };
  }

  #setStatus(original: AuthorizationRow, status: AuthorizationStatus, row: AuthorizationRow): void {
    original.status = status;
    row.originalId = original.id;
    this.#update(original);
  }

  /** The approved-once original of a void, refund or completion, on this card, of one of these operations. */
  #original(
    request: NetworkRequest,
    card: CardRow,
    operations: readonly NetworkOperation[],
  ): AuthorizationRow | undefined {
    const reference = request.original;
    if (reference === undefined) return undefined;
    const original = this.#byRef.get(referenceKey(request.acquirerCode, reference.stan, reference.rrn));
    if (
      original === undefined ||
      original.cardId !== card.id ||
      !operations.includes(original.operation) ||
      original.responseCode !== '00' ||
      original.status === 'reversed' ||
      original.status === 'declined'
    ) {
      return undefined;
    }
    return original;
  }

  /**
   * The PIN check. Real issuers count wrong PINs in a row: a right PIN resets the count while the card
   * is not blocked; the third wrong one blocks PIN transactions (75) until the count expires, here at
   * the end of the business day, and a right PIN during the block still gets 75 and resets nothing.
   */
  #checkPin(request: NetworkRequest, card: WorkingCard): IssuerOutcome | undefined {
    const c = card.row;
    const today = this.#ctx.businessDate;
    const wrongToday = c.pinTriesDate === today ? c.pinWrongCount : 0;
    if (wrongToday >= PIN_TRIES_MAX) return decline('75');
    const block = request.pinBlockUnderZpk;
    assert(block !== undefined, 'a PIN block to check');
    let right: boolean;
    try {
      right = verifyPin(block.expose(), request.card.pan, this.#ctx.zpk, { pvk: this.#ctx.pvk, pvv: c.pvv });
    } catch (error) {
      if (isTillpointError(error)) return decline('99');
      throw error;
    }
    if (!right) {
      c.pinTriesDate = today;
      c.pinWrongCount = wrongToday + 1;
      card.touched = true;
      return decline(c.pinWrongCount >= PIN_TRIES_MAX ? '75' : '55');
    }
    if (c.pinWrongCount !== 0) {
      c.pinTriesDate = today;
      c.pinWrongCount = 0;
      card.touched = true;
    }
    return undefined;
  }

  /** Decides a reversal: undoes what the original did, or remembers it; always acknowledged. */
  decideReversal(reversal: NetworkReversal, panHash: string): ReversalEffect {
    const request = reversal.original;
    const card = this.#cards.get(panHash);
    const ref = referenceKey(request.acquirerCode, request.stan, request.rrn);
    const existing = this.#byRef.get(ref);
    let effect: ReversalEffect;
    let target: AuthorizationRow;
    if (existing === undefined) {
      target = {
        ...this.#newRow(request, card?.row.id ?? null, decline('12')),
        responseCode: null,
        status: 'reversed',
        answeredAt: null,
      };
      this.#insert(target);
      effect = 'remembered';
    } else {
      target = existing;
      if (existing.status === 'reversed') effect = 'already_reversed';
      else if (card === undefined || existing.cardId !== card.row.id) effect = 'nothing_to_reverse';
      else effect = this.#undo(existing, card);
    }
    this.reversals.push({
      id: newId(this.#ctx.now.getTime()),
      authorizationId: target.id,
      attempt: reversal.attempt,
      reason: reversal.reason,
      effect,
    });
    return effect;
  }

  /** Undoes an answered message on its card. */
  #undo(row: AuthorizationRow, card: WorkingCard): ReversalEffect {
    if (row.status === 'declined') return 'nothing_to_reverse';
    const original = row.originalId === null ? undefined : this.#byId.get(row.originalId);
    switch (row.operation) {
      case 'balance':
        break;
      case 'sale':
        if (row.status !== 'approved' && row.status !== 'refunded_partial') return 'nothing_to_reverse';
        spend(card, -(row.amountMinor - row.refundedMinor));
        break;
      case 'preauth':
        if (row.status !== 'approved') return 'nothing_to_reverse';
        hold(card, -row.holdMinor);
        row.holdMinor = 0n;
        break;
      case 'void':
        assert(original !== undefined, 'an approved void has its sale loaded');
        spend(card, original.amountMinor);
        original.status = 'approved';
        this.#update(original);
        break;
      case 'refund':
        assert(original !== undefined, 'an approved refund has its original loaded');
        spend(card, row.amountMinor);
        original.refundedMinor -= row.amountMinor;
        original.status = original.refundedMinor === 0n ? 'approved' : 'refunded_partial';
        this.#update(original);
        break;
      case 'preauth_void':
      case 'completion': {
        assert(original !== undefined, 'an approved pre-auth void or completion has its pre-auth loaded');
        if (row.operation === 'completion') {
          if (row.status !== 'approved' && row.status !== 'refunded_partial') return 'nothing_to_reverse';
          spend(card, -(row.amountMinor - row.refundedMinor));
        }
        hold(card, row.releasedMinor);
        original.holdMinor = row.releasedMinor;
        original.status = 'approved';
        this.#update(original);
        break;
      }
      case 'completion_void':
        assert(original !== undefined, 'an approved completion void has its completion loaded');
        spend(card, original.amountMinor);
        original.status = 'approved';
        this.#update(original);
        break;
      default:
        return assertNever(row.operation, 'operation');
    }
    row.status = 'reversed';
    this.#update(row);
    return 'reversed';
  }
}

/** Takes money from the card (a negative amount gives it back). */
function spend(card: WorkingCard, amountMinor: bigint): void {
  if (card.row.kind === 'debit') card.row.balanceMinor -= amountMinor;
  else card.row.usedMinor += amountMinor;
  card.touched = true;
}

/** Holds money on the card (a negative amount releases it). */
function hold(card: WorkingCard, amountMinor: bigint): void {
  card.row.heldMinor += amountMinor;
  assert(card.row.heldMinor >= 0n, 'holds never go below zero');
  card.touched = true;
}
