// The terminal's TCP link to the host: connects on first use, writes frames, and hands the frames
// it reads (length removed) to whoever waits for one, with a deadline. One request is outstanding at
// a time, as on a real terminal; a frame nobody waits for is kept (a few) so that a late reply can be
// recognised and discarded. A closed connection ends the wait (no reply) and is reopened by the next
// send.

import net from 'node:net';
import { FrameReader } from '../protocols/iso8583/index.ts';
import { TerminalError } from './errors.ts';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export const DEFAULT_ENDPOINT: Endpoint = { host: '127.0.0.1', port: 8583 };

/** `127.0.0.1:8583`, `localhost:9000`, `[::1]:8583` → an endpoint; undefined when it is not one. */
export function parseEndpoint(text: string): Endpoint | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

export function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.host.includes(':')
    ? `[${endpoint.host}]:${endpoint.port}`
    : `${endpoint.host}:${endpoint.port}`;
}

/** What the terminal needs of a link (tests may give another). */
export interface Link {
  /** Connects if needed and writes the frame. Throws TerminalError `connect_failed` when nothing was sent. */
  send(frame: Uint8Array): Promise<void>;
  /** The next frame read, or null at the deadline (performance.now() time) or when the connection closes. */
  next(deadlineMs: number): Promise<Uint8Array | null>;
  close(): void;
}

const MAX_QUEUED_FRAMES = 8;

export interface TcpLinkOptions {
  readonly connectTimeoutMs?: number;
}

export class TcpLink implements Link {
  readonly endpoint: Endpoint;
  readonly #connectTimeoutMs: number;
  #socket: net.Socket | undefined;
  #connecting: Promise<net.Socket> | undefined;
  #reader = new FrameReader();
  readonly #queue: Uint8Array[] = [];
  #waiter: ((frame: Uint8Array | null) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(endpoint: Endpoint, options: TcpLinkOptions = {}) {
    this.endpoint = endpoint;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  }

  get connected(): boolean {
    return this.#socket !== undefined;
  }

  async send(frame: Uint8Array): Promise<void> {
    const socket = this.#socket ?? (await this.#connect());
    this.#queue.length = 0;
    socket.write(frame);
  }

  next(deadlineMs: number): Promise<Uint8Array | null> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#socket === undefined) return Promise.resolve(null);
    const waitMs = deadlineMs - performance.now();
    if (waitMs <= 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#waiter = resolve;
      this.#timer = setTimeout(() => this.#deliver(null), waitMs);
    });
  }

  close(): void {
    this.#socket?.destroy();
    this.#dropSocket();
  }

  #deliver(frame: Uint8Array | null): void {
    const waiter = this.#waiter;
    if (waiter === undefined) {
      if (frame !== null) {
        if (this.#queue.length >= MAX_QUEUED_FRAMES) this.#queue.shift();
        this.#queue.push(frame);
      }
      return;
    }
    this.#waiter = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    waiter(frame);
  }

  #dropSocket(): void {
    this.#socket = undefined;
    this.#connecting = undefined;
    this.#reader = new FrameReader();
    this.#deliver(null);
  }

  #connect(): Promise<net.Socket> {
    this.#connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const where = formatEndpoint(this.endpoint);
      const socket = net.connect({ host: this.endpoint.host, port: this.endpoint.port, noDelay: true });
      const fail = (why: string) => {
        socket.destroy();
        this.#connecting = undefined;
        reject(new TerminalError('connect_failed', `cannot connect to the host at ${where}: ${why}`));
      };
      socket.setTimeout(this.#connectTimeoutMs, () => fail(`no answer in ${this.#connectTimeoutMs} ms`));
      socket.once('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message));
      socket.once('connect', () => {
        socket.setTimeout(0);
        socket.removeAllListeners('error');
        socket.on('error', () => {}); // 'close' follows and ends any wait
        socket.on('close', () => {
          if (this.#socket === socket) this.#dropSocket();
        });
        socket.on('data', (chunk: Buffer) => {
          try {
            this.#reader.push(chunk, (frame) => this.#deliver(frame));
          } catch {
            // The host's framing lies: a terminal hangs up and treats the request as unanswered.
            socket.destroy();
          }
        });
        this.#socket = socket;
        resolve(socket);
      });
    });
    return this.#connecting;
  }
}
