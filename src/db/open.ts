import path from 'node:path';
import type { Logger } from '../shared/logger.ts';
import { connectDatabase, type Database } from './database.ts';
import { ensureDataDir, lockDataDir, readLock } from './datadir.ts';
import { type EmbeddedServer, runningServerUrl, startEmbedded } from './embedded.ts';

export interface OpenDatabaseOptions {
  /** DATABASE_URL: use that server and start nothing. */
  databaseUrl: string | undefined;
  dataDir: string;
  logger: Logger;
  /** What holds the data directory, shown to a second process that finds it locked (`serve`, `migrate` …). */
  purpose: string;
  /**
   * `owner` (serve) always starts its own embedded server and fails if another process holds the data
   * directory. `client` (one-off CLI commands) uses the server of a running `tillpoint serve` when
   * there is one, and otherwise starts the embedded server for the command's duration.
   */
  role: 'owner' | 'client';
  poolSize?: number;
}

export interface OpenedDatabase {
  readonly db: Database;
  /** Set when this process started the embedded server. */
  readonly embedded: EmbeddedServer | undefined;
  close(): Promise<void>;
}

export function clusterDirOf(dataDir: string): string {
  return path.join(dataDir, 'pg');
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<OpenedDatabase> {
  const { logger } = options;
  if (options.databaseUrl !== undefined) {
    const db = await connectDatabase({ url: options.databaseUrl, logger, poolSize: options.poolSize });
    return { db, embedded: undefined, close: () => db.close() };
  }
  ensureDataDir(options.dataDir);
  const clusterDir = clusterDirOf(options.dataDir);
  if (options.role === 'client' && readLock(options.dataDir) !== undefined) {
    const url = runningServerUrl(clusterDir);
    if (url !== undefined) {
      const db = await connectDatabase({ url, logger, poolSize: options.poolSize });
      return { db, embedded: undefined, close: () => db.close() };
    }
  }
  const lock = lockDataDir(options.dataDir, options.purpose);
  let embedded: EmbeddedServer | undefined;
  try {
    embedded = await startEmbedded({ clusterDir, logger });
    const db = await connectDatabase({ url: embedded.url, logger, poolSize: options.poolSize });
    const server = embedded;
    return {
      db,
      embedded,
      async close() {
        await db.close().catch(() => undefined);
        await server.stop();
        lock.release();
      },
    };
  } catch (error) {
    await embedded?.stop().catch(() => undefined);
    lock.release();
    throw error;
  }
}
