import { sql } from 'drizzle-orm';
import {
  check,
  customType,
  index,
  integer,
  pgTable,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

// The keys module's tables: the key store (every key sealed under the master key) and the card data
// it protects (PAN tokens and the vault). Only src/keys reads or writes them.

const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => 'bytea',
});

export const keyUsages = ['tmk', 'pin', 'mac', 'track', 'zpk', 'zmk', 'kek', 'data', 'pvk'] as const;
export const keyAlgorithms = ['3des-2key', '3des-3key', 'sm4', 'aes-256'] as const;
export const keyOwnerTypes = ['terminal', 'institution', 'connector'] as const;
export const keyStatuses = ['active', 'retired'] as const;

const list = (values: readonly string[]) => sql.raw(values.map((value) => `'${value}'`).join(', '));

/**
 * One row per key and version. The material is sealed under the master key (AES-256-GCM, associated
 * data = id, usage and algorithm: see seal.ts), so a row's material copied to another row, or a row
 * relabelled, does not open. At most one active key per (owner, usage); retired keys stay (their
 * material still sealed) for data encrypted under them and for the record.
 */
export const keyStore = pgTable(
  'keys',
  {
    id: uuid('id').primaryKey(),
    label: text('label').notNull(),
    usage: text('usage', { enum: keyUsages }).notNull(),
    algorithm: text('algorithm', { enum: keyAlgorithms }).notNull(),
    ownerType: text('owner_type', { enum: keyOwnerTypes }).notNull(),
    ownerId: text('owner_id').notNull(),
    /** 8 uppercase hex digits (keys module `checkValue`). Not secret. */
    checkValue: text('check_value').notNull(),
    /** 1, 2, 3 … per (owner, usage); a terminal's working-key set shares one version. */
    version: integer('version').notNull(),
    status: text('status', { enum: keyStatuses }).notNull().default('active'),
    /** `sealKey` output: version ‖ master key id ‖ IV ‖ tag ‖ ciphertext. Never clear. */
    materialSealed: bytea('material_sealed').notNull(),
    /** Id of the master key that sealed `material_sealed` (also inside it): what a rotation looks for. */
    masterKeyId: text('master_key_id').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    retiredAt: timestamp('retired_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('keys_one_active').on(t.ownerType, t.ownerId, t.usage).where(sql`${t.status} = 'active'`),
    unique('keys_version').on(t.ownerType, t.ownerId, t.usage, t.version),
    check('keys_usage', sql`${t.usage} IN (${list(keyUsages)})`),
    check('keys_algorithm', sql`${t.algorithm} IN (${list(keyAlgorithms)})`),
    check('keys_owner_type', sql`${t.ownerType} IN (${list(keyOwnerTypes)})`),
    check('keys_owner_id', sql`length(${t.ownerId}) BETWEEN 1 AND 100`),
    check('keys_label', sql`length(${t.label}) BETWEEN 1 AND 200`),
    check('keys_status', sql`${t.status} IN (${list(keyStatuses)})`),
    check('keys_retired_at', sql`(${t.status} = 'retired') = (${t.retiredAt} IS NOT NULL)`),
    check('keys_check_value', sql`${t.checkValue} ~ '^[0-9A-F]{8}$'`),
    check('keys_version_positive', sql`${t.version} >= 1`),
    check('keys_master_key_id', sql`${t.masterKeyId} ~ '^[0-9a-f]{16}$'`),
  ],
);

/**
 * One token per PAN: found by the keyed hash of the PAN (HMAC-SHA256 under the institution's
 * PAN-hash key), shown as the masked PAN. No column holds the PAN.
 */
export const cardTokens = pgTable(
  'card_tokens',
  {
    token: text('token').primaryKey(),
    /** HMAC-SHA256 of the PAN under the PAN-hash key, 64 lowercase hex digits. */
    panHash: text('pan_hash').notNull(),
    /** The key `pan_hash` was computed under (re-hashing after a rotation needs to know). */
    panHashKeyId: uuid('pan_hash_key_id')
      .notNull()
      .references(() => keyStore.id),
    /** First 6 and last 4 digits, the rest `*`. */
    panMasked: text('pan_masked').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (t) => [
    unique('card_tokens_pan_hash').on(t.panHash),
    check('card_tokens_token', sql`${t.token} ~ '^tok_[A-Za-z0-9_-]{22}$'`),
    check('card_tokens_pan_hash_format', sql`${t.panHash} ~ '^[0-9a-f]{64}$'`),
    check('card_tokens_pan_masked', sql`${t.panMasked} ~ '^[0-9]{6}[*]{2,9}[0-9]{4}$'`),
  ],
);

/**
 * The PAN, encrypted, for the tokens whose later flows need it back (refund to card). AES-256-GCM
 * under the institution's vault key (`key_id`), associated data = the token. Reading is audited.
 */
export const cardVault = pgTable(
  'card_vault',
  {
    token: text('token')
      .primaryKey()
      .references(() => cardTokens.token),
    keyId: uuid('key_id')
      .notNull()
      .references(() => keyStore.id),
    /** IV (12) ‖ tag (16) ‖ ciphertext. */
    panEncrypted: bytea('pan_encrypted').notNull(),
    storedAt: timestamp('stored_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('card_vault_key').on(t.keyId)],
);
