import { hash } from 'node:crypto';
import { generateMac, type KeyHandle, MAC_BYTES, verifyMac, workingKeySetFor } from '../keys/index.ts';
import type { Merchants } from '../merchants/index.ts';
import {
  type BatchTotals,
  type CardPayments,
  type CardRequest,
  type Outcome,
  type Payment,
  type PaymentKind,
  responseCodeOf,
} from '../payments/index.ts';
import {
  type AnyMessage,
  decodeBatchUploadDetails,
  decodeSettlementTotals,
  encodeSettlementTotals,
  FrameError,
  formatDump,
  Header,
  isIso8583Error,
  type Message,
  type MessageSpec,
  type PosFrame,
  PROCESSING_NONE,
  PROCESSING_SIGN_IN_AGAIN,
  parsePosFrame,
  Tpdu,
  tillpointPosV1,
  tillpointPosV1Sm4,
  unpack,
  writePosFrame,
} from '../protocols/iso8583/index.ts';
import { isTillpointError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { Secret } from '../shared/secret.ts';
import type { TerminalContext, Terminals } from '../terminals/index.ts';
import { amountOf, batchOf, cardOf, FieldProblem, originalOf, pinBlockOf, text } from './fields.ts';
import type { Journal } from './journal.ts';
import { cardReply, encodeParameters, replyTo, stamp } from './replies.ts';
import { classify, missingField, type TransactionDefinition, type TransactionType } from './transactions.ts';

// One request's way through the host, in the manner of jPOS participants: decode → recognise →
// check fields → resolve terminal and merchant → verify MAC → check sign-in and batch → route to the
// module that decides (terminals for sessions, payments for money) → build the reply → MAC it. All of
// the request's state is in one context object; the outcome becomes field 39 in one place
// (payments' responseCodeOf). The host itself decides nothing about money.

export interface PipelineDeps {
  terminals: Terminals;
  merchants: Merchants;
  payments: CardPayments;
  journal: Journal;
  logger: Logger;
  acquirerCode: string;
  /** How long terminals should wait for the host (parameter 04), in seconds. */
  hostTimeoutSeconds: number;
  now: () => { time: string; date: string };
}

export interface Handled {
  /** The whole reply frame (length included), or nothing to send. */
  reply?: Uint8Array;
  /** Close the connection after this (a framing error). */
  close?: boolean;
}

interface Context {
  remote: string;
  startedNs: bigint;
  frame: PosFrame;
  request: AnyMessage;
  definition?: TransactionDefinition;
  original?: TransactionDefinition;
  terminal?: TerminalContext;
  outcome: Outcome;
  processingRequirement: number;
  paymentId?: string;
  journalOutcome: string;
  signIn?: { batchNo: number; field62: Buffer };
  payment?: Payment;
  settlementTotals?: string;
  parameters?: Buffer;
}

const NO_MAC_CODES = new Set(['97', '77', 'A0']);
/** Requests of these MTIs carry field 64, and so do their replies. */
const MACD_MTIS = new Set(['0100', '0200', '0220', '0320', '0400', '0500']);

const KIND_OF: Partial<Record<TransactionType, Exclude<PaymentKind, 'reversal'>>> = {
  balance: 'balance',
  sale: 'sale',
  void: 'void',
  refund: 'refund',
  preauth: 'preauth',
  preauth_void: 'preauth_void',
  completion: 'completion',
  completion_void: 'completion_void',
};

function specOf(terminal: TerminalContext | undefined): MessageSpec {
  return terminal?.terminal.algorithm === 'sm4' ? tillpointPosV1Sm4 : tillpointPosV1;
}

/** The request's content without its MAC: what a retransmission must repeat exactly. */
function contentHashOf(message: Uint8Array, macd: boolean): string {
  const end = macd ? message.length - MAC_BYTES : message.length;
  return hash('sha256', message.subarray(0, Math.max(0, end)), 'hex');
}

export class Pipeline {
  readonly #deps: PipelineDeps;
  readonly #log: Logger;

  constructor(deps: PipelineDeps) {
    this.#deps = deps;
    this.#log = deps.logger.child({ component: 'host' });
  }

  async handle(frameBytes: Uint8Array, remote: string): Promise<Handled> {
    const startedNs = process.hrtime.bigint();
    let frame: PosFrame;
    let head: AnyMessage;
    try {
      frame = parsePosFrame(frameBytes);
      head = unpack(tillpointPosV1, frame.message, { throughField: 42 });
    } catch (error) {
      // No readable TPDU, header or MTI: nothing can be answered; the connection is closed.
      const outcome = error instanceof FrameError ? 'framing_error' : 'unreadable';
      this.#deps.journal.record({
        direction: 'in',
        remote,
        outcome,
        dump: `${frameBytes.length} bytes: ${(error as Error).message}`,
      });
      return { close: true };
    }
    const terminalId = text(head, 41);
    let terminal: TerminalContext | undefined;
    try {
      terminal = terminalId === undefined ? undefined : await this.#deps.terminals.context(terminalId);
    } catch (error) {
      this.#log.error({ err: error, terminalId }, 'terminal look-up failed');
      return this.#finish({
        remote,
        startedNs,
        frame,
        request: head,
        outcome: 'system_error',
        processingRequirement: 0,
        journalOutcome: 'system_error',
      });
    }
    let request: AnyMessage;
    try {
      request = unpack(specOf(terminal), frame.message);
    } catch (error) {
      if (!isIso8583Error(error)) throw error;
      // A message that ends before its fields (or runs on after them) says its frame's length lied:
      // the bytes of the next frames cannot be trusted either. Close, as for a framing error.
      const lengthLied =
        error.reason === 'truncated' ||
        error.reason === 'length_beyond_data' ||
        error.reason === 'trailing_bytes';
      this.#deps.journal.record({
        direction: 'in',
        remote,
        terminalId,
        merchantId: text(head, 42),
        mti: head.mti,
        trace: text(head, 11),
        outcome: lengthLied ? 'framing_error' : 'format_error',
        dump: `${formatDump(head)} … ${error.message}`,
      });
      if (lengthLied) return { close: true };
      return this.#finish(
        {
          remote,
          startedNs,
          frame,
          request: head,
          terminal,
          outcome: 'format_error',
          processingRequirement: 0,
          journalOutcome: 'format_error',
        },
        false,
      );
    }
    const context: Context = {
      remote,
      startedNs,
      frame,
      request,
      ...(terminal ? { terminal } : {}),
      outcome: 'system_error',
      processingRequirement: PROCESSING_NONE,
      journalOutcome: 'processed',
    };
    this.#deps.journal.record({
      direction: 'in',
      remote,
      terminalId,
      merchantId: text(request, 42),
      mti: request.mti,
      trace: text(request, 11),
      outcome: 'received',
      dump: formatDump(request),
    });
    try {
      await this.#run(context);
    } catch (error) {
      this.#log.error({ err: error, terminalId, mti: request.mti }, 'a request failed inside the host');
      context.outcome = 'system_error';
      context.journalOutcome = 'system_error';
    }
    return this.#finish(context);
  }

  async #run(context: Context): Promise<void> {
    const { request } = context;
    const classification = classify(request);
    if (classification.kind !== 'transaction') {
      context.outcome = classification.kind === 'unsupported' ? 'not_supported' : 'invalid_transaction';
      context.journalOutcome = classification.kind;
      return;
    }
    const definition = classification.definition;
    context.definition = definition;
    if (classification.original) context.original = classification.original;
    if (missingField(definition, request) !== undefined) {
      context.outcome = 'format_error';
      context.journalOutcome = `missing_field_${missingField(definition, request)}`;
      return;
    }
    // Terminal and merchant (41, 42).
    if (context.terminal === undefined) {
      context.outcome = 'terminal_not_registered';
      return;
    }
    const merchantId = text(request, 42);
    const { terminal, merchant } = context.terminal;
    if (terminal.status !== 'active' || merchant.status !== 'active' || merchant.id !== merchantId) {
      context.outcome = 'invalid_merchant';
      return;
    }
    if (definition.type === 'sign_in') return this.#signIn(context);
    if (definition.macd && !(await this.#macVerified(context))) return;
    if (definition.financial && !(await this.#inSession(context))) return;
    switch (definition.type) {
      case 'sign_out':
        await this.#deps.terminals.signOut(terminal.id, context.remote);
        context.outcome = 'approved';
        return;
      case 'echo':
        context.outcome = 'approved';
        return;
      case 'parameters':
        context.parameters = await this.#parameters(context.terminal);
        context.outcome = 'approved';
        return;
      case 'reversal':
        return this.#reversal(context);
      case 'settlement':
        return this.#settlement(context);
      case 'upload_detail':
      case 'upload_end':
        return this.#upload(context);
      default:
        return this.#card(context);
    }
  }

  async #signIn(context: Context): Promise<void> {
    const { request } = context;
    let keySet: ReturnType<typeof workingKeySetFor>;
    try {
      keySet = workingKeySetFor(text(request, '60.3') ?? '');
    } catch (error) {
      if (!isTillpointError(error)) throw error;
      context.outcome = 'not_supported';
      return;
    }
    const operatorCode = text(request, '63.1');
    const result = await this.#deps.terminals.signIn({
      terminalId: context.terminal!.terminal.id,
      merchantId: text(request, 42) ?? '',
      ...(operatorCode !== undefined && operatorCode.trim() !== '' ? { operatorCode } : {}),
      keySet,
      source: context.remote,
    });
    if ('refused' in result) {
      context.outcome =
        result.refused === 'terminal_unknown'
          ? 'terminal_not_registered'
          : result.refused === 'merchant_invalid'
            ? 'invalid_merchant'
            : 'invalid_transaction';
      context.journalOutcome = result.refused;
      return;
    }
    context.outcome = 'approved';
    context.signIn = result;
  }

  /** Field 64 against the terminal's working MAC key; the third failure in a row signs it out. */
  async #macVerified(context: Context): Promise<boolean> {
    const message = context.frame.message;
    const data = Buffer.from(message.buffer, message.byteOffset, message.length - MAC_BYTES);
    const mac = message.subarray(message.length - MAC_BYTES);
    const check = (terminal: TerminalContext | undefined) =>
      terminal?.keys !== undefined && verifyMac(data, mac, terminal.keys.mac, terminal.terminal.macAlgorithm);
    if (check(context.terminal)) {
      if (context.terminal!.terminal.macFailures > 0)
        await this.#deps.terminals.clearMacFailures(context.terminal!.terminal.id);
      return true;
    }
    // The cached session may be behind (a sign-in on another node): look again before refusing.
    const fresh = await this.#deps.terminals.context(context.terminal!.terminal.id, { stale: true });
    if (fresh !== undefined) context.terminal = fresh;
    if (fresh?.keys === undefined) {
      context.outcome = 'sign_in_required';
      context.processingRequirement = PROCESSING_SIGN_IN_AGAIN;
      return false;
    }
    if (check(fresh)) return true;
    const { mustSignIn } = await this.#deps.terminals.recordMacFailure(fresh.terminal.id, context.remote);
    context.outcome = 'mac_failed';
    context.journalOutcome = 'mac_failed';
    if (mustSignIn) context.processingRequirement = PROCESSING_SIGN_IN_AGAIN;
    return false;
  }

  /** A financial request needs a sign-in and the open batch in 60.2. */
  async #inSession(context: Context): Promise<boolean> {
    const batch = batchOf(context.request);
    let terminal = context.terminal!;
    if (terminal.keys === undefined || batch !== terminal.terminal.batchNo) {
      terminal = (await this.#deps.terminals.context(terminal.terminal.id, { stale: true })) ?? terminal;
      context.terminal = terminal;
    }
    if (terminal.keys === undefined || batch !== terminal.terminal.batchNo) {
      context.outcome = 'sign_in_required';
      context.processingRequirement = PROCESSING_SIGN_IN_AGAIN;
      context.journalOutcome = terminal.keys === undefined ? 'not_signed_in' : 'batch_mismatch';
      return false;
    }
    return true;
  }

  #cardRequest(
    context: Context,
    kind: Exclude<PaymentKind, 'reversal'>,
    requestMti: string,
  ): CardRequest | Outcome {
    const { request } = context;
    const { terminal, merchant, keys } = context.terminal!;
    let card: ReturnType<typeof cardOf>;
    let amountMinor: bigint;
    try {
      card = cardOf(request);
      amountMinor = amountOf(request);
    } catch (error) {
      if (error instanceof FieldProblem) {
        context.journalOutcome = `bad_field_${error.field}`;
        return 'format_error';
      }
      throw error;
    }
    const pin = pinBlockOf(request);
    if (pin !== undefined && 'formatError' in pin) return 'pin_format_error';
    const operatorCode = text(request, '63.1');
    return {
      kind,
      requestMti,
      terminal,
      merchant,
      batchNo: terminal.batchNo,
      trace: text(request, 11)!,
      amountMinor,
      ...(card ? { card } : {}),
      ...(pin ? { pinBlock: pin.block, pinKey: keys!.pin } : {}),
      original: originalOf(request),
      ...(operatorCode !== undefined ? { operatorCode } : {}),
      contentHash: contentHashOf(context.frame.message, true),
      source: context.remote,
    };
  }

  async #card(context: Context): Promise<void> {
    const kind = KIND_OF[context.definition!.type]!;
    const cardRequest = this.#cardRequest(context, kind, context.request.mti);
    if (typeof cardRequest === 'string') {
      context.outcome = cardRequest;
      return;
    }
    const result = await this.#deps.payments.process(cardRequest);
    context.outcome = result.outcome;
    context.payment = result.payment;
    if (result.payment.id !== '') context.paymentId = result.payment.id;
    if (result.replayed) context.journalOutcome = 'duplicate';
  }

  async #reversal(context: Context): Promise<void> {
    const original = context.original!;
    const cardRequest = this.#cardRequest(context, KIND_OF[original.type]!, original.mti);
    if (typeof cardRequest === 'string') {
      context.outcome = cardRequest;
      return;
    }
    const result = await this.#deps.payments.reverse({
      terminal: cardRequest.terminal,
      merchant: cardRequest.merchant,
      batchNo: cardRequest.batchNo,
      trace: cardRequest.trace,
      originalMti: original.mti,
      originalKind: KIND_OF[original.type]!,
      amountMinor: cardRequest.amountMinor,
      terminalReason: text(context.request, 39) ?? '06',
      ...(cardRequest.card ? { card: cardRequest.card } : {}),
      contentHash: cardRequest.contentHash,
      source: context.remote,
    });
    context.outcome = result.outcome;
    context.payment = result.payment;
    if (result.payment.id !== '') context.paymentId = result.payment.id;
    if (result.replayed) context.journalOutcome = 'duplicate';
  }

  async #settlement(context: Context): Promise<void> {
    const { terminal, merchant } = context.terminal!;
    let totals: ReturnType<typeof decodeSettlementTotals>;
    try {
      totals = decodeSettlementTotals(text(context.request, 48) ?? '');
    } catch (error) {
      if (!isIso8583Error(error)) throw error;
      context.outcome = 'format_error';
      return;
    }
    const batchNo = batchOf(context.request);
    if (batchNo === undefined) {
      context.outcome = 'format_error';
      return;
    }
    const terminalTotals: BatchTotals = {
      debitAmountMinor: totals.domestic.debitAmountMinor,
      debitCount: totals.domestic.debitCount,
      creditAmountMinor: totals.domestic.creditAmountMinor,
      creditCount: totals.domestic.creditCount,
      foreignDebitAmountMinor: totals.foreign.debitAmountMinor,
      foreignDebitCount: totals.foreign.debitCount,
      foreignCreditAmountMinor: totals.foreign.creditAmountMinor,
      foreignCreditCount: totals.foreign.creditCount,
    };
    const operatorCode = text(context.request, '63.1');
    const result = await this.#deps.payments.settle({
      terminal,
      merchant,
      batchNo,
      terminalTotals,
      ...(operatorCode !== undefined ? { operatorCode } : {}),
      source: context.remote,
    });
    context.outcome = result.outcome;
    context.settlementTotals = encodeSettlementTotals({
      domestic: { ...totals.domestic, result: result.result },
      foreign: { ...totals.foreign, result: result.result },
    });
    this.#deps.terminals.invalidate(terminal.id);
  }

  async #upload(context: Context): Promise<void> {
    const { terminal, merchant } = context.terminal!;
    const batchNo = batchOf(context.request);
    if (batchNo === undefined) {
      context.outcome = 'format_error';
      return;
    }
    if (context.definition!.type === 'upload_end') {
      const result = await this.#deps.payments.uploadEnd({
        terminal,
        merchant,
        batchNo,
        source: context.remote,
      });
      context.outcome = result.outcome;
      return;
    }
    let details: ReturnType<typeof decodeBatchUploadDetails>;
    try {
      details = decodeBatchUploadDetails(text(context.request, 48) ?? '');
    } catch (error) {
      if (!isIso8583Error(error)) throw error;
      context.outcome = 'format_error';
      return;
    }
    context.outcome = await this.#deps.payments.uploadDetails({
      terminal,
      batchNo,
      details: details.map((detail) => ({
        cardOrganization: detail.cardOrganization === '00' ? 'CUP' : detail.cardOrganization,
        trace: detail.trace,
        pan: new Secret(detail.panZeroPadded.replace(/0+$/, '')),
        amountMinor: detail.amountMinor,
      })),
    });
  }

  /** Builds, MACs and journals the reply. */
  #finish(context: Context, recognised = true): Handled {
    const responseCode = responseCodeOf(context.outcome);
    const definition = recognised ? context.definition : undefined;
    const reply = this.#reply(context, responseCode, definition);
    const header = Header.reply(context.frame.header, context.processingRequirement);
    const macKey: KeyHandle | undefined = context.terminal?.keys?.mac;
    // Every reply to a MAC'd kind of request carries a MAC (declines and unrecognised ones too),
    // but those answering 97, 77 and A0, for which the host has no key the terminal shares.
    const macdKind = definition?.macd ?? MACD_MTIS.has(context.request.mti);
    const macd = macdKind && !NO_MAC_CODES.has(responseCode) && macKey !== undefined;
    if (macd) reply.set(64 as never, new Uint8Array(MAC_BYTES) as never);
    const frame = writePosFrame(Tpdu.reply(context.frame.tpdu), header, reply) as Buffer;
    if (macd) {
      const start = 2 + 5 + 6;
      const data = frame.subarray(start, frame.length - MAC_BYTES);
      frame.set(
        generateMac(data, macKey!, context.terminal!.terminal.macAlgorithm),
        frame.length - MAC_BYTES,
      );
    }
    const elapsedUs = Number((process.hrtime.bigint() - context.startedNs) / 1000n);
    this.#deps.journal.record({
      direction: 'out',
      remote: context.remote,
      terminalId: text(context.request, 41),
      merchantId: text(context.request, 42),
      mti: reply.mti,
      trace: text(context.request, 11),
      responseCode,
      outcome: context.journalOutcome,
      elapsedUs,
      ...(context.paymentId ? { paymentId: context.paymentId } : {}),
      dump: formatDump(reply),
    });
    return { reply: frame };
  }

  #reply(
    context: Context,
    responseCode: string,
    definition: TransactionDefinition | undefined,
  ): Message<MessageSpec> {
    const { request } = context;
    const now = this.#deps.now();
    if (context.payment !== undefined && definition !== undefined) {
      return cardReply(request, definition, context.payment, { acquirerCode: this.#deps.acquirerCode });
    }
    const reply = replyTo(request, responseCode);
    stamp(reply, now.time, now.date);
    switch (definition?.type) {
      case 'sign_in':
        if (context.signIn !== undefined) {
          reply.set('60.2' as never, String(context.signIn.batchNo).padStart(6, '0') as never);
          reply.set(62 as never, context.signIn.field62 as never);
        }
        break;
      case 'parameters':
        if (context.parameters !== undefined) reply.set(62 as never, context.parameters as never);
        break;
      case 'settlement':
        if (context.settlementTotals !== undefined) reply.set(48 as never, context.settlementTotals as never);
        reply.set(15 as never, now.date as never);
        break;
      default:
        for (const id of [3, 4, 25, 49]) {
          const value = text(request, id);
          if (value !== undefined && definition !== undefined) reply.set(id as never, value as never);
        }
    }
    return reply;
  }

  async #parameters(context: TerminalContext): Promise<Buffer> {
    const { terminal, merchant } = context;
    const operators = (await this.#deps.merchants.operators(merchant.id)).filter(
      (o) => o.status === 'active',
    );
    return encodeParameters([
      ['01', merchant.name],
      ['02', merchant.id],
      ['03', terminal.id],
      ['04', String(this.#deps.hostTimeoutSeconds).padStart(3, '0')],
      ['05', merchant.name],
      ['06', '欢迎光临'],
      ['07', operators.map((o) => o.code).join(',')],
      ['08', this.#deps.acquirerCode],
    ]);
  }
}
