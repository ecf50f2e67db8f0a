import { hkdfSync } from 'node:crypto';
import { type Audit, createAudit } from './audit/index.ts';
import type { Config } from './config.ts';
import { type CardNetworkSimulator, createCardNetworkSimulator } from './connectors/card-network/index.ts';
import { type Database, migrate, type OpenedDatabase, openDatabase, pendingMigrations } from './db/index.ts';
import {
  type CardVault,
  createCardVault,
  createKeyStore,
  type KeyHandle,
  type KeyStore,
} from './keys/index.ts';
import { Ledger } from './ledger/index.ts';
import { loadMasterKey } from './master-key.ts';
import { Merchants } from './merchants/index.ts';
import { type CardNetwork, CardPayments, localFields, type PaymentSettings } from './payments/index.ts';
import { type Clock, systemClock } from './shared/clock.ts';
import type { Logger } from './shared/logger.ts';
import { Secret } from './shared/secret.ts';
import type { MasterKey } from './shared/secrets.ts';
import { Terminals } from './terminals/index.ts';

// The composition root: config → database → modules → connectors → edges. Every entry point (the
// server, each CLI command, the benchmarks) builds the platform here, so modules are wired one way.

/** The acquiring institution of this installation (field 32). */
export const ACQUIRER_CODE = '48021000';
/** Where the zone PIN key shared with the card network lives in the key store. */
export const NETWORK_KEYS_OWNER = { type: 'connector', id: 'card-network' } as const;
const SIMULATOR_KEYS_OWNER = { type: 'connector', id: 'card-network-simulator' } as const;
const SYSTEM = { type: 'system', id: 'tillpoint' } as const;

export interface Platform {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly db: Database;
  readonly database: OpenedDatabase;
  readonly masterKey: MasterKey;
  readonly audit: Audit;
  readonly ledger: Ledger;
  readonly keys: KeyStore;
  readonly cardVault: CardVault;
  readonly merchants: Merchants;
  readonly terminals: Terminals;
  readonly network: CardNetwork;
  /** The built-in card network (issuer) simulator, when that is the network in use. */
  readonly simulator: CardNetworkSimulator | undefined;
  readonly payments: CardPayments;
  /** Local time fields (12, 13) of now in the institution's time zone. */
  now(): { time: string; date: string };
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
  /** Overrides of the payment settings (timeouts, tolerances), e.g. for tests. */
  paymentSettings?: Partial<PaymentSettings>;
  /** Another card network than the built-in simulator. */
  network?: CardNetwork;
}

/**
 * The simulator's PAN-hash key: derived from the master key, so that it is stable across restarts
 * and nothing more is stored. (It is the simulated issuer's own key, never used by the acquirer.)
 */
function simulatorPanHashKey(masterKey: MasterKey): Secret<Buffer> {
  return new Secret(
    Buffer.from(
      hkdfSync(
        'sha256',
        masterKey.material.expose(),
        Buffer.alloc(0),
        'tillpoint card network simulator: pan hash',
        32,
      ),
    ),
  );
}

async function zonePinKey(keys: KeyStore): Promise<KeyHandle> {
  await keys.ensure(
    { usage: 'zpk', algorithm: '3des-2key', owner: NETWORK_KEYS_OWNER, label: 'zone PIN key' },
    SYSTEM,
  );
  return keys.activeHandle(NETWORK_KEYS_OWNER, 'zpk');
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
  let keys: KeyStore | undefined;
  let network: CardNetwork | undefined;
  try {
    const { db } = database;
    if (options.migrate ?? true) await migrate(db, logger);
    const masterKey = loadMasterKey(config, logger);
    const audit = createAudit({ clock });
    const ledger = new Ledger({ db, audit, clock, timeZone: config.timeZone });
    keys = createKeyStore({ db, audit, masterKey, clock });
    const cardVault = createCardVault({ db, audit, keys, clock, institution: ACQUIRER_CODE });
    await cardVault.ready();
    const merchants = new Merchants({ db, audit });
    const terminals = new Terminals({ db, audit, keys, merchants });
    const zpk = await zonePinKey(keys);
    let simulator: CardNetworkSimulator | undefined;
    if (options.network === undefined) {
      await keys.ensure(
        {
          usage: 'pvk',
          algorithm: 'aes-256',
          owner: SIMULATOR_KEYS_OWNER,
          label: 'simulator PIN verification key',
        },
        SYSTEM,
      );
      simulator = createCardNetworkSimulator({
        db,
        panHashKey: simulatorPanHashKey(masterKey),
        pvk: await keys.activeHandle(SIMULATOR_KEYS_OWNER, 'pvk'),
        zpk,
        clock,
        timeZone: config.timeZone,
        logger,
      });
    }
    const chosen: CardNetwork = options.network ?? simulator!;
    network = chosen;
    const payments = new CardPayments({
      db,
      ledger,
      audit,
      terminals,
      network: chosen,
      cardData: cardVault,
      zonePinKey: zpk,
      clock,
      timeZone: config.timeZone,
      logger,
      settings: { acquirerCode: ACQUIRER_CODE, ...options.paymentSettings },
    });
    const platformKeys = keys;
    const platformNetwork = chosen;
    return {
      config,
      logger,
      clock,
      db,
      database,
      masterKey,
      audit,
      ledger,
      keys,
      cardVault,
      merchants,
      terminals,
      network: chosen,
      simulator,
      payments,
      now() {
        const { time, date } = localFields(clock.now(), config.timeZone);
        return { time, date };
      },
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
      async close() {
        await payments.close();
        await platformNetwork.close();
        platformKeys.close();
        await database.close();
      },
    };
  } catch (error) {
    await network?.close().catch(() => undefined);
    keys?.close();
    await database.close().catch(() => undefined);
    throw error;
  }
}
