// The state a terminal keeps between transactions, and the JSON file it lives in (one per terminal
// id, under $TILLPOINT_DATA_DIR/terminals/ or ./data/terminals/). It holds the TMK and the working
// keys of a TEST terminal in clear: simulator state, written mode 0600, never for real keys. The
// working keys are kept as the host sent them (field 62, under the TMK) with their check values,
// and decrypted when the terminal loads.

import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { TerminalError } from './errors.ts';
import { Journal, type JournalEntry } from './journal.ts';
import {
  DEMO_TERMINALS,
  DEMO_TMK_HEX,
  type FinancialType,
  type ReversalReason,
  type SignInKeySet,
} from './protocol.ts';

export type TerminalAlgorithm = '3des' | 'sm4';
export type TerminalMacAlgorithm = 'ecb' | 'x99';

/** Working keys as received at sign-in: field 62 (under the TMK) and the check values it stated. */
export interface WorkingKeysRecord {
  readonly keySet: SignInKeySet;
  readonly field62Hex: string;
  readonly pinCheckValue: string;
  readonly macCheckValue: string;
  readonly trackCheckValue: string | null;
  readonly signedInAt: string;
}

/** The last reversible request whose reply never came or failed its MAC: its fields for the 0400. */
export interface PendingReversal {
  readonly type: FinancialType;
  /** The original's fields a reversal repeats (2, 3, 4, 11, 14, 22, 23, 25, 38, 41, 42, 49, 60, 61). */
  readonly fields: Readonly<Record<string, string>>;
  reason: ReversalReason;
  attempts: number;
  readonly createdAt: string;
}

/**
 * A refund (0220, an advice) whose reply never came or failed its MAC: terminals send an advice
 * again, the same message, until the host answers it (it cannot be reversed).
 */
export interface PendingAdvice {
  /** The request as sent (MTI and fields, b fields as hex), without its MAC. */
  readonly message: { readonly mti: string; readonly fields: Readonly<Record<string, string>> };
  /** What the journal needs when it is approved. */
  readonly amountMinor: string;
  readonly card: { readonly pan: string; readonly expiry: string; readonly entry: 'swipe' | 'manual' };
  readonly original: {
    readonly batchNo: string;
    readonly trace: string;
    readonly rrn: string | null;
    readonly authCode: string | null;
    readonly date: string | null;
  } | null;
  attempts: number;
  readonly createdAt: string;
}

export interface SettlementRecord {
  readonly batchNo: string;
  readonly at: string;
  readonly result: 'balanced' | 'unbalanced' | 'error';
  readonly uploaded: number;
}

export interface Parameter {
  readonly tag: string;
  readonly value: string;
}

export interface TerminalState {
  readonly terminalId: string;
  merchantId: string;
  algorithm: TerminalAlgorithm;
  macAlgorithm: TerminalMacAlgorithm;
  /** The terminal master key, hex (TEST terminals only). */
  tmkHex: string;
  /** The operator of the last sign-in (63.1), or null for a terminal signed in alone. */
  operator: string | null;
  /** The open batch, 6 digits (60.2). */
  batchNo: string;
  /** The last trace used (field 11), 0 before the first message; the next is this + 1, 999999 wraps to 1. */
  trace: number;
  workingKeys: WorkingKeysRecord | null;
  /** The host asked for a new sign-in (header processing requirement 3, or 77 / A0). */
  signInRequired: boolean;
  merchantName: string | null;
  parameters: Parameter[] | null;
  pendingReversal: PendingReversal | null;
  pendingAdvice: PendingAdvice | null;
  journal: Journal;
  lastSettlement: SettlementRecord | null;
}

export interface StateOptions {
  merchantId?: string;
  algorithm?: TerminalAlgorithm;
  macAlgorithm?: TerminalMacAlgorithm;
  tmkHex?: string;
}

const TERMINAL_ID = /^[0-9A-Za-z]{8}$/;
const MERCHANT_ID = /^[0-9A-Za-z]{15}$/;
const TMK_HEX = /^[0-9A-F]{32}$/;

export function isTerminalId(text: string): boolean {
  return TERMINAL_ID.test(text);
}

export function isMerchantId(text: string): boolean {
  return MERCHANT_ID.test(text);
}

/**
 * A fresh terminal: the demo merchant, algorithm and TMK for a demo terminal id, else what the
 * options say (a merchant id is then required). Batch 000001, no trace used yet, not signed in.
 */
export function newTerminalState(terminalId: string, options: StateOptions = {}): TerminalState {
  if (!isTerminalId(terminalId)) {
    throw new TerminalError(
      'invalid_input',
      `terminal id ${JSON.stringify(terminalId)} is not 8 letters or digits`,
    );
  }
  const demo = DEMO_TERMINALS.get(terminalId);
  const merchantId = options.merchantId ?? demo?.merchantId;
  if (merchantId === undefined) {
    throw new TerminalError(
      'invalid_input',
      `terminal ${terminalId} is not a demo terminal: give its merchant id (--mid, 15 characters)`,
    );
  }
  const state: TerminalState = {
    terminalId,
    merchantId,
    algorithm: options.algorithm ?? demo?.algorithm ?? '3des',
    macAlgorithm: options.macAlgorithm ?? 'ecb',
    tmkHex: DEMO_TMK_HEX,
    operator: null,
    batchNo: '000001',
    trace: 0,
    workingKeys: null,
    signInRequired: false,
    merchantName: null,
    parameters: null,
    pendingReversal: null,
    pendingAdvice: null,
    journal: new Journal(),
    lastSettlement: null,
  };
  applyStateOptions(state, { ...options, merchantId });
  return state;
}

/**
 * Applies overrides (--mid, --algorithm, --tmk, --mac-algorithm). A change of TMK, algorithm or
 * merchant makes the working keys useless: they are dropped and the terminal must sign in. Returns
 * whether anything changed.
 */
export function applyStateOptions(state: TerminalState, options: StateOptions): boolean {
  let changed = false;
  let keysInvalid = false;
  if (options.merchantId !== undefined && options.merchantId !== state.merchantId) {
    if (!isMerchantId(options.merchantId)) {
      throw new TerminalError(
        'invalid_input',
        `merchant id ${JSON.stringify(options.merchantId)} is not 15 letters or digits`,
      );
    }
    state.merchantId = options.merchantId;
    keysInvalid = true;
  }
  if (options.tmkHex !== undefined) {
    const tmk = options.tmkHex.replace(/\s/g, '').toUpperCase();
    if (!TMK_HEX.test(tmk)) {
      throw new TerminalError(
        'invalid_input',
        'the TMK is 32 hex digits (a double-length 3DES key or an SM4 key)',
      );
    }
    if (tmk !== state.tmkHex) {
      state.tmkHex = tmk;
      keysInvalid = true;
    }
  }
  if (options.algorithm !== undefined && options.algorithm !== state.algorithm) {
    state.algorithm = options.algorithm;
    keysInvalid = true;
  }
  if (options.macAlgorithm !== undefined && options.macAlgorithm !== state.macAlgorithm) {
    state.macAlgorithm = options.macAlgorithm;
    changed = true;
  }
  if (keysInvalid) {
    changed = true;
    state.workingKeys = null;
  }
  return changed;
}

/** The next trace after `trace`: 000001 to 999999, then 000001 again. */
export function nextTrace(trace: number): number {
  return trace >= 999_999 ? 1 : trace + 1;
}

export function formatTrace(trace: number): string {
  return String(trace).padStart(6, '0');
}

/** The batch after `batchNo`: 000001 to 999999, then 000001 again. */
export function nextBatchNo(batchNo: string): string {
  const n = Number(batchNo);
  return formatTrace(n >= 999_999 ? 1 : n + 1);
}

// ---- the JSON file -------------------------------------------------------------------------------

export const STATE_FORMAT = 'tillpoint-terminal-sim/1';

function stateComment(terminalId: string): string {
  return `Tillpoint terminal simulator state of TEST terminal ${terminalId}: its TMK and working keys are in clear here. Simulator state only: never put a real terminal's keys in this file.`;
}

const digits = (n: number) => z.string().regex(new RegExp(`^\\d{${n}}$`));
const hex = z.string().regex(/^[0-9A-F]*$/);
const amount = z
  .string()
  .regex(/^\d{1,16}$/)
  .transform((text) => BigInt(text));
const financialType = z.enum([
  'balance',
  'sale',
  'void',
  'refund',
  'preauth',
  'preauth_void',
  'completion',
  'completion_void',
]);

const cardSchema = z.object({
  pan: z.string().regex(/^\d{12,19}$/),
  expiry: digits(4),
  entry: z.enum(['swipe', 'manual']),
});

const originalSchema = z.object({
  batchNo: digits(6),
  trace: digits(6),
  rrn: z.string().nullable(),
  authCode: z.string().nullable(),
  date: digits(4).nullable(),
});

const entrySchema = z.object({
  type: financialType.exclude(['balance']),
  batchNo: digits(6),
  trace: digits(6),
  amountMinor: amount,
  rrn: z.string().nullable(),
  authCode: z.string().nullable(),
  date: digits(4),
  time: digits(6),
  year: z.number().int(),
  card: cardSchema,
  cardOrganization: z.string().nullable(),
  operator: z.string().nullable(),
  original: originalSchema.nullable(),
  status: z.enum(['open', 'voided', 'completed']),
  refundedMinor: amount,
});

const fileSchema = z.object({
  _comment: z.string().optional(),
  format: z.literal(STATE_FORMAT),
  terminalId: z.string().regex(TERMINAL_ID),
  merchantId: z.string().regex(MERCHANT_ID),
  algorithm: z.enum(['3des', 'sm4']),
  macAlgorithm: z.enum(['ecb', 'x99']),
  tmkHex: z.string().regex(TMK_HEX),
  operator: z.string().nullable(),
  batchNo: digits(6),
  trace: z.number().int().min(0).max(999_999),
  workingKeys: z
    .object({
      keySet: z.enum(['003', '004']),
      field62Hex: hex,
      pinCheckValue: z.string(),
      macCheckValue: z.string(),
      trackCheckValue: z.string().nullable(),
      signedInAt: z.string(),
    })
    .nullable(),
  signInRequired: z.boolean(),
  merchantName: z.string().nullable(),
  parameters: z.array(z.object({ tag: z.string(), value: z.string() })).nullable(),
  pendingReversal: z
    .object({
      type: financialType,
      fields: z.record(z.string(), z.string()),
      reason: z.enum(['98', 'A0', '06']),
      attempts: z.number().int().min(0),
      createdAt: z.string(),
    })
    .nullable(),
  pendingAdvice: z
    .object({
      message: z.object({ mti: z.string(), fields: z.record(z.string(), z.string()) }),
      amountMinor: z.string().regex(/^\d+$/),
      card: cardSchema,
      original: originalSchema.nullable(),
      attempts: z.number().int().min(0),
      createdAt: z.string(),
    })
    .nullable()
    .default(null),
  journal: z.array(entrySchema),
  lastSettlement: z
    .object({
      batchNo: digits(6),
      at: z.string(),
      result: z.enum(['balanced', 'unbalanced', 'error']),
      uploaded: z.number().int().min(0),
    })
    .nullable(),
});

/** The state as the JSON text of its file (amounts as strings of digits). */
export function stateToJson(state: TerminalState): string {
  const { journal, ...rest } = state;
  return `${JSON.stringify(
    {
      _comment: stateComment(state.terminalId),
      format: STATE_FORMAT,
      ...rest,
      journal: journal.entries.map((entry) => ({
        ...entry,
        amountMinor: entry.amountMinor.toString(),
        refundedMinor: entry.refundedMinor.toString(),
      })),
    },
    null,
    2,
  )}\n`;
}

/** Reads the JSON text of a state file; `source` names it in errors. */
export function stateFromJson(text: string, source: string): TerminalState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new TerminalError('state_invalid', `${source} is not JSON: ${(error as Error).message}`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? '' : ` at ${issue.path.join('.') || '(top)'}: ${issue.message}`;
    throw new TerminalError('state_invalid', `${source} is not a terminal simulator state file${where}`);
  }
  const { _comment, format, journal, ...rest } = parsed.data;
  return { ...rest, journal: new Journal(journal as JournalEntry[]) };
}

/** Where a terminal's state lives: `$TILLPOINT_DATA_DIR/terminals/<tid>.json`, else `./data/terminals/`. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const dataDir = env['TILLPOINT_DATA_DIR'];
  return path.resolve(dataDir === undefined || dataDir === '' ? './data' : dataDir, 'terminals');
}

export function stateFileOf(stateDir: string, terminalId: string): string {
  if (!isTerminalId(terminalId)) {
    throw new TerminalError(
      'invalid_input',
      `terminal id ${JSON.stringify(terminalId)} is not 8 letters or digits`,
    );
  }
  return path.join(stateDir, `${terminalId}.json`);
}

/** Where the terminal writes its state after each step. */
export interface StateStore {
  save(state: TerminalState): void;
}

/** Keeps nothing: the state lives in memory only (tests, the load generator during its run). */
export const memoryStore: StateStore = { save: () => {} };

/** The state file of one terminal: written whole to a temporary file (mode 0600), then renamed. */
export class FileStateStore implements StateStore {
  readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  /** The state in the file, or undefined when there is no file yet. */
  load(): TerminalState | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new TerminalError('state_invalid', `cannot read ${this.file}: ${(error as Error).message}`);
    }
    return stateFromJson(text, this.file);
  }

  save(state: TerminalState): void {
    const dir = path.dirname(this.file);
    const temporary = `${this.file}.${process.pid}.tmp`;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(temporary, stateToJson(state), { mode: 0o600 });
      chmodSync(temporary, 0o600);
      renameSync(temporary, this.file);
    } catch (error) {
      throw new TerminalError('state_invalid', `cannot write ${this.file}: ${(error as Error).message}`);
    }
  }
}
