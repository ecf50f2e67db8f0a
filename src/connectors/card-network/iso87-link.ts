import net from 'node:net';
import type { CardNetwork, NetworkOutcome, ReversalOutcome } from '../../payments/index.ts';
import {
  FrameError,
  FrameReader,
  iso87Ascii,
  pack,
  unpack,
  writeFrame,
} from '../../protocols/iso8583/index.ts';
import { assert } from '../../shared/assert.ts';
import { TillpointError } from '../../shared/errors.ts';
import { type Logger, silentLogger } from '../../shared/logger.ts';
import { writeCoalesced } from './coalesce.ts';
import {
  decodeReply,
  decodeReversalReply,
  encodeEcho,
  encodeRequest,
  encodeReversal,
  type Iso87Message,
  matchKey,
  requestMatchKey,
} from './iso87-mapping.ts';

// The ISO 8583:1987 link to an upstream switch: a small pool of TCP connections speaking `iso87Ascii`
// in 2-byte length frames. A reply is matched to its request by response MTI + STAN (11) + terminal
// id (41) on the connection the request went out on. Every request has its own timeout; a reply that
// comes after it is logged and dropped (the caller has been told `unknown` and reverses). A broken
// connection fails what it had in flight with `link_down` and is reopened with backoff; an echo test
// (0800, 70 = 301) every echoIntervalMs keeps each connection honest. Logs carry MTI, STAN, terminal
// and response code only: never a PAN, track data or PIN block.

export interface Iso87LinkOptions {
  host: string;
  port: number;
  /** Connections kept open (default 2). */
  connections?: number;
  logger?: Logger;
  /** An echo test on each connection this often (default 30 s); 0 turns echoes off. */
  echoIntervalMs?: number;
  /** An echo unanswered this long closes its connection (default 5 s). */
  echoTimeoutMs?: number;
  /** Reconnect backoff: the first wait, doubled after each failure up to the maximum (defaults 100 ms, 5 s), with jitter. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** A connection attempt that takes longer fails (default 5 s). */
  connectTimeoutMs?: number;
  /** Largest frame accepted (default 8192 bytes). */
  maxFrameBytes?: number;
}

export interface Iso87CardNetwork extends CardNetwork {
  /** Connections open now. */
  readonly connectedCount: number;
  /** Callers' requests and reversals waiting for their replies (echo tests not counted). */
  readonly pendingCount: number;
  /** Resolves true once a connection is open (false when timeoutMs passes first). */
  waitUntilConnected(timeoutMs: number): Promise<boolean>;
}

type Exchange =
  | { kind: 'reply'; message: Iso87Message }
  | { kind: 'timeout' }
  | { kind: 'link_down'; detail: string }
  | { kind: 'malformed'; detail: string };

interface Pending {
  readonly key: string;
  readonly resolve: (exchange: Exchange) => void;
  timer: NodeJS.Timeout | undefined;
}

/** One pooled connection: its socket (while open), what it has in flight, its reconnect state. */
class Connection {
  socket: net.Socket | undefined;
  open = false;
  reader: FrameReader;
  readonly pending = new Map<string, Pending[]>();
  pendingCount = 0;
  backoffMs: number;
  reconnectTimer: NodeJS.Timeout | undefined;
  echoTimer: NodeJS.Timeout | undefined;
  failures = 0;

  readonly index: number;
  readonly maxFrameBytes: number;

  constructor(index: number, maxFrameBytes: number, backoffMs: number) {
    this.index = index;
    this.maxFrameBytes = maxFrameBytes;
    this.reader = new FrameReader({ maxFrameBytes });
    this.backoffMs = backoffMs;
  }

  add(pending: Pending): void {
    const list = this.pending.get(pending.key);
    if (list === undefined) this.pending.set(pending.key, [pending]);
    else list.push(pending);
    this.pendingCount++;
  }

  /** Takes the oldest request waiting under `key`. */
  take(key: string): Pending | undefined {
    const list = this.pending.get(key);
    const first = list?.shift();
    if (first === undefined) return undefined;
    if (list!.length === 0) this.pending.delete(key);
    this.pendingCount--;
    return first;
  }

  remove(pending: Pending): void {
    const list = this.pending.get(pending.key);
    if (list === undefined) return;
    const at = list.indexOf(pending);
    if (at < 0) return;
    list.splice(at, 1);
    if (list.length === 0) this.pending.delete(pending.key);
    this.pendingCount--;
  }

  /** Ends everything in flight with `exchange`. */
  failAll(exchange: Exchange): void {
    const all = [...this.pending.values()].flat();
    this.pending.clear();
    this.pendingCount = 0;
    for (const pending of all) {
      if (pending.timer !== undefined) clearTimeout(pending.timer);
      pending.resolve(exchange);
    }
  }

  /** The single request waiting whose key starts with `prefix`, if exactly one. */
  onlyWithPrefix(prefix: string): Pending | undefined {
    let found: Pending | undefined;
    for (const [key, list] of this.pending) {
      if (!key.startsWith(prefix)) continue;
      if (found !== undefined || list.length !== 1) return undefined;
      found = list[0];
    }
    return found;
  }
}

export function createIso87CardNetwork(options: Iso87LinkOptions): Iso87CardNetwork {
  const poolSize = options.connections ?? 2;
  assert(Number.isInteger(poolSize) && poolSize >= 1, 'connections >= 1');
  const logger = (options.logger ?? silentLogger()).child({
    component: 'card-network-link',
    upstream: `${options.host}:${options.port}`,
  });
  const echoIntervalMs = options.echoIntervalMs ?? 30_000;
  const echoTimeoutMs = options.echoTimeoutMs ?? 5_000;
  const reconnectMinMs = options.reconnectMinMs ?? 100;
  const reconnectMaxMs = options.reconnectMaxMs ?? 5_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const maxFrameBytes = options.maxFrameBytes ?? 8_192;
  const connections = Array.from(
    { length: poolSize },
    (_, i) => new Connection(i, maxFrameBytes, reconnectMinMs),
  );
  let closed = false;
  let nextConnection = 0;
  let callersWaiting = 0;
  let echoStan = Math.floor(Math.random() * 1_000_000);
  const connectedWaiters = new Set<() => void>();

  function connect(connection: Connection): void {
    if (closed) return;
    connection.reconnectTimer = undefined;
    const socket = net.connect({ host: options.host, port: options.port });
    connection.socket = socket;
    connection.reader = new FrameReader({ maxFrameBytes: connection.maxFrameBytes });
    socket.setNoDelay(true);
    socket.setTimeout(connectTimeoutMs, () => {
      if (!connection.open) socket.destroy(new Error(`connect timed out after ${connectTimeoutMs} ms`));
    });
    let failure: Exchange = { kind: 'link_down', detail: 'the connection to the network closed' };
    socket.on('connect', () => {
      socket.setTimeout(0);
      connection.open = true;
      connection.backoffMs = reconnectMinMs;
      if (connection.failures > 0)
        logger.info({ connection: connection.index }, 'card network link up again');
      connection.failures = 0;
      for (const waiter of connectedWaiters) waiter();
      scheduleEcho(connection);
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        connection.reader.push(chunk, (frame) => onFrame(connection, frame));
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
        logger.warn(
          { connection: connection.index, reason: error.reason },
          'unreadable frame from the network: closing',
        );
        failure = { kind: 'malformed', detail: `unreadable frame: ${error.reason}` };
        socket.destroy();
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (connection.failures === 0) {
        logger.warn(
          { connection: connection.index, code: error.code, message: error.message },
          'card network link error',
        );
      }
    });
    socket.on('close', () => {
      const wasOpen = connection.open;
      connection.open = false;
      connection.socket = undefined;
      if (connection.echoTimer !== undefined) clearTimeout(connection.echoTimer);
      connection.echoTimer = undefined;
      connection.failAll(closed ? { kind: 'link_down', detail: 'the link is closed' } : failure);
      if (closed) return;
      if (wasOpen) logger.warn({ connection: connection.index }, 'card network link down');
      connection.failures++;
      const wait = connection.backoffMs * (0.5 + Math.random() / 2);
      connection.backoffMs = Math.min(reconnectMaxMs, connection.backoffMs * 2);
      connection.reconnectTimer = setTimeout(() => connect(connection), wait);
    });
  }

  function onFrame(connection: Connection, frame: Uint8Array): void {
    let message: Iso87Message;
    try {
      message = unpack(iso87Ascii, frame);
    } catch (error) {
      salvage(connection, frame, (error as Error).message);
      return;
    }
    const key = matchKey(message.mti, message.get(11), message.get(41));
    const pending = connection.take(key);
    if (pending === undefined) {
      logger.info(
        {
          connection: connection.index,
          mti: message.mti,
          stan: message.get(11),
          responseCode: message.get(39),
        },
        'reply with no request waiting (late or unknown): ignored',
      );
      return;
    }
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    pending.resolve({ kind: 'reply', message });
  }

  /** A reply that does not unpack: find whose it is from the fields before the damage, if it can be told. */
  function salvage(connection: Connection, frame: Uint8Array, detail: string): void {
    let pending: Pending | undefined;
    for (const throughField of [41, 11]) {
      try {
        const partial = unpack(iso87Ascii, frame, { throughField });
        pending =
          throughField === 41
            ? connection.take(matchKey(partial.mti, partial.get(11), partial.get(41)))
            : connection.onlyWithPrefix(matchKey(partial.mti, partial.get(11), ''));
        if (pending !== undefined) break;
      } catch {
        // fewer fields readable: try with less
      }
    }
    if (pending === undefined && connection.pendingCount === 1) {
      pending = [...connection.pending.values()][0]![0];
    }
    if (pending === undefined) {
      logger.warn(
        { connection: connection.index, detail },
        'unreadable reply that matches no request: ignored',
      );
      return;
    }
    connection.remove(pending);
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    pending.resolve({ kind: 'malformed', detail });
  }

  function exchange(connection: Connection, message: Iso87Message, timeoutMs: number): Promise<Exchange> {
    const bytes = writeFrame(pack(message));
    const socket = connection.socket;
    assert(socket !== undefined && connection.open, 'exchange on an open connection');
    return new Promise((resolve) => {
      const pending: Pending = { key: requestMatchKey(message), resolve, timer: undefined };
      pending.timer = setTimeout(() => {
        connection.remove(pending);
        resolve({ kind: 'timeout' });
      }, timeoutMs);
      connection.add(pending);
      writeCoalesced(socket, bytes);
    });
  }

  function scheduleEcho(connection: Connection): void {
    if (echoIntervalMs <= 0 || closed) return;
    connection.echoTimer = setTimeout(async () => {
      if (!connection.open || closed) return;
      echoStan = (echoStan + 1) % 1_000_000;
      const result = await exchange(
        connection,
        encodeEcho(echoStan.toString().padStart(6, '0'), new Date()),
        echoTimeoutMs,
      );
      if (result.kind === 'reply' && result.message.get(39) === '00') {
        scheduleEcho(connection);
        return;
      }
      if (result.kind === 'link_down') return;
      logger.warn(
        { connection: connection.index, result: result.kind },
        'echo test failed: closing the connection',
      );
      connection.socket?.destroy();
    }, echoIntervalMs);
  }

  function pick(): Connection | undefined {
    for (let i = 0; i < connections.length; i++) {
      const connection = connections[(nextConnection + i) % connections.length]!;
      if (connection.open) {
        nextConnection = (nextConnection + i + 1) % connections.length;
        return connection;
      }
    }
    return undefined;
  }

  function checkTimeout(timeoutMs: number): void {
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new TillpointError('TILLPOINT_ERR_VALIDATION', 'timeoutMs must be a finite number >= 0', {
        param: 'timeoutMs',
      });
    }
  }

  function notReplied(result: Exclude<Exchange, { kind: 'reply' }>, timeoutMs: number) {
    switch (result.kind) {
      case 'timeout':
        return { status: 'unknown', cause: 'timeout', detail: `no reply within ${timeoutMs} ms` } as const;
      case 'link_down':
        return { status: 'unknown', cause: 'link_down', detail: result.detail } as const;
      case 'malformed':
        return { status: 'unknown', cause: 'malformed_reply', detail: result.detail } as const;
    }
  }

  const linkDown = () =>
    ({
      status: 'unknown',
      cause: 'link_down',
      detail: closed ? 'the link is closed' : `no open connection to ${options.host}:${options.port}`,
    }) as const;

  for (const connection of connections) connect(connection);

  return {
    get connectedCount() {
      return connections.filter((c) => c.open).length;
    },

    get pendingCount() {
      return callersWaiting;
    },

    waitUntilConnected(timeoutMs) {
      if (connections.some((c) => c.open)) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (value: boolean) => {
          connectedWaiters.delete(onConnect);
          clearTimeout(timer);
          resolve(value);
        };
        const onConnect = () => done(true);
        const timer = setTimeout(() => done(false), timeoutMs);
        connectedWaiters.add(onConnect);
      });
    },

    async send(request, { timeoutMs }): Promise<NetworkOutcome> {
      checkTimeout(timeoutMs);
      const message = encodeRequest(request);
      const connection = closed ? undefined : pick();
      if (connection === undefined) return linkDown();
      callersWaiting++;
      const result = await exchange(connection, message, timeoutMs).finally(() => callersWaiting--);
      if (result.kind !== 'reply') return notReplied(result, timeoutMs);
      const outcome = decodeReply(result.message, message);
      if (outcome.status === 'unknown') {
        logger.warn(
          { mti: message.mti, stan: request.stan, detail: outcome.detail },
          'malformed reply from the network',
        );
      }
      return outcome;
    },

    async reverse(reversal, { timeoutMs }): Promise<ReversalOutcome> {
      checkTimeout(timeoutMs);
      assert(Number.isInteger(reversal.attempt) && reversal.attempt >= 1, 'a reversal attempt is 1 or more');
      const message = encodeReversal(reversal);
      const connection = closed ? undefined : pick();
      if (connection === undefined) return linkDown();
      callersWaiting++;
      const result = await exchange(connection, message, timeoutMs).finally(() => callersWaiting--);
      if (result.kind !== 'reply') return notReplied(result, timeoutMs);
      return decodeReversalReply(result.message, message);
    },

    async close() {
      if (closed) return;
      closed = true;
      const closing: Promise<void>[] = [];
      for (const connection of connections) {
        if (connection.reconnectTimer !== undefined) clearTimeout(connection.reconnectTimer);
        if (connection.echoTimer !== undefined) clearTimeout(connection.echoTimer);
        const socket = connection.socket;
        if (socket !== undefined) {
          closing.push(new Promise((resolve) => socket.once('close', () => resolve())));
          socket.destroy();
        }
        connection.failAll({ kind: 'link_down', detail: 'the link is closed' });
      }
      await Promise.all(closing);
    },
  };
}
