// The database foundation: one PostgreSQL (embedded by default, or DATABASE_URL), migrations and the
// transaction helper. Modules declare their tables in their own schema.ts.

export { freePort } from '../shared/ports.ts';
export { arrayElement, arrayLiteral } from './arrays.ts';
export {
  connectDatabase,
  type Database,
  hidePassword,
  type Queryable,
  withDatabaseName,
} from './database.ts';
export { ensureDataDir, lockDataDir, readLock } from './datadir.ts';
export { type EmbeddedServer, startEmbedded } from './embedded.ts';
export { ConnectionKeeper } from './keeper.ts';
export { MIGRATIONS_FOLDER, migrate, pendingMigrations } from './migrate.ts';
export { clusterDirOf, type OpenedDatabase, openDatabase } from './open.ts';
export { isRetryable, type TransactionOptions, type Tx, transaction } from './transaction.ts';
