// Runs the test suite against one PostgreSQL server for the whole run: the embedded server (started
// here in a throwaway folder) or, with TEST_DATABASE_URL, that server. It migrates a template database
// once; each test file then creates its own database from it (src/db/testing.ts).
//
//   node scripts/run-tests.ts                 every src/**/*.test.ts and test/**/*.test.ts
//   node scripts/run-tests.ts src/ledger/     only the tests under a folder (or given files)

import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { EmbeddedServer } from '../src/db/index.ts';
import { connectDatabase, migrate, startEmbedded, withDatabaseName } from '../src/db/index.ts';
import { TEST_SERVER_ENV, TEST_TEMPLATE_ENV } from '../src/db/testing.ts';
import { createLogger, silentLogger } from '../src/shared/logger.ts';

const logger = createLogger({ level: process.env['TEST_LOG_LEVEL'] === undefined ? 'warn' : 'info' });
const args = process.argv.slice(2);
const patterns =
  args.length === 0
    ? ['src/**/*.test.ts', 'test/**/*.test.ts']
    : args.map((arg) => (arg.endsWith('.ts') ? arg : `${arg.replace(/\/$/, '')}/**/*.test.ts`));

const runId = `tp_test_${process.pid}_${Date.now().toString(36)}`;
const template = `${runId}_tpl`;
let embedded: EmbeddedServer | undefined;
let scratchDir: string | undefined;
let serverUrl = process.env['TEST_DATABASE_URL'];

async function adminQuery(sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

async function cleanUp(): Promise<void> {
  if (serverUrl !== undefined) {
    try {
      const left = await adminQuery(`SELECT datname FROM pg_database WHERE datname LIKE '${runId}%'`);
      for (const row of left.rows as Array<{ datname: string }>) {
        await adminQuery(`DROP DATABASE IF EXISTS "${row.datname}" WITH (FORCE)`);
      }
    } catch (error) {
      console.error(`could not drop the test databases: ${(error as Error).message}`);
    }
  }
  await embedded?.stop();
  if (scratchDir !== undefined) rmSync(scratchDir, { recursive: true, force: true });
}

async function main(): Promise<number> {
  if (serverUrl === undefined) {
    scratchDir = mkdtempSync(path.join(os.tmpdir(), 'tillpoint-test-'));
    chmodSync(scratchDir, 0o755); // reachable by the `postgres` user when the tests run as root
    embedded = await startEmbedded({
      clusterDir: path.join(scratchDir, 'pg'),
      logger,
      // A throwaway cluster: durability buys nothing here, speed does.
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300' },
    });
    serverUrl = embedded.url;
  }
  const version = await adminQuery('SHOW server_version');
  console.log(
    `tests on PostgreSQL ${version.rows[0].server_version} (${embedded ? 'embedded' : 'TEST_DATABASE_URL'})`,
  );
  await adminQuery(`CREATE DATABASE "${template}"`);
  const db = await connectDatabase({ url: withDatabaseName(serverUrl, template), logger: silentLogger() });
  try {
    await migrate(db, logger);
  } finally {
    await db.close();
  }
  const concurrency = Math.max(2, os.availableParallelism());
  const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...patterns], {
    stdio: 'inherit',
    env: { ...process.env, [TEST_SERVER_ENV]: serverUrl, [TEST_TEMPLATE_ENV]: template },
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  console.error(`test run failed: ${(error as Error).stack ?? error}`);
} finally {
  await cleanUp();
}
process.exit(exitCode);
