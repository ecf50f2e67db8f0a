import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { FrameError, FrameReader } from '../protocols/iso8583/index.ts';
import type { Logger } from '../shared/logger.ts';
import type { Journal } from './journal.ts';
import type { Pipeline } from './pipeline.ts';

// The TCP server terminals connect to. Each connection is independent: its own frame reader, its
// requests answered in order, one at a time (as terminals send them); a framing error closes that
// connection only. Reading pauses while a connection has requests queued or its replies are not
// being read (backpressure); an idle connection is closed.

export interface HostServerOptions {
  pipeline: Pipeline;
  journal: Journal;
  logger: Logger;
  /** Close a connection after this long without a byte (default 5 minutes). */
  idleTimeoutMs?: number;
  /** The largest frame accepted (default 2048 bytes, as the profile says). */
  maxFrameBytes?: number;
  /** Requests read ahead per connection before reading pauses (default 4). */
  maxQueued?: number;
}

export class HostServer {
  readonly #options: Required<HostServerOptions>;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #busy = new Set<Promise<void>>();
  #closing = false;

  constructor(options: HostServerOptions) {
    this.#options = { idleTimeoutMs: 300_000, maxFrameBytes: 2048, maxQueued: 4, ...options };
    this.#server = createServer((socket) => this.#accept(socket));
    this.#server.on('error', (error) =>
      this.#options.logger.error({ err: error }, 'terminal host server error'),
    );
  }

  async listen(port: number, host: string): Promise<number> {
    this.#server.listen(port, host);
    await once(this.#server, 'listening');
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : port;
  }

  get connections(): number {
    return this.#sockets.size;
  }

  #accept(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const { pipeline, journal, logger, idleTimeoutMs, maxFrameBytes, maxQueued } = this.#options;
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    const reader = new FrameReader({ maxFrameBytes });
    socket.setTimeout(idleTimeoutMs, () => socket.end());
    socket.on('error', (error) => logger.debug({ err: error, remote }, 'terminal connection error'));
    socket.on('close', () => {
      this.#sockets.delete(socket);
      if (reader.bufferedBytes > 0 && !framingFailed) {
        // The terminal hung up in the middle of a frame.
        journal.record({
          direction: 'in',
          remote,
          outcome: 'framing_error',
          dump: `connection closed with ${reader.bufferedBytes} bytes of an incomplete frame`,
        });
      }
    });
    const queue: Uint8Array[] = [];
    let framingFailed = false;
    let draining = false;

    const drain = async () => {
      draining = true;
      try {
        while (queue.length > 0 && !socket.destroyed) {
          const frame = queue.shift()!;
          const handled = await pipeline.handle(frame, remote);
          if (handled.reply !== undefined && !socket.destroyed && !socket.write(handled.reply)) {
            await Promise.race([once(socket, 'drain'), once(socket, 'close')]);
          }
          if (handled.close) {
            framingFailed = true; // journalled by the pipeline
            socket.destroy();
          }
          if (socket.isPaused() && queue.length < maxQueued && !socket.destroyed) socket.resume();
        }
      } finally {
        draining = false;
      }
    };

    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, (frame) => queue.push(frame));
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
        framingFailed = true;
        journal.record({ direction: 'in', remote, outcome: 'framing_error', dump: error.message });
        socket.destroy();
        return;
      }
      if (queue.length >= maxQueued) socket.pause();
      if (!draining && queue.length > 0) {
        const work = drain().catch((error: unknown) => {
          logger.error({ err: error, remote }, 'terminal connection failed');
          socket.destroy();
        });
        this.#busy.add(work);
        void work.finally(() => this.#busy.delete(work));
      }
    });
  }

  /**
   * Stops accepting connections, lets the requests being processed finish (at most `drainMs`), then
   * closes every connection.
   */
  async close(drainMs = 10_000): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.pause();
    await Promise.race([
      Promise.allSettled([...this.#busy]),
      new Promise((resolve) => setTimeout(resolve, drainMs).unref()),
    ]);
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }
}
