import type { PoolClient } from 'pg';
import type { Database } from './database.ts';

// Connections kept between the batches of a group commit: taking one from the pool costs a turn of
// the event loop on every batch. Kept connections go back to the pool after a short idle time, so
// that closing the pool never waits for them for long.

export class ConnectionKeeper {
  readonly #db: Database;
  readonly #max: number;
  readonly #idleMs: number;
  readonly #idle: PoolClient[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(db: Database, { max = 2, idleMs = 200 } = {}) {
    this.#db = db;
    this.#max = max;
    this.#idleMs = idleMs;
  }

  async take(): Promise<PoolClient> {
    return this.#idle.pop() ?? (await this.#db.pool.connect());
  }

  /** Keeps a healthy connection for the next batch; a broken one is destroyed. */
  give(client: PoolClient, healthy: boolean): void {
    if (!healthy) {
      client.release(true);
      return;
    }
    if (this.#idle.length >= this.#max) {
      client.release();
      return;
    }
    this.#idle.push(client);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.releaseAll(), this.#idleMs);
    this.#timer.unref();
  }

  releaseAll(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const client of this.#idle.splice(0)) client.release();
  }
}
