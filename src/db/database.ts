import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { TillpointError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';

// node-postgres returns int8 as strings by default: Tillpoint reads them as bigint (money is bigint
// minor units) and dates as 'YYYY-MM-DD' strings (a business date has no time zone).
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => BigInt(value));
pg.types.setTypeParser(pg.types.builtins.DATE, (value: string) => value);

/** Anything that runs SQL: the database itself or a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

export interface Database extends Queryable {
  readonly pool: pg.Pool;
  readonly orm: NodePgDatabase;
  /** The connection URL with its password hidden, for messages. */
  readonly displayUrl: string;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  url: string;
  logger: Logger;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  applicationName?: string;
}

export function hidePassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** A pool over one PostgreSQL database; the first connection is tried at once so errors show early. */
export async function connectDatabase(options: DatabaseOptions): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    application_name: options.applicationName ?? 'tillpoint',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  const log = options.logger.child({ component: 'db' });
  let closed = false;
  pool.on('error', (error) => {
    // Connections still closing when the server stops report its shutdown: expected, not a failure.
    if (closed) log.debug({ err: error }, 'database connection closed by the server during shutdown');
    else log.error({ err: error }, 'idle database connection failed');
  });
  const displayUrl = hidePassword(options.url);
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new TillpointError(
      'TILLPOINT_ERR_DATABASE_UNREACHABLE',
      `Cannot connect to PostgreSQL at ${displayUrl}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return {
    pool,
    orm: drizzle({ client: pool }),
    displayUrl,
    query: (text, values) => pool.query(text as string, values),
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

/** The URL of another database on the same server. */
export function withDatabaseName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(name)}`;
  return parsed.toString();
}
