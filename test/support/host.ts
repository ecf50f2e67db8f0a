// The terminal host on a test database, for end-to-end tests over real TCP: the platform started on
// the database of createTestDatabase() (DATABASE_URL = its url, a scratch TILLPOINT_DATA_DIR), the
// demo loaded, the host listening on a free port, the reversal sender running, and a Terminal client
// per demo terminal (in-memory state). Also what a test needs to send what a well-behaved terminal
// would not: raw connections, the working keys of a signed-in Terminal, hand-built requests with a
// good, bad or no MAC, replies decoded and their MAC checked.

import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.ts';
import type { CardNetworkSimulator } from '../../src/connectors/card-network/index.ts';
import { createTestDatabase, type TestDatabase } from '../../src/db/testing.ts';
import { DEMO_MERCHANTS, loadDemoData } from '../../src/demo/index.ts';
import { createTerminalHost, type TerminalHost } from '../../src/host/index.ts';
import {
  encryptPin,
  importClearKey,
  MAC_BYTES,
  parseWorkingKeysField62,
  verifyMac,
  type WorkingKeys,
} from '../../src/keys/index.ts';
import { ACQUIRER_CODE, type Platform, startPlatform } from '../../src/main.ts';
import type { PaymentSettings } from '../../src/payments/index.ts';
import {
  FrameReader,
  type Header,
  parsePosFrame,
  type Tpdu,
  unpack,
} from '../../src/protocols/iso8583/index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { Secret } from '../../src/shared/secret.ts';
import {
  buildFinancialRequest,
  type CardInput,
  DEFAULT_HEADER,
  DEFAULT_TPDU,
  type FinancialType,
  frameRequest,
  newTerminalState,
  type OriginalRef,
  type PosMessage,
  specFor,
  Terminal,
  type TerminalState,
} from '../../src/terminal-sim/index.ts';

export const PIN = new Secret('123456');
export const WRONG_PIN = new Secret('654321');

/** The test cards of docs/terminal-protocol.md (swiped, right PIN). */
export const CARDS = {
  debit: '6222021000000013',
  credit: '6250001000000010',
  poor: '6222021000000021',
  expired: '6222021000000039',
  lost: '6222021000000047',
  silent: '6222021000000054',
  late: '6222021000000062',
} as const;

export function card(pan: string, options: { pin?: Secret<string> | null; expiry?: string } = {}): CardInput {
  return {
    pan,
    expiry: options.expiry ?? (pan === CARDS.expired ? '2001' : '3012'),
    entry: 'swipe',
    pin: options.pin === undefined ? PIN : options.pin,
  };
}

export const DEMO_TERMINAL_IDS = DEMO_MERCHANTS.flatMap((merchant) => merchant.terminals.map((t) => t.id));

export function merchantOf(terminalId: string): string {
  const merchant = DEMO_MERCHANTS.find((m) => m.terminals.some((t) => t.id === terminalId));
  assert.ok(merchant, `${terminalId} is a demo terminal`);
  return merchant.id;
}

export interface HostHarness {
  readonly platform: Platform;
  readonly simulator: CardNetworkSimulator;
  readonly host: TerminalHost;
  readonly port: number;
  readonly testDb: TestDatabase;
  readonly dataDir: string;
  /** A Terminal client per demo terminal (not signed in yet). */
  readonly terminals: ReadonlyMap<string, Terminal>;
  terminal(id: string): Terminal;
  /** Another Terminal client (its own connection), e.g. on the state of one above. */
  client(state: TerminalState, timeoutMs?: number): Terminal;
  /** A raw TCP connection to the host. */
  connect(): Promise<RawConnection>;
  /** Journal rows written, reversals owed sent, late approvals landed. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  paymentSettings?: Partial<PaymentSettings>;
  /** Each Terminal's reply timeout (default 10 s). */
  terminalTimeoutMs?: number;
}

export async function startHost(options: HarnessOptions = {}): Promise<HostHarness> {
  const testDb = await createTestDatabase();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tillpoint-host-test-'));
  chmodSync(dataDir, 0o755);
  const logger = createLogger({
    level: (process.env['TEST_LOG_LEVEL'] as 'warn' | undefined) ?? 'fatal',
    format: 'json',
    destination: process.stderr,
  });
  const config = loadConfig({
    DATABASE_URL: testDb.url,
    TILLPOINT_DATA_DIR: dataDir,
    TILLPOINT_ISO_PORT: '0',
    LOG_LEVEL: 'warn',
  });
  const platform = await startPlatform({
    config,
    logger,
    purpose: 'host test',
    role: 'owner',
    migrate: false,
    paymentSettings: { networkTimeoutMs: 300, ...options.paymentSettings },
  });
  await loadDemoData(platform);
  const simulator = platform.simulator;
  assert.ok(simulator, 'the built-in card network simulator');
  const host = createTerminalHost({
    db: platform.db,
    terminals: platform.terminals,
    merchants: platform.merchants,
    payments: platform.payments,
    logger,
    acquirerCode: ACQUIRER_CODE,
    now: () => platform.now(),
  });
  const port = await host.listen(0, '127.0.0.1');
  platform.payments.reversals.start(200);
  const timeoutMs = options.terminalTimeoutMs ?? 10_000;
  const clients: Terminal[] = [];
  const raws: RawConnection[] = [];
  const client = (state: TerminalState, ms = timeoutMs) => {
    const t = new Terminal({ state, endpoint: { host: '127.0.0.1', port }, timeoutMs: ms });
    clients.push(t);
    return t;
  };
  const terminals = new Map(DEMO_TERMINAL_IDS.map((id) => [id, client(newTerminalState(id))]));
  let closed = false;
  return {
    platform,
    simulator,
    host,
    port,
    testDb,
    dataDir,
    terminals,
    terminal(id) {
      const t = terminals.get(id);
      assert.ok(t, `terminal ${id}`);
      return t;
    },
    client,
    async connect() {
      const raw = await RawConnection.open(port);
      raws.push(raw);
      return raw;
    },
    async settle() {
      // Reversals owed may be stored a moment after the reply (ReversalQueue.reverseNow): wait until
      // none is pending twice in a row, a little apart.
      const deadline = Date.now() + 10_000;
      let quiet = 0;
      while (quiet < 2 && Date.now() < deadline) {
        await simulator.idle();
        await platform.payments.reversals.runDue();
        await simulator.idle();
        const pending = await platform.db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM network_reversals WHERE status = 'pending'",
        );
        quiet = pending.rows[0]!.n === 0 ? quiet + 1 : 0;
        if (quiet < 2) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await host.journal.flush();
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of clients) t.close();
      for (const raw of raws) raw.destroy();
      await host.close(1000);
      await platform.close();
      await testDb.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ---- raw connections ------------------------------------------------------------------------------

/** A TCP connection that writes any bytes and reads length-framed replies (the length removed). */
export class RawConnection {
  readonly socket: net.Socket;
  readonly #reader = new FrameReader({ maxFrameBytes: 0xffff });
  readonly #frames: Buffer[] = [];
  #waiter: (() => void) | undefined;
  #closed = false;
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.#closed = true;
        this.#waiter?.();
        resolve();
      });
    });
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      this.#reader.push(chunk, (frame) => this.#frames.push(Buffer.from(frame)));
      this.#waiter?.();
    });
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.removeListener('error', reject);
        resolve(new RawConnection(socket));
      });
    });
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next frame (without its length), or null when the connection closed or the time ran out. */
  async next(timeoutMs = 10_000): Promise<Buffer | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.#frames.shift();
      if (frame !== undefined) return frame;
      if (this.#closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          this.#waiter = undefined;
          resolve();
        };
      });
    }
  }

  /** Whether the host closed the connection within `timeoutMs`. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    if (this.#closed) return true;
    await Promise.race([this.closed, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
    return this.#closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

// ---- hand-built requests --------------------------------------------------------------------------

/** The working keys of a signed-in Terminal, decrypted from its state (field 62 under the TMK). */
export function workingKeysOf(t: Terminal): WorkingKeys {
  const record = t.state.workingKeys;
  assert.ok(record, `terminal ${t.state.terminalId} is signed in`);
  const tmk = importClearKey(Buffer.from(t.state.tmkHex, 'hex'), {
    algorithm: t.state.algorithm === 'sm4' ? 'sm4' : '3des-2key',
    usage: 'tmk',
  });
  try {
    return parseWorkingKeysField62(Buffer.from(record.field62Hex, 'hex'), tmk);
  } finally {
    tmk.destroy();
  }
}

/** Takes the Terminal's next trace, so that its own requests never reuse it. */
export function takeTrace(t: Terminal): string {
  t.state.trace = t.state.trace >= 999_999 ? 1 : t.state.trace + 1;
  return String(t.state.trace).padStart(6, '0');
}

export interface RawFinancial {
  amountMinor?: bigint | null;
  card?: CardInput;
  original?: OriginalRef | null;
  trace?: string;
  batchNo?: string;
  merchantId?: string;
  terminalId?: string;
}

/** A financial request of the Terminal's identity and batch (no field 64 yet: see `frameOf`). */
export function financialRequest(t: Terminal, type: FinancialType, input: RawFinancial = {}): PosMessage {
  const cardInput = input.card ?? card(CARDS.debit);
  const pin = cardInput.pin ?? null;
  const pinBlock = pin === null ? null : encryptPin(pin, cardInput.pan, workingKeysOf(t).pin);
  return buildFinancialRequest(t.spec, {
    type,
    identity: {
      terminalId: input.terminalId ?? t.state.terminalId,
      merchantId: input.merchantId ?? t.state.merchantId,
    },
    trace: input.trace ?? takeTrace(t),
    batchNo: input.batchNo ?? t.state.batchNo,
    amountMinor: input.amountMinor === undefined ? 1000n : input.amountMinor,
    card: cardInput,
    pinBlock,
    original: input.original ?? null,
    operator: t.state.operator,
  });
}

/**
 * The frame of a request: `mac` good (the Terminal's working MAC key), bad (one bit flipped), or
 * none (no field 64 at all).
 */
export function frameOf(
  t: Terminal,
  message: PosMessage,
  mac: 'good' | 'bad' | 'none' = 'good',
  envelope: { tpdu?: Tpdu; header?: Header } = {},
): Buffer {
  const env = { tpdu: envelope.tpdu ?? DEFAULT_TPDU, header: envelope.header ?? DEFAULT_HEADER };
  if (mac === 'none') return frameRequest(env, message, null);
  const keys = workingKeysOf(t);
  const frame = frameRequest(env, message, { key: keys.mac, algorithm: t.state.macAlgorithm });
  if (mac === 'bad') frame[frame.length - 1]! ^= 0x01;
  return frame;
}

export interface Reply {
  /** The frame as read (length removed). */
  readonly body: Buffer;
  readonly tpdu: Tpdu;
  readonly header: Header;
  readonly message: PosMessage;
  readonly code: string | undefined;
  readonly hasMac: boolean;
  /** The MAC verified under the terminal's working MAC key (false when absent or wrong). */
  readonly macValid: boolean;
}

/** Decodes a reply frame and checks its MAC (when a Terminal with keys is given). */
export function decodeReply(body: Buffer, t?: Terminal, keys?: WorkingKeys): Reply {
  const frame = parsePosFrame(body);
  const spec = t === undefined ? specFor('3des') : t.spec;
  const message = unpack(spec, frame.message) as PosMessage;
  const mac = message.get(64);
  let macValid = false;
  if (mac !== undefined && t !== undefined && (keys ?? t.state.workingKeys) !== null) {
    const k = keys ?? workingKeysOf(t);
    const data = Buffer.from(frame.message.subarray(0, frame.message.length - MAC_BYTES));
    macValid = verifyMac(data, mac, k.mac, t.state.macAlgorithm);
  }
  return {
    body,
    tpdu: frame.tpdu,
    header: frame.header,
    message,
    code: message.get(39),
    hasMac: mac !== undefined,
    macValid,
  };
}

/** Sends a frame on a raw connection and decodes the reply. */
export async function exchange(
  raw: RawConnection,
  frame: Uint8Array,
  t?: Terminal,
  keys?: WorkingKeys,
): Promise<Reply> {
  raw.write(frame);
  const body = await raw.next();
  assert.ok(body, 'the host answered');
  return decodeReply(body, t, keys);
}

// ---- money and records ----------------------------------------------------------------------------

export interface Money {
  /** Posted balance of merchant:<mid>:pending (credit normal). */
  pending: bigint;
  /** Pending (held) credits on it: pre-authorization holds. */
  pendingHeld: bigint;
  /** Posted balance of network:cup:receivable (debit normal). */
  receivable: bigint;
  /** The simulated issuer's view: debit balance, or credit used (as a negative), and holds. */
  card: bigint;
  held: bigint;
}

export async function money(h: HostHarness, merchantId: string, pan: string): Promise<Money> {
  const pending = await h.platform.ledger.balance(`merchant:${merchantId}:pending`);
  const receivable = await h.platform.ledger.balance('network:cup:receivable');
  const view = await h.simulator.getCard(new Secret(pan));
  assert.ok(view, `card ${pan.slice(0, 6)}… is known to the simulator`);
  return {
    pending: pending.postedMinor,
    pendingHeld: pending.creditsPendingMinor - pending.debitsPendingMinor,
    receivable: receivable.postedMinor,
    card: view.kind === 'debit' ? view.balanceMinor : -view.usedMinor,
    held: view.heldMinor,
  };
}

/** What changed from `before` to `after`. */
export function delta(before: Money, after: Money): Money {
  return {
    pending: after.pending - before.pending,
    pendingHeld: after.pendingHeld - before.pendingHeld,
    receivable: after.receivable - before.receivable,
    card: after.card - before.card,
    held: after.held - before.held,
  };
}

/** The ledger is sound: every entry balances, balances agree with postings, trial balance zero. */
export async function assertLedgerSound(h: { platform: Platform }): Promise<void> {
  const integrity = await h.platform.ledger.verifyIntegrity();
  assert.equal(
    integrity.ok,
    true,
    JSON.stringify(integrity, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
  );
  const trial = await h.platform.ledger.trialBalance();
  for (const total of trial.totals)
    assert.equal(total.differenceMinor, 0n, `trial balance ${total.currency}`);
}

/** Tables (name) whose rows, as text, contain `needle`. */
export async function tablesContaining(
  db: { query: TestDatabase['db']['query'] },
  needle: string,
): Promise<string[]> {
  const tables = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const found: string[] = [];
  for (const { table_name } of tables.rows) {
    const hit = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${table_name}" t WHERE t::text LIKE $1`,
      [`%${needle}%`],
    );
    if (hit.rows[0]!.n > 0) found.push(table_name);
  }
  return found;
}
