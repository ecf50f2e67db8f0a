import net from 'node:net';
import {
  FrameError,
  FrameReader,
  iso87Ascii,
  pack,
  unpack,
  writeFrame,
} from '../../protocols/iso8583/index.ts';
import { type Logger, silentLogger } from '../../shared/logger.ts';
import { writeCoalesced } from './coalesce.ts';
import type { FaultDecision } from './faults.ts';
import {
  decodeRequest,
  decodeReversal,
  encodeEchoReply,
  encodeReply,
  encodeReversalReply,
  type Iso87Message,
} from './iso87-mapping.ts';
import type { CardNetworkSimulator } from './simulator.ts';

// The simulator as an upstream switch: a TCP server speaking the same ISO 8583:1987 (`iso87Ascii`,
// 2-byte length frames) as the link, so that the link is tested end to end on loopback. Each request
// goes to the simulator's issuer; the card's behaviour and the fault injector decide whether, when
// and how the reply goes back: never (no-answer card, dropped request or reply), late (late-approval
// card: the approval lands and is sent lateReplyMs after the request), delayed, or garbled.

export interface SimulatorServerOptions {
  simulator: CardNetworkSimulator;
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  logger?: Logger;
  /** A late-approval card's approval lands, and its reply is sent, this long after the request (default 45 s). */
  lateReplyMs?: number;
  maxFrameBytes?: number;
}

export interface SimulatorServer {
  readonly port: number;
  /** Connections open now. */
  readonly connectionCount: number;
  /** Drops every open connection (the link sees its connections go down); the server keeps listening. */
  dropConnections(): void;
  /** Stops listening, drops every connection and every reply still to be sent. */
  close(): Promise<void>;
}

const FINANCIAL_MTIS = new Set(['0100', '0101', '0200', '0201', '0220', '0221']);
const REVERSAL_MTIS = new Set(['0420', '0421']);
/** What a garbled reply carries after its last field. */
const GARBAGE = Buffer.from('\u0000GARBLED', 'latin1');

export async function startSimulatorServer(options: SimulatorServerOptions): Promise<SimulatorServer> {
  const { simulator } = options;
  const logger = (options.logger ?? silentLogger()).child({ component: 'card-network-simulator-server' });
  const lateReplyMs = options.lateReplyMs ?? 45_000;
  const maxFrameBytes = options.maxFrameBytes ?? 8_192;
  const sockets = new Set<net.Socket>();
  /** Replies waiting to be sent late, with what ends their wait (false: the server closed). */
  const timers = new Map<NodeJS.Timeout, (goOn: boolean) => void>();
  let closed = false;

  function later(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve(!closed);
      }, ms);
      timers.set(timer, resolve);
    });
  }

  async function send(socket: net.Socket, reply: Iso87Message, fault: FaultDecision): Promise<void> {
    if (fault.dropReply) return;
    if (fault.delayMs > 0 && !(await later(fault.delayMs))) return;
    if (socket.destroyed) return;
    let body = pack(reply);
    if (fault.malformReply) body = Buffer.concat([body, GARBAGE]);
    writeCoalesced(socket, writeFrame(body));
  }

  async function financial(socket: net.Socket, message: Iso87Message): Promise<void> {
    const decoded = decodeRequest(message, new Date());
    if (!decoded.ok) {
      logger.warn(
        { mti: message.mti, stan: message.get(11), detail: decoded.detail },
        'request not understood: 30',
      );
      writeCoalesced(
        socket,
        writeFrame(
          pack(encodeReply(message, { status: 'declined', responseCode: '30', reason: 'format_error' })),
        ),
      );
      return;
    }
    const request = decoded.request;
    const fault = simulator.faults.decide({
      kind: 'request',
      operation: request.operation,
      stan: request.stan,
      rrn: request.rrn,
      terminalId: request.terminalId,
    });
    if (fault.dropRequest) return;
    let answer = await simulator.authorize(request);
    if (answer.kind === 'late') {
      if (!(await later(lateReplyMs))) return;
      answer = await simulator.authorize(request, { late: true });
    }
    if (answer.kind !== 'answer') return; // never answers
    await send(socket, encodeReply(message, answer.outcome), fault);
  }

  async function reversal(socket: net.Socket, message: Iso87Message): Promise<void> {
    const decoded = decodeReversal(message, new Date());
    if (!decoded.ok) {
      logger.warn(
        { mti: message.mti, stan: message.get(11), detail: decoded.detail },
        'reversal not understood: 30',
      );
      writeCoalesced(socket, writeFrame(pack(encodeReversalReply(message, '30'))));
      return;
    }
    const original = decoded.reversal.original;
    const fault = simulator.faults.decide({
      kind: 'reversal',
      operation: original.operation,
      stan: original.stan,
      rrn: original.rrn,
      terminalId: original.terminalId,
    });
    if (fault.dropRequest) return;
    const recorded = await simulator.applyReversal(decoded.reversal);
    await send(socket, encodeReversalReply(message, recorded ? '00' : '96'), fault);
  }

  function onFrame(socket: net.Socket, frame: Uint8Array): void {
    let message: Iso87Message;
    try {
      message = unpack(iso87Ascii, frame);
    } catch (error) {
      logger.warn({ detail: (error as Error).message }, 'unreadable message from the link: ignored');
      return;
    }
    const work = FINANCIAL_MTIS.has(message.mti)
      ? financial(socket, message)
      : REVERSAL_MTIS.has(message.mti)
        ? reversal(socket, message)
        : message.mti === '0800'
          ? Promise.resolve(void writeCoalesced(socket, writeFrame(pack(encodeEchoReply(message)))))
          : Promise.resolve(logger.warn({ mti: message.mti }, 'message type not handled: ignored'));
    work.catch((error: unknown) => {
      logger.error(
        { err: error, mti: message.mti, stan: message.get(11) },
        'simulator server failed on a message',
      );
    });
  }

  const server = net.createServer((socket) => {
    if (closed) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.setNoDelay(true);
    const reader = new FrameReader({ maxFrameBytes });
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, (frame) => onFrame(socket, frame));
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
        logger.warn({ reason: error.reason }, 'framing error from the link: closing the connection');
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  return {
    port,
    get connectionCount() {
      return sockets.size;
    },
    dropConnections() {
      for (const socket of sockets) socket.destroy();
    },
    async close() {
      closed = true;
      for (const [timer, resolve] of timers) {
        clearTimeout(timer);
        resolve(false);
      }
      timers.clear();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await stopped;
    },
  };
}
