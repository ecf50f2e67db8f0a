import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import { assert } from '../shared/assert.ts';
import type { Database, Queryable } from './database.ts';

// The one transaction helper every module uses. It retries the transaction when PostgreSQL aborts it
// for a serialization failure or a deadlock (both safe to retry: nothing was committed), a bounded
// number of times with jittered backoff. Work that must run only once the commit is durable (replies,
// events, caches) is registered with `afterCommit`.

export interface Tx extends Queryable {
  readonly client: pg.PoolClient;
  /** Drizzle over this transaction's connection. */
  readonly orm: NodePgDatabase;
  /** Runs `fn` after the transaction committed (never if it rolls back). */
  afterCommit(fn: () => void): void;
}

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

export interface TransactionOptions {
  isolation?: IsolationLevel;
  readOnly?: boolean;
  /** Attempts in all, the first included (default 5). */
  maxAttempts?: number;
}

const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected

export function isRetryable(error: unknown): boolean {
  return RETRYABLE.has((error as { code?: string } | null)?.code ?? '');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function transaction<T>(
  db: Database,
  fn: (tx: Tx) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 5;
  assert(maxAttempts >= 1, 'maxAttempts >= 1');
  const begin = `BEGIN ISOLATION LEVEL ${(options.isolation ?? 'read committed').toUpperCase()}${options.readOnly ? ' READ ONLY' : ''}`;
  for (let attempt = 1; ; attempt++) {
    const client = await db.pool.connect();
    const callbacks: Array<() => void> = [];
    let result: T;
    try {
      await client.query(begin);
      const tx: Tx = {
        client,
        get orm() {
          return drizzle({ client });
        },
        query: (text, values) => client.query(text as string, values),
        afterCommit: (callback) => {
          callbacks.push(callback);
        },
      };
      result = await fn(tx);
      await client.query('COMMIT');
      client.release();
    } catch (error) {
      // A connection whose ROLLBACK fails is unusable: it is destroyed, not returned to the pool.
      const rolledBack = await client.query('ROLLBACK').then(
        () => true,
        () => false,
      );
      client.release(!rolledBack);
      if (attempt < maxAttempts && isRetryable(error)) {
        await sleep(Math.random() * 5 * 2 ** attempt);
        continue;
      }
      throw error;
    }
    for (const callback of callbacks) callback();
    return result;
  }
}
