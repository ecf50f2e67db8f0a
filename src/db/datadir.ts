import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { TillpointError } from '../shared/errors.ts';

// The data directory holds the embedded PostgreSQL cluster (pg/), the generated master key and a
// lock file that keeps two Tillpoint processes from owning the same cluster.

const LOCK_FILE = 'tillpoint.lock';

export interface LockInfo {
  pid: number;
  purpose: string;
  startedAt: string;
}

/** Creates the data directory if needed and checks that this process can write in it. */
export function ensureDataDir(dataDir: string): void {
  try {
    // 0755: when Tillpoint runs as root, the unprivileged `postgres` user must reach pg/ inside it.
    mkdirSync(dataDir, { recursive: true, mode: 0o755 });
    accessSync(dataDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new TillpointError(
      'TILLPOINT_ERR_DATA_DIR_NOT_WRITABLE',
      `The data directory ${dataDir} cannot be created or written (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); set TILLPOINT_DATA_DIR to a writable folder`,
      { param: 'TILLPOINT_DATA_DIR' },
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Who holds the data directory's lock, if a live process does. */
export function readLock(dataDir: string): LockInfo | undefined {
  const file = path.join(dataDir, LOCK_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const info = JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
    return typeof info.pid === 'number' && isAlive(info.pid) ? info : undefined;
  } catch {
    return undefined;
  }
}

export interface DataDirLock {
  release(): void;
}

/**
 * Takes the data directory's lock, or fails at once naming the process that holds it. A lock left by
 * a process that no longer runs (a crash) is taken over.
 */
export function lockDataDir(dataDir: string, purpose: string): DataDirLock {
  const file = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      const info: LockInfo = { pid: process.pid, purpose, startedAt: new Date().toISOString() };
      writeSync(fd, `${JSON.stringify(info)}\n`);
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        const holder = readLock(dataDir);
        if (holder?.pid === process.pid) rmSync(file, { force: true });
      };
      process.once('exit', release);
      return { release };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new TillpointError(
          'TILLPOINT_ERR_DATA_DIR_NOT_WRITABLE',
          `Cannot create the lock file ${file}: ${(error as Error).message}`,
          { param: 'TILLPOINT_DATA_DIR' },
        );
      }
      const holder = readLock(dataDir);
      if (holder !== undefined) {
        throw new TillpointError(
          'TILLPOINT_ERR_DATA_DIR_LOCKED',
          `The data directory ${dataDir} is in use by \`tillpoint ${holder.purpose}\` (pid ${holder.pid}, since ${holder.startedAt}); stop it first, or set TILLPOINT_DATA_DIR to another folder`,
          { param: 'TILLPOINT_DATA_DIR' },
        );
      }
      rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw new TillpointError('TILLPOINT_ERR_DATA_DIR_LOCKED', `Cannot take the lock file ${file}`, {
    param: 'TILLPOINT_DATA_DIR',
  });
}
