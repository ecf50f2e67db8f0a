import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { type Audit, createAudit } from '../audit/index.ts';
import { createTestDatabase, type TestDatabase } from '../db/testing.ts';
import { Ledger } from '../ledger/index.ts';
import { ManualClock } from '../shared/clock.ts';
import { createLogger } from '../shared/logger.ts';
import { createHttpApp, type HttpDeps } from './app.ts';
import type { Readiness } from './routes/health.ts';

// For the tests of src/http: an app over a fresh test database (run through scripts/run-tests.ts), with
// its log lines captured as parsed JSON.

export interface TestApp {
  app: FastifyInstance;
  ledger: Ledger;
  audit: Audit;
  database: TestDatabase;
  clock: ManualClock;
  /** Every log line written so far, parsed. */
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function createTestApp(
  options: { readiness?: Readiness; readinessTimeoutMs?: number } = {},
): Promise<TestApp> {
  const database = await createTestDatabase();
  const clock = new ManualClock('2026-11-26T02:00:00Z');
  const audit = createAudit({ clock });
  const ledger = new Ledger({ db: database.db, audit, clock, timeZone: 'Asia/Shanghai' });
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  const deps: HttpDeps = {
    ledger,
    audit,
    db: database.db,
    logger: createLogger({ level: 'debug', format: 'json', destination }),
    readiness: options.readiness ?? (async () => ({ ready: true, checks: { database: { ok: true } } })),
    version: '0.0.0-test',
    ...(options.readinessTimeoutMs === undefined ? {} : { readinessTimeoutMs: options.readinessTimeoutMs }),
  };
  const app = createHttpApp(deps);
  return {
    app,
    ledger,
    audit,
    database,
    clock,
    logs,
    async close() {
      await app.close();
      await database.drop();
    },
  };
}
