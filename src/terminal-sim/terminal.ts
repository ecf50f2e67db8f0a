// A terminal: the state it keeps (state.ts), a link to the host (link.ts), and the transactions of
// the profile. Each transaction sends one request and waits for its reply with a timeout; the reply
// must have the TPDU swapped, the request's response MTI, the same 11, 41 and 42, and a good MAC where
// the profile has one. Anything else on the link is discarded and the wait goes on.
//
// A reversible request (sale, void, pre-auth, completion and their voids) is recorded as the pending
// reversal before it is sent, and cleared when a good reply comes. A timeout leaves it with reason 98,
// a reply whose MAC fails with A0, an approved reply the terminal cannot use with 06; it goes out
// (0400) before the next transaction, as real terminals do, and is cleared when the host answers it.
// Header processing requirement 3, and replies 77 and A0, make the terminal sign in again before its
// next transaction.

import { performance } from 'node:perf_hooks';
import {
  decodeSettlementTotals,
  type Header,
  isIso8583Error,
  Message,
  parsePosFrame,
  responseMti,
  type SettlementTotals,
  type Tpdu,
  unpack,
} from '../protocols/iso8583/index.ts';
import { type Clock, systemClock } from '../shared/clock.ts';
import { maskPan } from '../shared/redact.ts';
import { Secret } from '../shared/secret.ts';
import { TerminalError } from './errors.ts';
import type { CardData, JournalEntry, OriginalRef } from './journal.ts';
import {
  encryptPin,
  importClearKey,
  type KeyHandle,
  MAC_BYTES,
  type MacAlgorithm,
  parseWorkingKeysField62,
  toHex,
  verifyMac,
  type WorkingKeys,
} from './keys.ts';
import { DEFAULT_ENDPOINT, type Endpoint, type Link, TcpLink } from './link.ts';
import {
  buildBatchEnd,
  buildBatchUpload,
  buildFinancialRequest,
  buildNetworkManagement,
  buildReversal,
  buildSettlement,
  buildSignIn,
  DEFAULT_HEADER,
  DEFAULT_TPDU,
  type Envelope,
  frameRequest,
  type NetworkKind,
  type PosMessage,
  type PosSpec,
  reversalFieldsOf,
  specFor,
  type TerminalIdentity,
} from './messages.ts';
import { decodeParameters } from './params.ts';
import {
  demoMerchantName,
  FINANCIAL,
  type FinancialType,
  PARAM_TAG_MERCHANT_NAME,
  type ReversalReason,
  responseText,
  SIGN_IN_AGAIN_CODES,
  type SignInKeySet,
  UNMACED_RESPONSE_CODES,
} from './protocol.ts';
import {
  type CardInput,
  type Common,
  describeOutcome,
  type NetworkResult,
  type Outcome,
  type ParamsResult,
  type PreAuthRefOptions,
  parseBalance,
  type RefundOptions,
  type ReversalResult,
  type SettlementResult,
  type SignInResult,
  type TransactionResult,
  type VoidOptions,
} from './results.ts';
import {
  formatTrace,
  memoryStore,
  nextBatchNo,
  nextTrace,
  type Parameter,
  type StateStore,
  type TerminalState,
} from './state.ts';

export const DEFAULT_TIMEOUT_MS = 60_000;
const BATCH_UPLOAD_DETAILS_PER_MESSAGE = 8;

export interface TerminalOptions {
  readonly state: TerminalState;
  /** Where the state is written after each step (default: nowhere, memory only). */
  readonly store?: StateStore;
  /** The host (default 127.0.0.1:8583); ignored when `link` is given. */
  readonly endpoint?: Endpoint;
  readonly link?: Link;
  /** Terminal → host TPDU (default 60 0003 0000); the host answers with the addresses swapped. */
  readonly tpdu?: Tpdu;
  readonly header?: Header;
  /** How long to wait for each reply (default 60 s). */
  readonly timeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly clock?: Clock;
  /** Sign in again on its own when the host asks (default true); false: the next transaction throws `not_signed_in`. */
  readonly autoSignIn?: boolean;
  /**
   * Keep each card's encrypted PIN block for the session (the load generator): a format 0 block
   * depends only on PIN, PAN and PIN key, so it is computed once per card and sign-in.
   */
  readonly cachePinBlocks?: boolean;
}

type Exchange =
  | {
      readonly kind: 'reply';
      readonly reply: PosMessage;
      readonly header: Header;
      readonly latencyUs: number;
    }
  | { readonly kind: 'mac_failed'; readonly reply: PosMessage; readonly latencyUs: number }
  | { readonly kind: 'no_reply'; readonly latencyUs: number };

interface Prepared {
  readonly reversal: ReversalResult | null;
  readonly signedInAgain: boolean;
}

const NOTHING_PREPARED: Prepared = { reversal: null, signedInAgain: false };

function keyAlgorithmOf(state: TerminalState): 'sm4' | '3des-2key' {
  return state.algorithm === 'sm4' ? 'sm4' : '3des-2key';
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

export class Terminal {
  readonly state: TerminalState;
  readonly spec: PosSpec;
  readonly #store: StateStore;
  readonly #link: Link;
  readonly #envelope: Envelope;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #autoSignIn: boolean;
  readonly #pinBlockCache: Map<string, Buffer> | undefined;
  #tmk: KeyHandle | undefined;
  #keys: WorkingKeys | undefined;
  /** Frames read that answered nothing asked (late or foreign replies), since the terminal started. */
  discarded = 0;

  constructor(options: TerminalOptions) {
    this.state = options.state;
    this.spec = specFor(options.state.algorithm);
    this.#store = options.store ?? memoryStore;
    this.#link = options.link ?? new TcpLink(options.endpoint ?? DEFAULT_ENDPOINT, options);
    this.#envelope = { tpdu: options.tpdu ?? DEFAULT_TPDU, header: options.header ?? DEFAULT_HEADER };
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#clock = options.clock ?? systemClock;
    this.#autoSignIn = options.autoSignIn ?? true;
    this.#pinBlockCache = options.cachePinBlocks === true ? new Map() : undefined;
  }

  get identity(): TerminalIdentity {
    return this.state;
  }

  get signedIn(): boolean {
    return this.state.workingKeys !== null;
  }

  /** Closes the link and destroys the key handles. */
  close(): void {
    this.#link.close();
    this.#dropKeys();
    this.#tmk?.destroy();
    this.#tmk = undefined;
  }

  // ---- keys ------------------------------------------------------------------------------------

  #tmkHandle(): KeyHandle {
    this.#tmk ??= importClearKey(Buffer.from(this.state.tmkHex, 'hex'), {
      algorithm: keyAlgorithmOf(this.state),
      usage: 'tmk',
    });
    return this.#tmk;
  }

  /** The working keys, decrypted once from the stored field 62. */
  #workingKeys(): WorkingKeys {
    if (this.#keys !== undefined) return this.#keys;
    const record = this.state.workingKeys;
    if (record === null) {
      throw new TerminalError(
        'not_signed_in',
        `terminal ${this.state.terminalId} is not signed in: sign in first (tillpoint terminal sign-in --tid ${this.state.terminalId})`,
      );
    }
    try {
      this.#keys = parseWorkingKeysField62(Buffer.from(record.field62Hex, 'hex'), this.#tmkHandle());
    } catch (error) {
      throw new TerminalError(
        'state_invalid',
        `the stored working keys of terminal ${this.state.terminalId} do not decrypt under its TMK (${(error as Error).message}): sign in again`,
      );
    }
    return this.#keys;
  }

  #dropKeys(): void {
    if (this.#keys !== undefined) {
      this.#keys.pin.destroy();
      this.#keys.mac.destroy();
      this.#keys.track?.destroy();
    }
    this.#keys = undefined;
    this.#pinBlockCache?.clear();
  }

  #mac(): { key: KeyHandle; algorithm: MacAlgorithm } {
    return { key: this.#workingKeys().mac, algorithm: this.state.macAlgorithm };
  }

  #pinBlock(pan: string, pin: Secret<string>): Buffer {
    const cache = this.#pinBlockCache;
    if (cache === undefined) return encryptPin(pin, pan, this.#workingKeys().pin);
    const key = `${pan}:${pin.expose()}`;
    let block = cache.get(key);
    if (block === undefined) {
      block = encryptPin(pin, pan, this.#workingKeys().pin);
      cache.set(key, block);
    }
    return block;
  }

  // ---- bookkeeping -----------------------------------------------------------------------------

  #save(): void {
    this.#store.save(this.state);
  }

  #takeTrace(): string {
    this.state.trace = nextTrace(this.state.trace);
    return formatTrace(this.state.trace);
  }

  #management(): { identity: TerminalIdentity; trace: string; batchNo: string } {
    return { identity: this.state, trace: this.#takeTrace(), batchNo: this.state.batchNo };
  }

  /** MMDD, hhmmss and year of the reply (13, 12), else of the terminal's clock. */
  #timestamp(reply: PosMessage | undefined): { year: number; date: string; time: string } {
    const now = this.#clock.now();
    const localDate = `${pad2(now.getMonth() + 1)}${pad2(now.getDate())}`;
    const localTime = `${pad2(now.getHours())}${pad2(now.getMinutes())}${pad2(now.getSeconds())}`;
    const date = reply?.get(13) ?? localDate;
    const time = reply?.get(12) ?? localTime;
    let year = now.getFullYear();
    const month = Number(date.slice(0, 2));
    if (month - (now.getMonth() + 1) > 6) year--; // a December date seen in January
    return { year, date, time };
  }

  // ---- the exchange ----------------------------------------------------------------------------

  /** Sends a request and waits for its reply (see the file comment for what a reply must be). */
  async #exchange(request: PosMessage, withMac: boolean): Promise<Exchange> {
    const frame = frameRequest(this.#envelope, request, withMac ? this.#mac() : null);
    const started = performance.now();
    await this.#link.send(frame);
    const deadline = started + this.#timeoutMs;
    const expectedMti = responseMti(request.mti);
    for (;;) {
      const body = await this.#link.next(deadline);
      const latencyUs = Math.round((performance.now() - started) * 1000);
      if (body === null) return { kind: 'no_reply', latencyUs };
      const checked = this.#check(body, request, expectedMti, withMac, latencyUs);
      if (checked !== undefined) return checked;
      this.discarded++;
    }
  }

  #check(
    body: Uint8Array,
    request: PosMessage,
    expectedMti: string,
    withMac: boolean,
    latencyUs: number,
  ): Exchange | undefined {
    let reply: PosMessage;
    let header: Header;
    let messageBytes: Uint8Array;
    try {
      const frame = parsePosFrame(body);
      const { tpdu } = frame;
      if (
        tpdu.destination !== this.#envelope.tpdu.source ||
        tpdu.source !== this.#envelope.tpdu.destination
      ) {
        return undefined;
      }
      header = frame.header;
      messageBytes = frame.message;
      reply = unpack(this.spec, messageBytes);
    } catch (error) {
      if (isIso8583Error(error) || (error instanceof Error && error.name === 'FrameError')) return undefined;
      throw error;
    }
    if (
      reply.mti !== expectedMti ||
      reply.get(11) !== request.get(11) ||
      reply.get(41) !== request.get(41) ||
      reply.get(42) !== request.get(42)
    ) {
      return undefined;
    }
    const code = reply.get(39);
    if (withMac && (code === undefined || !UNMACED_RESPONSE_CODES.has(code))) {
      const mac = reply.get(64);
      const end = messageBytes.length - MAC_BYTES;
      const { key, algorithm } = this.#mac();
      const data = Buffer.from(messageBytes.buffer, messageBytes.byteOffset, end);
      if (mac === undefined || !verifyMac(data, mac, key, algorithm)) {
        return { kind: 'mac_failed', reply, latencyUs };
      }
    }
    return { kind: 'reply', reply, header, latencyUs };
  }

  /** After a reply: the host may ask for a new sign-in (header, or 77 / A0). */
  #noteSignInRequest(exchange: Exchange): void {
    if (exchange.kind !== 'reply') return;
    const code = exchange.reply.get(39);
    if (
      exchange.header.processingRequirement === 3 ||
      (code !== undefined && SIGN_IN_AGAIN_CODES.has(code))
    ) {
      this.state.signInRequired = true;
    }
  }

  /**
   * Before a MAC'd transaction: sign in again if the host asked (and autoSignIn), then send the
   * pending reversal. Throws when the reversal is not answered: the transaction must wait.
   */
  async #prepare(): Promise<Prepared> {
    let signedInAgain = false;
    const signInAgain = async () => {
      if (!this.#autoSignIn) {
        throw new TerminalError(
          'not_signed_in',
          `the host asked terminal ${this.state.terminalId} to sign in again: sign in first`,
        );
      }
      const result = await this.signIn({
        operator: this.state.operator,
        keySet: this.state.workingKeys?.keySet ?? '003',
      });
      if (!result.approved) {
        throw new TerminalError(
          'sign_in_failed',
          `the host asked terminal ${this.state.terminalId} to sign in again, and the sign-in failed: ${result.responseText}`,
        );
      }
      signedInAgain = true;
    };
    if (this.state.signInRequired) await signInAgain();
    this.#workingKeys();
    if (this.state.pendingAdvice !== null) await this.#sendPendingAdvice();
    if (this.state.pendingReversal === null)
      return signedInAgain ? { reversal: null, signedInAgain } : NOTHING_PREPARED;
    let reversal = await this.sendPendingReversal();
    if (!reversal.cleared && this.state.signInRequired) {
      await signInAgain();
      reversal = await this.sendPendingReversal();
    }
    if (!reversal.cleared) {
      throw new TerminalError(
        'reversal_unanswered',
        `the pending reversal of trace ${reversal.trace} (${reversal.type}) ${reversal.responseCode === null ? `got no valid reply (${reversal.outcome})` : `was answered ${responseText(reversal.responseCode)}`}; it goes out again before the next transaction`,
      );
    }
    return { reversal, signedInAgain };
  }

  /**
   * Sends the pending advice (a refund left unanswered) again: the same message, with a new MAC. It is
   * cleared when the host answers it (but with 77, A0 or 97); an approval goes into the journal.
   * Throws when it is still unanswered: the next transaction must wait.
   */
  async #sendPendingAdvice(): Promise<void> {
    const pending = this.state.pendingAdvice!;
    const request = Message.fromFields(this.spec, pending.message) as PosMessage;
    const exchange = await this.#exchange(request, true);
    this.#noteSignInRequest(exchange);
    pending.attempts++;
    const code = exchange.kind === 'reply' ? (exchange.reply.get(39) ?? null) : null;
    if (code === null || code === '97' || SIGN_IN_AGAIN_CODES.has(code)) {
      this.#save();
      throw new TerminalError(
        'reversal_unanswered',
        `the refund of trace ${pending.message.fields['11'] ?? ''} is still unanswered (${code === null ? exchange.kind : responseText(code)}); it goes out again before the next transaction`,
      );
    }
    this.state.pendingAdvice = null;
    if (code === '00' && exchange.kind === 'reply') {
      const reply = exchange.reply;
      const original = pending.original;
      this.#record('refund', {
        trace: pending.message.fields['11'] ?? '',
        amountMinor: BigInt(pending.amountMinor),
        rrn: reply.get(37) ?? null,
        authCode: reply.get(38) ?? null,
        ...this.#timestamp(reply),
        card: pending.card,
        cardOrganization: reply.get('63.1') ?? null,
        original,
        target: original?.rrn ? (this.state.journal.findByRrn(original.rrn, 'sale') ?? null) : null,
      });
    }
    this.#save();
  }

  /**
   * Sends the pending reversal now (0400, the original's fields, 39 = its reason). It is cleared
   * when the host answers it, except with 77, A0 or 97 (the host could not act on it).
   */
  async sendPendingReversal(): Promise<ReversalResult> {
    const pending = this.state.pendingReversal;
    if (pending === null) throw new TerminalError('invalid_input', 'there is no pending reversal');
    const request = buildReversal(this.spec, pending, pending.reason);
    const trace = pending.fields['11'] ?? '';
    const exchange = await this.#exchange(request, true);
    this.#noteSignInRequest(exchange);
    pending.attempts++;
    let result: ReversalResult;
    if (exchange.kind === 'reply') {
      const code = exchange.reply.get(39) ?? null;
      const cleared = code !== null && code !== '97' && !SIGN_IN_AGAIN_CODES.has(code);
      if (cleared) this.state.pendingReversal = null;
      result = {
        type: pending.type,
        trace,
        reason: pending.reason,
        outcome: code === '00' ? 'approved' : 'declined',
        responseCode: code,
        cleared,
      };
    } else {
      result = {
        type: pending.type,
        trace,
        reason: pending.reason,
        outcome: exchange.kind,
        responseCode: null,
        cleared: false,
      };
    }
    this.#save();
    return result;
  }

  // ---- network management ---------------------------------------------------------------------

  #common(
    exchange: Exchange | null,
    trace: string,
    prepared: Prepared,
  ): Omit<Common, 'outcome' | 'approved' | 'responseCode' | 'responseText'> & {
    outcome: Outcome;
    approved: boolean;
    responseCode: string | null;
    responseText: string;
  } {
    let outcome: Outcome;
    let responseCode: string | null = null;
    if (exchange === null) outcome = 'no_reply';
    else if (exchange.kind === 'reply') {
      responseCode = exchange.reply.get(39) ?? null;
      outcome = responseCode === '00' ? 'approved' : 'declined';
    } else {
      outcome = exchange.kind;
      responseCode = exchange.kind === 'mac_failed' ? (exchange.reply.get(39) ?? null) : null;
    }
    return {
      outcome,
      approved: outcome === 'approved',
      responseCode,
      responseText: describeOutcome(outcome, responseCode),
      terminalId: this.state.terminalId,
      merchantId: this.state.merchantId,
      batchNo: this.state.batchNo,
      trace,
      latencyUs: exchange?.latencyUs ?? null,
      reversal: prepared.reversal,
      signedInAgain: prepared.signedInAgain,
      signInRequired: this.state.signInRequired,
    };
  }

  /**
   * 签到: 0800 with 60.3 003 (PIN + MAC keys) or 004 (+ track key) and the operator in 63. The
   * reply's field 62 is decrypted under the TMK and each key checked against its check value; the
   * batch of 60.2 is adopted.
   */
  async signIn(options: { operator?: string | null; keySet?: SignInKeySet } = {}): Promise<SignInResult> {
    const operator = options.operator === undefined ? this.state.operator : options.operator;
    const keySet = options.keySet ?? '003';
    const base = this.#management();
    const request = buildSignIn(this.spec, { ...base, keySet, operator });
    const exchange = await this.#exchange(request, false);
    const common = this.#common(exchange, base.trace, NOTHING_PREPARED);
    let batchChanged = false;
    let journalDropped = 0;
    let keyCheckValues: SignInResult['keyCheckValues'] = null;
    if (exchange.kind === 'reply' && common.approved) {
      const field62 = exchange.reply.get(62);
      if (field62 === undefined) {
        this.#save();
        throw new TerminalError(
          'sign_in_failed',
          'the sign-in reply is approved but carries no keys (field 62)',
        );
      }
      const expectedBytes = keySet === '004' ? 60 : 40;
      if (field62.length !== expectedBytes) {
        this.#save();
        throw new TerminalError(
          'sign_in_failed',
          `the sign-in reply's field 62 is ${field62.length} bytes; 60.3 ${keySet} expects ${expectedBytes}`,
        );
      }
      let keys: WorkingKeys;
      try {
        keys = parseWorkingKeysField62(Buffer.from(field62), this.#tmkHandle());
      } catch (error) {
        this.#save();
        throw new TerminalError(
          'sign_in_failed',
          `the sign-in keys do not check out: ${(error as Error).message}`,
        );
      }
      this.#dropKeys();
      this.#keys = keys;
      keyCheckValues = {
        pin: keys.pin.checkValue,
        mac: keys.mac.checkValue,
        track: keys.track?.checkValue ?? null,
      };
      this.state.workingKeys = {
        keySet,
        field62Hex: toHex(field62),
        pinCheckValue: keyCheckValues.pin,
        macCheckValue: keyCheckValues.mac,
        trackCheckValue: keyCheckValues.track,
        signedInAt: this.#clock.now().toISOString(),
      };
      this.state.operator = operator;
      this.state.signInRequired = false;
      const hostBatch = exchange.reply.get('60.2');
      if (
        hostBatch !== undefined &&
        /^\d{6}$/.test(hostBatch) &&
        hostBatch !== '000000' &&
        hostBatch !== this.state.batchNo
      ) {
        // The host's batch wins; what the journal held of another batch is gone (open pre-auths stay).
        batchChanged = true;
        this.state.batchNo = hostBatch;
        journalDropped = this.state.journal.retain(
          (entry) => entry.batchNo === hostBatch || (entry.type === 'preauth' && entry.status === 'open'),
        );
      }
    }
    this.#save();
    return {
      ...common,
      batchNo: this.state.batchNo,
      type: 'sign_in',
      operator,
      batchChanged,
      journalDropped,
      keyCheckValues,
    };
  }

  async #network(kind: NetworkKind): Promise<{ exchange: Exchange; trace: string }> {
    const base = this.#management();
    const request = buildNetworkManagement(this.spec, kind, base);
    const exchange = await this.#exchange(request, false);
    this.#noteSignInRequest(exchange);
    return { exchange, trace: base.trace };
  }

  /** 签退: 0820 60.3 002. The working keys are dropped when the host approves. */
  async signOut(): Promise<NetworkResult> {
    let reversal: ReversalResult | null = null;
    if (this.state.pendingReversal !== null && this.signedIn && !this.state.signInRequired) {
      // A terminal sends its reversal before it signs out; a failure leaves it for the next sign-in.
      try {
        reversal = await this.sendPendingReversal();
      } catch (error) {
        if (!(error instanceof TerminalError)) throw error;
      }
    }
    const { exchange, trace } = await this.#network('sign_out');
    const common = this.#common(exchange, trace, { reversal, signedInAgain: false });
    if (common.approved) {
      this.state.workingKeys = null;
      this.state.signInRequired = false;
      this.#dropKeys();
    }
    this.#save();
    return { ...common, type: 'sign_out' };
  }

  /** Echo test: 0820 60.3 301. */
  async echo(): Promise<NetworkResult> {
    const { exchange, trace } = await this.#network('echo');
    this.#save();
    return { ...this.#common(exchange, trace, NOTHING_PREPARED), type: 'echo' };
  }

  /** Parameter download: 0800 60.3 360; field 62 of the reply is decoded and kept. */
  async downloadParameters(): Promise<ParamsResult> {
    const { exchange, trace } = await this.#network('params');
    const common = this.#common(exchange, trace, NOTHING_PREPARED);
    let parameters: Parameter[] = [];
    if (exchange.kind === 'reply' && common.approved) {
      const field62 = exchange.reply.get(62);
      parameters = field62 === undefined ? [] : decodeParameters(field62);
      this.state.parameters = parameters;
      const name = parameters.find((parameter) => parameter.tag === PARAM_TAG_MERCHANT_NAME);
      if (name !== undefined) this.state.merchantName = name.value.trim();
    }
    this.#save();
    return { ...common, type: 'params', parameters, merchantName: this.merchantName };
  }

  /** The merchant name for slips: from the parameter download, else the demo fixtures' name. */
  get merchantName(): string | null {
    return merchantNameOf(this.state);
  }

  // ---- financial transactions -------------------------------------------------------------------

  async #financial(
    type: FinancialType,
    input: {
      readonly amountMinor: bigint | null;
      readonly card: CardData;
      readonly pin: Secret<string> | null;
      readonly original: OriginalRef | null;
      readonly target: JournalEntry | null;
    },
  ): Promise<TransactionResult> {
    const profile = FINANCIAL[type];
    if (profile.hasAmount && (input.amountMinor === null || input.amountMinor <= 0n)) {
      throw new TerminalError(
        'invalid_input',
        `a ${profile.nameEn.toLowerCase()} needs an amount above zero`,
      );
    }
    const prepared = await this.#prepare();
    const trace = this.#takeTrace();
    const pinBlock = input.pin === null ? null : this.#pinBlock(input.card.pan, input.pin);
    const request = buildFinancialRequest(this.spec, {
      type,
      identity: this.state,
      trace,
      batchNo: this.state.batchNo,
      amountMinor: input.amountMinor,
      card: input.card,
      pinBlock,
      original: input.original,
      operator: this.state.operator,
    });
    if (profile.reversible) {
      this.state.pendingReversal = {
        type,
        fields: reversalFieldsOf(request),
        reason: '98',
        attempts: 0,
        createdAt: this.#clock.now().toISOString(),
      };
    }
    if (type === 'refund') {
      const exposed = request.exposeFields();
      const { '64': _mac, ...fields } = exposed.fields;
      this.state.pendingAdvice = {
        message: { mti: exposed.mti, fields },
        amountMinor: String(input.amountMinor ?? 0n),
        card: input.card,
        original: input.original,
        attempts: 0,
        createdAt: this.#clock.now().toISOString(),
      };
    }
    this.#save();
    let exchange: Exchange;
    try {
      exchange = await this.#exchange(request, true);
    } catch (error) {
      // Nothing left the terminal (the host could not be reached): nothing to reverse or repeat.
      if (profile.reversible) this.state.pendingReversal = null;
      if (type === 'refund') this.state.pendingAdvice = null;
      this.#save();
      throw error;
    }
    this.#noteSignInRequest(exchange);
    if (type === 'refund' && exchange.kind === 'reply') {
      const code = exchange.reply.get(39);
      // Answered: the advice is done, unless the host could not act on it (77, A0, 97).
      if (code !== undefined && code !== '97' && !SIGN_IN_AGAIN_CODES.has(code))
        this.state.pendingAdvice = null;
    }
    const common = this.#common(exchange, trace, prepared);
    let outcome = common.outcome;
    let reversalPending: ReversalReason | null = null;
    if (profile.reversible) {
      const pending = this.state.pendingReversal!;
      if (exchange.kind === 'no_reply') reversalPending = '98';
      else if (exchange.kind === 'mac_failed') reversalPending = pending.reason = 'A0';
      else if (
        outcome === 'approved' &&
        profile.hasAmount &&
        exchange.reply.has(4) &&
        exchange.reply.get(4) !== request.get(4)
      ) {
        reversalPending = pending.reason = '06';
        outcome = 'bad_reply';
      } else this.state.pendingReversal = null;
    }
    const reply = exchange.kind === 'no_reply' ? undefined : exchange.reply;
    const when = this.#timestamp(exchange.kind === 'reply' ? reply : undefined);
    const rrn = reply?.get(37) ?? input.original?.rrn ?? null;
    const authCode = reply?.get(38) ?? null;
    const cardOrganization = reply?.get('63.1') ?? null;
    if (outcome === 'approved') {
      this.#record(type, {
        trace,
        amountMinor: input.amountMinor ?? 0n,
        rrn: reply?.get(37) ?? null,
        authCode,
        ...when,
        card: input.card,
        cardOrganization,
        original: input.original,
        target: input.target,
      });
    }
    this.#save();
    return {
      ...common,
      outcome,
      approved: outcome === 'approved',
      responseText: describeOutcome(outcome, common.responseCode),
      signInRequired: this.state.signInRequired,
      type,
      nameZh: profile.nameZh,
      nameEn: profile.nameEn,
      merchantName: this.merchantName,
      operator: this.state.operator,
      amountMinor: profile.hasAmount ? input.amountMinor : null,
      rrn,
      authCode,
      ...when,
      cardMasked: maskPan(input.card.pan),
      cardEntry: input.card.entry,
      cardOrganization,
      original: input.original,
      balance: type === 'balance' && outcome === 'approved' ? parseBalance(reply?.get(54)) : null,
      reversalPending,
    };
  }

  #record(
    type: FinancialType,
    r: {
      trace: string;
      amountMinor: bigint;
      rrn: string | null;
      authCode: string | null;
      year: number;
      date: string;
      time: string;
      card: CardData;
      cardOrganization: string | null;
      original: OriginalRef | null;
      target: JournalEntry | null;
    },
  ): void {
    if (type === 'balance') return;
    const target = r.target;
    if (target !== null) {
      if (type === 'void' || type === 'preauth_void' || type === 'completion_void') target.status = 'voided';
      else if (type === 'completion') target.status = 'completed';
      else if (type === 'refund') target.refundedMinor += r.amountMinor;
    }
    this.state.journal.add({
      type,
      batchNo: this.state.batchNo,
      trace: r.trace,
      amountMinor: r.amountMinor,
      rrn: r.rrn,
      authCode: r.authCode,
      date: r.date,
      time: r.time,
      year: r.year,
      card: r.card,
      cardOrganization: r.cardOrganization,
      operator: this.state.operator,
      original: r.original,
      status: 'open',
      refundedMinor: 0n,
    });
  }

  /** 余额查询: 0200 310000; the reply's 54 is parsed into `balance`. */
  balance(card: CardInput): Promise<TransactionResult> {
    return this.#financial('balance', {
      amountMinor: null,
      card,
      pin: card.pin ?? null,
      original: null,
      target: null,
    });
  }

  /** 消费: 0200 000000. */
  sale(amountMinor: bigint, card: CardInput): Promise<TransactionResult> {
    return this.#financial('sale', {
      amountMinor,
      card,
      pin: card.pin ?? null,
      original: null,
      target: null,
    });
  }

  /** 预授权: 0100 030000, 25 = 06. */
  preAuth(amountMinor: bigint, card: CardInput): Promise<TransactionResult> {
    return this.#financial('preauth', {
      amountMinor,
      card,
      pin: card.pin ?? null,
      original: null,
      target: null,
    });
  }

  #cardFor(entry: JournalEntry | undefined, options: VoidOptions, what: string): CardData {
    const card = options.card ?? entry?.card;
    if (card === undefined) {
      throw new TerminalError(
        'invalid_input',
        `${what}: the journal does not hold the card; give it (--card)`,
      );
    }
    if (entry !== undefined && options.card !== undefined && options.card.pan !== entry.card.pan) {
      throw new TerminalError('invalid_input', `${what}: this is not the card of the original transaction`);
    }
    return card;
  }

  #openEntry(trace: string, type: 'sale' | 'completion', what: string): JournalEntry {
    const entry = this.state.journal.get(this.state.batchNo, trace);
    if (entry === undefined) {
      throw new TerminalError(
        'original_not_found',
        `${what}: trace ${trace} is not in the open batch ${this.state.batchNo} of terminal ${this.state.terminalId}`,
      );
    }
    if (entry.type !== type) {
      throw new TerminalError(
        'original_not_eligible',
        `${what}: trace ${trace} is a ${entry.type}, not a ${type}`,
      );
    }
    if (entry.status !== 'open') {
      throw new TerminalError('original_not_eligible', `${what}: trace ${trace} was already ${entry.status}`);
    }
    return entry;
  }

  /** 消费撤销 of a sale of the open batch: full amount, 37/38 and 61.1–61.2 of the sale. */
  async voidSale(trace: string, options: VoidOptions = {}): Promise<TransactionResult> {
    const sale = this.#openEntry(checkTrace(trace), 'sale', 'void');
    return this.#financial('void', {
      amountMinor: sale.amountMinor,
      card: this.#cardFor(sale, options, 'void'),
      pin: options.pin ?? null,
      original: {
        batchNo: sale.batchNo,
        trace: sale.trace,
        rrn: sale.rrn,
        authCode: sale.authCode,
        date: null,
      },
      target: sale,
    });
  }

  /** 预授权完成撤销 of a completion of the open batch. */
  async voidCompletion(trace: string, options: VoidOptions = {}): Promise<TransactionResult> {
    const completion = this.#openEntry(checkTrace(trace), 'completion', 'completion void');
    return this.#financial('completion_void', {
      amountMinor: completion.amountMinor,
      card: this.#cardFor(completion, options, 'completion void'),
      pin: options.pin ?? null,
      original: {
        batchNo: completion.batchNo,
        trace: completion.trace,
        rrn: completion.rrn,
        authCode: completion.authCode,
        date: null,
      },
      target: completion,
    });
  }

  /**
   * 退货 (0220) of a sale by its RRN: 37 and 61.1–61.3 of the sale. A sale in the journal gives its
   * batch, trace, date and card; an older one needs the date (and the card).
   */
  async refund(rrn: string, amountMinor: bigint, options: RefundOptions = {}): Promise<TransactionResult> {
    if (!/^[0-9A-Za-z ]{12}$/.test(rrn)) {
      throw new TerminalError(
        'invalid_input',
        `refund: the RRN is 12 characters, got ${JSON.stringify(rrn)}`,
      );
    }
    const sale = this.state.journal.findByRrn(rrn, 'sale');
    let original: OriginalRef;
    if (sale !== undefined) {
      if (sale.refundedMinor + amountMinor > sale.amountMinor) {
        throw new TerminalError(
          'original_not_eligible',
          `refund: the sale of RRN ${rrn} was ${sale.amountMinor} fen, ${sale.refundedMinor} already refunded; ${amountMinor} more is too much`,
        );
      }
      original = {
        batchNo: sale.batchNo,
        trace: sale.trace,
        rrn,
        authCode: null,
        date: options.date ?? sale.date,
      };
    } else {
      if (options.date === undefined) {
        throw new TerminalError(
          'original_not_found',
          `refund: RRN ${rrn} is not in this terminal's journal; give the sale's date (--date MMDD) and card`,
        );
      }
      original = {
        batchNo: options.originalBatchNo ?? '000000',
        trace: options.originalTrace ?? '000000',
        rrn,
        authCode: null,
        date: checkMmdd(options.date),
      };
    }
    return this.#financial('refund', {
      amountMinor,
      card: this.#cardFor(sale, options, 'refund'),
      pin: options.pin ?? null,
      original,
      target: sale ?? null,
    });
  }

  #preAuthRef(
    trace: string,
    options: PreAuthRefOptions,
    what: string,
  ): { entry: JournalEntry | undefined; original: OriginalRef } {
    const entry = this.state.journal.findByTrace(checkTrace(trace), this.state.batchNo);
    if (entry !== undefined && entry.type === 'preauth') {
      if (entry.status !== 'open') {
        throw new TerminalError(
          'original_not_eligible',
          `${what}: the pre-auth of trace ${trace} was already ${entry.status}`,
        );
      }
      return {
        entry,
        original: {
          batchNo: entry.batchNo,
          trace: entry.trace,
          rrn: entry.rrn,
          authCode: entry.authCode,
          date: entry.date,
        },
      };
    }
    if (options.authCode === undefined || options.date === undefined) {
      throw new TerminalError(
        'original_not_found',
        `${what}: trace ${trace} is not a pre-auth in this terminal's journal; give its authorization code (--auth-code), date (--date MMDD) and card`,
      );
    }
    return {
      entry: undefined,
      original: {
        batchNo: options.originalBatchNo ?? this.state.batchNo,
        trace,
        rrn: null,
        authCode: options.authCode,
        date: checkMmdd(options.date),
      },
    };
  }

  /** 预授权撤销 (0100 200000) of a pre-auth: its amount, 38 and 61.1–61.3. */
  async voidPreAuth(trace: string, options: PreAuthRefOptions = {}): Promise<TransactionResult> {
    const { entry, original } = this.#preAuthRef(trace, options, 'pre-auth void');
    const amountMinor = entry?.amountMinor ?? options.amountMinor;
    if (amountMinor === undefined) {
      throw new TerminalError('invalid_input', 'pre-auth void: give the pre-auth amount (--amount)');
    }
    return this.#financial('preauth_void', {
      amountMinor,
      card: this.#cardFor(entry, options, 'pre-auth void'),
      pin: options.pin ?? null,
      original,
      target: entry ?? null,
    });
  }

  /** 预授权完成 (0200 000000, 25 = 06) of a pre-auth: 38 and 61.1–61.3 of the pre-auth. */
  complete(
    preAuthTrace: string,
    amountMinor: bigint,
    options: PreAuthRefOptions = {},
  ): Promise<TransactionResult> {
    const { entry, original } = this.#preAuthRef(preAuthTrace, options, 'completion');
    return this.#financial('completion', {
      amountMinor,
      card: this.#cardFor(entry, options, 'completion'),
      pin: options.pin ?? null,
      original,
      target: entry ?? null,
    });
  }

  // ---- settlement -------------------------------------------------------------------------------

  /**
   * 批结算: 0500 with the journal's totals. The host answers 1 balanced, 2 unbalanced (the terminal
   * then uploads its batch: 0320 201 with up to 8 details each, then 0320 202 with the count) or 3
   * error. A balanced or uploaded batch is closed: the next batch opens, the journal keeps only open
   * pre-auths.
   */
  async settle(): Promise<SettlementResult> {
    const prepared = await this.#prepare();
    const batchNo = this.state.batchNo;
    const totals = this.state.journal.totals(batchNo);
    const base = this.#management();
    const request = buildSettlement(this.spec, { ...base, totals, operator: this.state.operator });
    const exchange = await this.#exchange(request, true);
    this.#noteSignInRequest(exchange);
    const common = this.#common(exchange, base.trace, prepared);
    let hostTotals: SettlementTotals | null = null;
    let result: SettlementResult['result'] = null;
    let uploaded = 0;
    let closedBatchNo: string | null = null;
    if (exchange.kind === 'reply' && common.approved) {
      const field48 = exchange.reply.get(48);
      try {
        hostTotals = field48 === undefined ? null : decodeSettlementTotals(field48);
      } catch {
        hostTotals = null;
      }
      const results = hostTotals === null ? [3] : [hostTotals.domestic.result, hostTotals.foreign.result];
      result =
        results.includes(3) || results.some((r) => r < 1 || r > 3)
          ? 'error'
          : results.includes(2)
            ? 'unbalanced'
            : 'balanced';
      if (result === 'unbalanced') uploaded = await this.#uploadBatch(batchNo);
      if (result !== 'error') {
        closedBatchNo = batchNo;
        this.state.lastSettlement = { batchNo, at: this.#clock.now().toISOString(), result, uploaded };
        this.state.journal.closeBatch();
        this.state.batchNo = nextBatchNo(batchNo);
      }
    }
    this.#save();
    return {
      ...common,
      batchNo,
      type: 'settlement',
      totals,
      hostTotals,
      result,
      uploaded,
      closedBatchNo,
      nextBatchNo: this.state.batchNo,
    };
  }

  async #uploadBatch(batchNo: string): Promise<number> {
    const details = this.state.journal.uploadDetails(batchNo);
    const expectAnswer = async (request: PosMessage, what: string) => {
      const exchange = await this.#exchange(request, true);
      this.#noteSignInRequest(exchange);
      this.#save();
      if (exchange.kind !== 'reply') {
        throw new TerminalError(
          'settlement_failed',
          `batch upload of batch ${batchNo}: ${what} got ${exchange.kind === 'no_reply' ? 'no reply' : 'a reply whose MAC failed'}; settle again`,
        );
      }
      const code = exchange.reply.get(39);
      if (code !== '00') {
        throw new TerminalError(
          'settlement_failed',
          `batch upload of batch ${batchNo}: ${what} was answered ${code === undefined ? 'without 39' : responseText(code)}; settle again`,
        );
      }
    };
    for (let i = 0; i < details.length; i += BATCH_UPLOAD_DETAILS_PER_MESSAGE) {
      const chunk = details.slice(i, i + BATCH_UPLOAD_DETAILS_PER_MESSAGE);
      await expectAnswer(
        buildBatchUpload(this.spec, { ...this.#management(), details: chunk }),
        `details ${i + 1}–${i + chunk.length}`,
      );
    }
    await expectAnswer(
      buildBatchEnd(this.spec, { ...this.#management(), count: details.length }),
      'the end (202)',
    );
    return details.length;
  }
}

// ---- helpers --------------------------------------------------------------------------------------

function checkTrace(trace: string): string {
  if (!/^\d{1,6}$/.test(trace) || Number(trace) === 0) {
    throw new TerminalError(
      'invalid_input',
      `a trace (凭证号) is 1 to 6 digits, not zero; got ${JSON.stringify(trace)}`,
    );
  }
  return trace.padStart(6, '0');
}

function checkMmdd(date: string): string {
  const match = /^(\d{2})(\d{2})$/.exec(date);
  const month = Number(match?.[1]);
  const day = Number(match?.[2]);
  if (match === null || month < 1 || month > 12 || day < 1 || day > 31) {
    throw new TerminalError('invalid_input', `a date is MMDD, got ${JSON.stringify(date)}`);
  }
  return date;
}

/** The merchant name a terminal prints: from its parameter download, else the demo fixtures' name. */
export function merchantNameOf(state: TerminalState): string | null {
  return state.merchantName ?? demoMerchantName(state.merchantId);
}

/** A PIN typed on the command line, as a Secret. */
export function pinOf(pin: string | undefined | null): Secret<string> | null {
  return pin === undefined || pin === null ? null : new Secret(pin);
}
