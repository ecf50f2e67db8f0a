import { type Audit, createAudit } from './audit/index.ts';
import type { Config } from './config.ts';
import { type Database, migrate, type OpenedDatabase, openDatabase, pendingMigrations } from './db/index.ts';
import { Ledger } from './ledger/index.ts';
import { loadMasterKey } from './master-key.ts';
import { type Clock, systemClock } from './shared/clock.ts';
import type { Logger } from './shared/logger.ts';
import type { MasterKey } from './shared/secrets.ts';

// The composition root: config → database → modules → (connectors) → edges. Every entry point (the
// server, each CLI command, the benchmarks) builds the platform here, so modules are wired one way.

export interface Platform {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly db: Database;
  readonly database: OpenedDatabase;
  readonly masterKey: MasterKey;
  readonly audit: Audit;
  readonly ledger: Ledger;
  /** Database reachable and every migration applied: what /readyz reports. */
  readiness(): Promise<{ ready: boolean; checks: Record<string, { ok: boolean; detail?: string }> }>;
  close(): Promise<void>;
}

export interface StartOptions {
  config: Config;
  logger: Logger;
  /** Shown to a second process that finds the data directory locked: `serve`, `migrate`, `demo` … */
  purpose: string;
  /** `owner` for the server; `client` for one-off commands, which use a running server's database. */
  role: 'owner' | 'client';
  /** Apply pending migrations (default true). */
  migrate?: boolean;
  clock?: Clock;
  poolSize?: number;
}

export async function startPlatform(options: StartOptions): Promise<Platform> {
  const { config, logger } = options;
  const clock = options.clock ?? systemClock;
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    logger,
    purpose: options.purpose,
    role: options.role,
    poolSize: options.poolSize,
  });
  try {
    const { db } = database;
    if (options.migrate ?? true) await migrate(db, logger);
    const masterKey = loadMasterKey(config, logger);
    const audit = createAudit({ clock });
    const ledger = new Ledger({ db, audit, clock, timeZone: config.timeZone });
    return {
      config,
      logger,
      clock,
      db,
      database,
      masterKey,
      audit,
      ledger,
      async readiness() {
        const checks: Record<string, { ok: boolean; detail?: string }> = {};
        try {
          await db.query('SELECT 1');
          checks['database'] = { ok: true };
          const pending = await pendingMigrations(db);
          checks['migrations'] =
            pending === 0 ? { ok: true } : { ok: false, detail: `${pending} migration(s) not applied` };
        } catch (error) {
          checks['database'] = { ok: false, detail: (error as Error).message };
        }
        return { ready: Object.values(checks).every((check) => check.ok), checks };
      },
      close: () => database.close(),
    };
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
}
