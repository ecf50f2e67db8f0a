import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ServeProcess, startServe } from '../src/shared/testing.ts';

// End to end, across processes: `tillpoint serve` on a fresh data directory with the embedded
// PostgreSQL, the CLI beside it, a second server refused, and a clean stop.

const CLI = path.resolve('src/cli/main.ts');
let dataDir: string;
let port: number;
let isoPort: number;
let server: ChildProcess;
let serve: ServeProcess;

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { DATABASE_URL: _unused, ...rest } = process.env;
  return {
    ...rest,
    TILLPOINT_DATA_DIR: dataDir,
    TILLPOINT_HTTP_PORT: String(port),
    TILLPOINT_ISO_PORT: String(isoPort),
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

function cli(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { env: env(), encoding: 'utf8', timeout: 60_000 });
}

before(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'tillpoint-serve-'));
  chmodSync(dataDir, 0o755);
  serve = await startServe({
    cli: CLI,
    env: (ports) => {
      port = ports.httpPort;
      isoPort = ports.isoPort;
      return env();
    },
    timeoutMs: 60_000,
  });
  server = serve.child;
});

after(async () => {
  if (server.exitCode === null) server.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('tillpoint serve', () => {
  it('prints a banner with the URLs and where the data lives', () => {
    assert.match(serve.output(), new RegExp(`API docs   http://127\\.0\\.0\\.1:${port}/docs`));
    assert.match(serve.output(), new RegExp(`data       ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.match(serve.output(), /embedded PostgreSQL in .*\/pg \(port \d+\)/);
    assert.match(serve.output(), /demo data {2}loaded/);
  });

  it('serves /healthz, /readyz and /docs', async () => {
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 200);
    const docs = await fetch(`http://127.0.0.1:${port}/docs`);
    assert.equal(docs.status, 200);
    assert.match(docs.headers.get('content-type') ?? '', /text\/html/);
  });

  it('answers the CLI beside it from the same database: the trial balance is zero', () => {
    const result = cli('ledger', 'trial-balance');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /merchant:102314054110001:pending/);
    assert.match(result.stdout, /difference ¥0\.00/);
  });

  it('loads demo data once: `tillpoint demo` again changes nothing', () => {
    const result = cli('demo');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /nothing changed/);
  });

  it('refuses a second server on the same data directory, at once and clearly', () => {
    const second = spawnSync(process.execPath, [CLI, 'serve'], {
      env: env({ TILLPOINT_HTTP_PORT: '0', TILLPOINT_ISO_PORT: '0' }),
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(second.status, 1);
    assert.match(second.stderr, /^tillpoint: The data directory .* is in use by `tillpoint serve` \(pid \d+/);
    assert.equal(second.stderr.trim().split('\n').length, 1);
  });

  it('answers a bad command line with one line and a non-zero exit', () => {
    const result = cli('ledger', 'balance', 'no-such-account');
    assert.equal(result.status, 1);
    assert.equal(result.stderr.trim(), 'tillpoint: No ledger account with code no-such-account [code]');
  });

  it('stops cleanly on SIGTERM, database included', async () => {
    server.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) =>
      server.once('exit', (exitCode) => resolve(exitCode)),
    );
    assert.equal(code, 0, serve.output());
    assert.equal(existsSync(path.join(dataDir, 'pg', 'postmaster.pid')), false, 'the database was stopped');
    assert.doesNotMatch(serve.output(), /"level":"error"/);
    // The data directory is free again: a one-off command starts (and stops) its own server.
    const result = cli('ledger', 'verify');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /ledger sound/);
  });
});
