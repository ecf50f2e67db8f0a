import type { ActorType, Audit, AuditEvent } from '../audit/index.ts';
import { type Database, type Queryable, type Tx, transaction } from '../db/index.ts';
import type { Clock } from '../shared/clock.ts';
import { TillpointError } from '../shared/errors.ts';
import { isId, newId } from '../shared/ids.ts';
import type { Secret } from '../shared/secret.ts';
import { type MasterKey, sealedKeyId } from '../shared/secrets.ts';
import {
  combineKeyComponents,
  generateKey,
  importClearKey,
  importKeyUnderKek,
  isKeyAlgorithm,
  isKeyUsage,
  KEY_ALGORITHMS,
  KEY_USAGES,
  type KeyAlgorithm,
  type KeyHandle,
  type KeyUsage,
  openSealedKey,
  sealKey,
  splitKey,
  exportKeyUnderKek as wrapUnderKek,
} from './crypto.ts';
import { generateWorkingKeys, type WorkingKeySet } from './working-keys.ts';

// The key store: the software security module's keys at rest. Every key is a row of `keys` with its
// material sealed under the master key (seal.ts: AES-256-GCM bound to id, usage and algorithm), and
// every change writes an audit line in the same transaction. Other modules see KeyInfo (never
// material) and KeyHandles (material inside, usable only through crypto.ts operations).
//
// Caching. `handle(id)` unseals a key once and keeps the KeyHandle (with its cipher objects) in memory
// for the key's lifetime: the request path does map look-ups, never unsealing. A key's material never
// changes, so a handle cached by id is never stale. What can go stale is "which key is active for
// (owner, usage)" and "which set are a terminal's working keys": this node refreshes both itself when
// it changes a key (after the commit); a change made by another node is picked up when the caller
// says which version it expects (`activeHandle(…, { minVersion })`, `workingKeys(id, { version })`,
// e.g. the terminal row's keys_version), or asks for a refresh. A key replaced or retired is not
// destroyed at once: its handle stays usable for `retiredHandleGraceMs` (default 5 minutes, far
// above any request's lifetime) so that a request that fetched it before the change finishes with
// it, and is destroyed (material zeroed, cipher objects freed) at the first store call after that.

export type KeyOwnerType = 'terminal' | 'institution' | 'connector';
export const KEY_OWNER_TYPES: readonly KeyOwnerType[] = ['terminal', 'institution', 'connector'];
export type KeyStatus = 'active' | 'retired';

export interface KeyOwner {
  readonly type: KeyOwnerType;
  /** Terminal id (field 41), institution code, connector name… 1 to 100 of `A-Z a-z 0-9 : . _ / -`. */
  readonly id: string;
}

/** Who asks (written to the audit line), like the ledger's Actor. */
export interface KeyActor {
  readonly type: ActorType;
  readonly id: string;
  /** Where from: an IP address, a terminal id, `cli`. */
  readonly source?: string;
}

/** What the store tells about a key: never its material. */
export interface KeyInfo {
  readonly id: string;
  readonly label: string;
  readonly usage: KeyUsage;
  readonly algorithm: KeyAlgorithm;
  readonly owner: KeyOwner;
  /** 8 uppercase hex digits. */
  readonly checkValue: string;
  /** 1, 2, 3 … per (owner, usage). */
  readonly version: number;
  readonly status: KeyStatus;
  /** The master key the material is sealed under (its id, not secret). */
  readonly masterKeyId: string;
  readonly createdAt: Date;
  readonly retiredAt: Date | null;
}

export interface NewKeySpec {
  readonly usage: KeyUsage;
  readonly algorithm: KeyAlgorithm;
  readonly owner: KeyOwner;
  readonly label?: string;
}

export interface WriteOptions {
  /** Include the change in the caller's transaction (its audit line too). */
  readonly tx?: Tx;
}

export interface ImportedFromComponents {
  readonly key: KeyInfo;
  /** Each component's check value, in the order given. */
  readonly componentCheckValues: readonly string[];
}

export interface ExportedComponent {
  /** Clear component material: for the custodian's form, never for logs. */
  readonly material: Secret<Buffer>;
  readonly checkValue: string;
}

export interface IssuedWorkingKeys {
  /** The sign-in reply's field 62: the keys under the TMK with their check values (40 or 60 bytes). */
  readonly field62: Buffer;
  /** The set's version: the same for its PIN, MAC and track keys. */
  readonly version: number;
  readonly keyIds: { readonly pin: string; readonly mac: string; readonly track?: string };
  readonly pin: KeyHandle;
  readonly mac: KeyHandle;
  readonly track?: KeyHandle;
}

export interface TerminalWorkingKeys {
  readonly version: number;
  readonly keyIds: { readonly pin: string; readonly mac: string; readonly track?: string };
  readonly pin: KeyHandle;
  readonly mac: KeyHandle;
  readonly track?: KeyHandle;
}

export interface MasterKeyRotation {
  readonly previousMasterKeyId: string;
  readonly masterKeyId: string;
  /** Keys re-sealed by this rotation. */
  readonly resealed: number;
}

/**
 * The key store as the rest of Tillpoint uses it: the interface of a hardware security module, so
 * that a network HSM can take its place. Handles it returns are shared (cached): use them, never
 * `destroy()` them; the store destroys them when their key is retired.
 */
export interface KeyStore {
  /** The id of the master key new and re-sealed keys are sealed under. */
  readonly masterKeyId: string;
  /** A fresh random key. An active key of the same owner and usage is retired (new version). */
  generate(spec: NewKeySpec, actor: KeyActor, options?: WriteOptions): Promise<KeyInfo>;
  /** The active key of the owner and usage, generated first if there is none (atomically). */
  ensure(
    spec: NewKeySpec,
    actor: KeyActor,
    options?: WriteOptions,
  ): Promise<{ key: KeyInfo; created: boolean }>;
  /** A key of clear material: fixtures and tests (the demo TMK). */
  importClear(
    spec: NewKeySpec & { readonly material: Secret<Buffer>; readonly checkValue?: string },
    actor: KeyActor,
    options?: WriteOptions,
  ): Promise<KeyInfo>;
  /** A key entered as 2 or 3 components; any mismatch (a component's check value) stores nothing. */
  importFromComponents(
    spec: NewKeySpec & {
      readonly components: ReadonlyArray<{ readonly material: Secret<Buffer>; readonly checkValue?: string }>;
      /** The combined key's stated check value, when the key's form gives one. */
      readonly checkValue?: string;
    },
    actor: KeyActor,
    options?: WriteOptions,
  ): Promise<ImportedFromComponents>;
  /** A key received encrypted (ECB) under a KEK of the store, with its check value. */
  importUnderKek(
    spec: NewKeySpec & { readonly kekId: string; readonly encrypted: Buffer; readonly checkValue: string },
    actor: KeyActor,
    options?: WriteOptions,
  ): Promise<KeyInfo>;
  exportUnderKek(
    keyId: string,
    kekId: string,
    actor: KeyActor,
  ): Promise<{ encrypted: Buffer; checkValue: string }>;
  exportComponents(keyId: string, count: 2 | 3, actor: KeyActor): Promise<ExportedComponent[]>;
  /** Retires a key without replacing it (a decommissioned terminal, a compromised key). */
  retire(keyId: string, actor: KeyActor, options?: WriteOptions): Promise<KeyInfo>;
  list(filter?: { owner?: KeyOwner; usage?: KeyUsage; status?: KeyStatus }): Promise<KeyInfo[]>;
  /** Throws TILLPOINT_ERR_KEY_NOT_FOUND for an unknown id. */
  get(id: string): Promise<KeyInfo>;
  active(owner: KeyOwner, usage: KeyUsage): Promise<KeyInfo | undefined>;
  /** The key's handle, unsealed at first use and cached (retired keys too, for data under them). */
  handle(keyId: string): Promise<KeyHandle>;
  /**
   * The active key's handle for (owner, usage), cached. `minVersion`: reload when the cached key is
   * older (another node changed it); `refresh`: reload in any case.
   */
  activeHandle(
    owner: KeyOwner,
    usage: KeyUsage,
    options?: { minVersion?: number; refresh?: boolean },
  ): Promise<KeyHandle>;
  /** New working keys for a terminal at sign-in, the previous set retired in the same transaction. */
  issueWorkingKeys(
    request: { readonly terminalId: string; readonly tmkKeyId: string; readonly set: WorkingKeySet },
    actor: KeyActor,
    options?: WriteOptions,
  ): Promise<IssuedWorkingKeys>;
  /**
   * The terminal's active working keys (cached), or undefined when it has none (not signed in).
   * `version`: the version the caller expects (the terminal's keys_version); a cached set of another
   * version is reloaded, and the caller compares the version returned with the one it expects.
   */
  workingKeys(terminalId: string, options?: { version?: number }): Promise<TerminalWorkingKeys | undefined>;
  /** Re-seals every key under `newMasterKey` in one transaction; afterwards the store uses it. */
  rotateMaster(newMasterKey: MasterKey, actor: KeyActor): Promise<MasterKeyRotation>;
  /** Destroys every cached handle (process shutdown). */
  close(): void;
}

export interface KeyStoreDeps {
  readonly db: Database;
  readonly audit: Audit;
  readonly masterKey: MasterKey;
  readonly clock: Clock;
  /** How long a replaced or retired key's cached handle stays usable (default 5 minutes). */
  readonly retiredHandleGraceMs?: number;
}

export function createKeyStore(deps: KeyStoreDeps): KeyStore {
  return new SoftwareKeyStore(deps);
}

// ---- rows ------------------------------------------------------------------------------------------

interface KeyRow {
  id: string;
  label: string;
  usage: KeyUsage;
  algorithm: KeyAlgorithm;
  owner_type: KeyOwnerType;
  owner_id: string;
  check_value: string;
  version: number;
  status: KeyStatus;
  material_sealed: Buffer;
  master_key_id: string;
  created_at: Date;
  retired_at: Date | null;
}

const INFO_COLUMNS =
  'id, label, usage, algorithm, owner_type, owner_id, check_value, version, status, master_key_id, created_at, retired_at';

function toInfo(row: Omit<KeyRow, 'material_sealed'>): KeyInfo {
  return {
    id: row.id,
    label: row.label,
    usage: row.usage,
    algorithm: row.algorithm,
    owner: { type: row.owner_type, id: row.owner_id },
    checkValue: row.check_value,
    version: row.version,
    status: row.status,
    masterKeyId: row.master_key_id,
    createdAt: row.created_at,
    retiredAt: row.retired_at,
  };
}

// ---- rules -----------------------------------------------------------------------------------------

/** Working keys leave only in field 62, data keys never: neither is exported. */
const EXPORTABLE_USAGES: readonly KeyUsage[] = ['tmk', 'zmk', 'zpk', 'kek', 'pvk'];
const WORKING_USAGES: readonly KeyUsage[] = ['pin', 'mac', 'track'];
const OWNER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9:._/-]{0,99}$/;
const DEFAULT_GRACE_MS = 5 * 60_000;

function checkSpec(spec: NewKeySpec): void {
  if (typeof spec.usage !== 'string' || !isKeyUsage(spec.usage)) {
    throw new TillpointError(
      'TILLPOINT_ERR_VALIDATION',
      `usage must be one of ${KEY_USAGES.join(', ')}; got ${JSON.stringify(spec.usage)}`,
      { param: 'usage' },
    );
  }
  if (typeof spec.algorithm !== 'string' || !isKeyAlgorithm(spec.algorithm)) {
    throw new TillpointError(
      'TILLPOINT_ERR_VALIDATION',
      `algorithm must be one of ${KEY_ALGORITHMS.join(', ')}; got ${JSON.stringify(spec.algorithm)}`,
      { param: 'algorithm' },
    );
  }
  checkOwner(spec.owner);
  if (spec.label !== undefined && (spec.label.length === 0 || spec.label.length > 200)) {
    throw new TillpointError('TILLPOINT_ERR_VALIDATION', 'label must be 1 to 200 characters', {
      param: 'label',
    });
  }
}

export function checkOwner(owner: KeyOwner): void {
  if (!KEY_OWNER_TYPES.includes(owner?.type)) {
    throw new TillpointError(
      'TILLPOINT_ERR_VALIDATION',
      `owner type must be one of ${KEY_OWNER_TYPES.join(', ')}; got ${JSON.stringify(owner?.type)}`,
      { param: 'owner' },
    );
  }
  if (typeof owner.id !== 'string' || !OWNER_ID_PATTERN.test(owner.id)) {
    throw new TillpointError(
      'TILLPOINT_ERR_VALIDATION',
      'owner id must be 1 to 100 characters of A-Z a-z 0-9 : . _ / -, starting with a letter or digit',
      { param: 'owner' },
    );
  }
}

function notFound(keyId: string, param = 'keyId'): TillpointError {
  return new TillpointError('TILLPOINT_ERR_KEY_NOT_FOUND', `No key with id ${keyId} in the key store`, {
    param,
  });
}

function ownerText(owner: KeyOwner): string {
  return `${owner.type}:${owner.id}`;
}

function slotKey(owner: KeyOwner, usage: KeyUsage): string {
  return `${owner.type}\0${owner.id}\0${usage}`;
}

function auditOf(actor: KeyActor, event: Omit<AuditEvent, 'actor' | 'source'>): AuditEvent {
  return { actor: { type: actor.type, id: actor.id }, source: actor.source, ...event };
}

// ---- the software key store ------------------------------------------------------------------------

interface CacheEntry {
  readonly info: KeyInfo;
  readonly handle: KeyHandle;
  /** Set when the key was retired or replaced: destroyed at the first call after this time. */
  destroyAtMs: number | undefined;
}

interface WorkingSet extends TerminalWorkingKeys {}

class SoftwareKeyStore implements KeyStore {
  readonly #db: Database;
  readonly #audit: Audit;
  readonly #clock: Clock;
  readonly #graceMs: number;
  #masterKey: MasterKey;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #loading = new Map<string, Promise<CacheEntry>>();
  /** (owner, usage) → id of the active key, as this node last saw it. */
  readonly #activeIds = new Map<string, string>();
  /** terminal id → its working-key set, as this node last saw it. */
  readonly #working = new Map<string, WorkingSet>();
  /** Cached handles of retired keys, in the order of their destruction time (the grace is constant). */
  #retiring: Array<{ readonly id: string; readonly atMs: number }> = [];

  constructor(deps: KeyStoreDeps) {
    this.#db = deps.db;
    this.#audit = deps.audit;
    this.#clock = deps.clock;
    this.#masterKey = deps.masterKey;
    this.#graceMs = deps.retiredHandleGraceMs ?? DEFAULT_GRACE_MS;
  }

  get masterKeyId(): string {
    return this.#masterKey.id;
  }

  // ---- creating keys -------------------------------------------------------------------------------

  async generate(spec: NewKeySpec, actor: KeyActor, options: WriteOptions = {}): Promise<KeyInfo> {
    checkSpec(spec);
    const key = generateKey({ usage: spec.usage, algorithm: spec.algorithm });
    return this.#store(key, spec, actor, options, 'keys.key.generated', {});
  }

  async ensure(
    spec: NewKeySpec,
    actor: KeyActor,
    options: WriteOptions = {},
  ): Promise<{ key: KeyInfo; created: boolean }> {
    checkSpec(spec);
    const existing = await this.active(spec.owner, spec.usage, options.tx);
    if (existing !== undefined) return { key: checkEnsured(existing, spec), created: false };
    const key = generateKey({ usage: spec.usage, algorithm: spec.algorithm });
    try {
      const created = await this.#write(
        options,
        async (tx): Promise<{ key: KeyInfo; created: boolean; replaced: string[] }> => {
          await this.#lockOwner(tx, spec.owner);
          const raced = await this.active(spec.owner, spec.usage, tx);
          if (raced !== undefined) return { key: checkEnsured(raced, spec), created: false, replaced: [] };
          const info = await this.#insertReplacing(tx, key, spec, actor, 'keys.key.generated', {});
          return { key: info.key, created: true, replaced: info.replaced };
        },
        (result) => {
          if (result.created) this.#adopt(key, result.key, result.replaced);
          else key.destroy();
        },
      );
      return { key: created.key, created: created.created };
    } catch (error) {
      key.destroy();
      throw error;
    }
  }

  async importClear(
    spec: NewKeySpec & { readonly material: Secret<Buffer>; readonly checkValue?: string },
    actor: KeyActor,
    options: WriteOptions = {},
  ): Promise<KeyInfo> {
    checkSpec(spec);
    const key = importClearKey(
      spec.material,
      { usage: spec.usage, algorithm: spec.algorithm },
      { checkValue: spec.checkValue, param: 'material' },
    );
    return this.#store(key, spec, actor, options, 'keys.key.imported', { method: 'clear' });
  }

  async importFromComponents(
    spec: NewKeySpec & {
      readonly components: ReadonlyArray<{ readonly material: Secret<Buffer>; readonly checkValue?: string }>;
      readonly checkValue?: string;
    },
    actor: KeyActor,
    options: WriteOptions = {},
  ): Promise<ImportedFromComponents> {
    checkSpec(spec);
    const count = spec.components?.length ?? 0;
    if (count < 2 || count > 3) {
      throw new TillpointError(
        'TILLPOINT_ERR_VALIDATION',
        `A key is imported from 2 or 3 components; got ${count}`,
        { param: 'components' },
      );
    }
    // Everything is checked before anything is stored: a bad component leaves no row, no audit line.
    const combined = combineKeyComponents(
      spec.components.map((component) => ({
        component: component.material,
        checkValue: component.checkValue,
      })),
      { usage: spec.usage, algorithm: spec.algorithm },
      spec.checkValue === undefined ? {} : { checkValue: spec.checkValue },
    );
    const key = await this.#store(combined.key, spec, actor, options, 'keys.key.imported', {
      method: 'components',
      components: count,
      componentCheckValues: combined.componentCheckValues,
    });
    return { key, componentCheckValues: combined.componentCheckValues };
  }

  async importUnderKek(
    spec: NewKeySpec & { readonly kekId: string; readonly encrypted: Buffer; readonly checkValue: string },
    actor: KeyActor,
    options: WriteOptions = {},
  ): Promise<KeyInfo> {
    checkSpec(spec);
    const kek = await this.#current(spec.kekId, options.tx, 'kekId');
    requireActive(kek.info, 'kekId');
    const key = importKeyUnderKek(spec.encrypted, kek.handle, {
      usage: spec.usage,
      algorithm: spec.algorithm,
      checkValue: spec.checkValue,
    });
    return this.#store(key, spec, actor, options, 'keys.key.imported', { method: 'kek', kekId: spec.kekId });
  }

  /** Seals and inserts `key` (retiring the owner's active key of that usage); caches it after the commit. */
  async #store(
    key: KeyHandle,
    spec: NewKeySpec,
    actor: KeyActor,
    options: WriteOptions,
    event: string,
    details: Record<string, unknown>,
  ): Promise<KeyInfo> {
    try {
      const result = await this.#write(
        options,
        async (tx) => {
          await this.#lockOwner(tx, spec.owner);
          return this.#insertReplacing(tx, key, spec, actor, event, details);
        },
        (inserted) => this.#adopt(key, inserted.key, inserted.replaced),
      );
      return result.key;
    } catch (error) {
      key.destroy();
      throw error;
    }
  }

  async #insertReplacing(
    tx: Queryable,
    key: KeyHandle,
    spec: NewKeySpec,
    actor: KeyActor,
    event: string,
    details: Record<string, unknown>,
  ): Promise<{ key: KeyInfo; replaced: string[] }> {
    const now = this.#clock.now();
    const retired = await tx.query<{ id: string }>(
      `UPDATE keys SET status = 'retired', retired_at = $4
       WHERE owner_type = $1 AND owner_id = $2 AND usage = $3 AND status = 'active' RETURNING id`,
      [spec.owner.type, spec.owner.id, spec.usage, now],
    );
    const version = await this.#nextVersion(tx, spec.owner, [spec.usage]);
    const info = await this.#insert(tx, key, spec, version, now);
    const replaced = retired.rows.map((row) => row.id);
    await this.#audit.record(
      tx,
      auditOf(actor, {
        event,
        object: { type: 'key', id: info.id },
        details: {
          ...details,
          usage: info.usage,
          algorithm: info.algorithm,
          owner: ownerText(info.owner),
          label: info.label,
          version: info.version,
          checkValue: info.checkValue,
          ...(replaced.length > 0 ? { retiredKeyIds: replaced } : {}),
        },
      }),
    );
    return { key: info, replaced };
  }

  async #insert(
    tx: Queryable,
    key: KeyHandle,
    spec: NewKeySpec,
    version: number,
    now: Date,
  ): Promise<KeyInfo> {
    const id = newId(now.getTime());
    const sealed = sealKey(key, id, this.#masterKey);
    const result = await tx.query<KeyRow>(
      `INSERT INTO keys (id, label, usage, algorithm, owner_type, owner_id, check_value, version, status,
                         material_sealed, master_key_id, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $10, $11) RETURNING ${INFO_COLUMNS}`,
      [
        id,
        spec.label ?? `${spec.usage} of ${ownerText(spec.owner)}`,
        key.usage,
        key.algorithm,
        spec.owner.type,
        spec.owner.id,
        key.checkValue,
        version,
        sealed,
        this.#masterKey.id,
        now,
      ],
    );
    return toInfo(result.rows[0]!);
  }

  async #nextVersion(tx: Queryable, owner: KeyOwner, usages: readonly KeyUsage[]): Promise<number> {
    const result = await tx.query<{ version: number }>(
      `SELECT coalesce(max(version), 0)::int AS version FROM keys
       WHERE owner_type = $1 AND owner_id = $2 AND usage = ANY($3)`,
      [owner.type, owner.id, usages],
    );
    return result.rows[0]!.version + 1;
  }

  /** Serialises key changes of one owner (versions, the one active key per usage). */
  async #lockOwner(tx: Queryable, owner: KeyOwner): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `tillpoint-keys/${owner.type}/${owner.id}`,
    ]);
  }

  /**
   * Runs `fn` in the caller's transaction or a new one; `committed` runs after the commit (the
   * caches change only for what is durable).
   */
  async #write<T>(
    options: WriteOptions,
    fn: (tx: Tx) => Promise<T>,
    committed: (result: T) => void,
  ): Promise<T> {
    if (options.tx !== undefined) {
      const tx = options.tx;
      const result = await fn(tx);
      tx.afterCommit(() => committed(result));
      return result;
    }
    const result = await transaction(this.#db, fn);
    committed(result);
    return result;
  }

  // ---- exporting and retiring ----------------------------------------------------------------------

  async exportUnderKek(
    keyId: string,
    kekId: string,
    actor: KeyActor,
  ): Promise<{ encrypted: Buffer; checkValue: string }> {
    const key = await this.#current(keyId, undefined, 'keyId');
    requireExportable(key.info);
    const kek = await this.#current(kekId, undefined, 'kekId');
    requireActive(kek.info, 'kekId');
    const wrapped = wrapUnderKek(key.handle, kek.handle);
    await transaction(this.#db, (tx) =>
      this.#audit.record(
        tx,
        auditOf(actor, {
          event: 'keys.key.exported',
          object: { type: 'key', id: keyId },
          details: {
            method: 'kek',
            kekId,
            usage: key.info.usage,
            owner: ownerText(key.info.owner),
            checkValue: wrapped.checkValue,
          },
        }),
      ),
    );
    return { encrypted: wrapped.keyUnderKek, checkValue: wrapped.checkValue };
  }

  async exportComponents(keyId: string, count: 2 | 3, actor: KeyActor): Promise<ExportedComponent[]> {
    if (count !== 2 && count !== 3) {
      throw new TillpointError(
        'TILLPOINT_ERR_VALIDATION',
        `A key is exported as 2 or 3 components; got ${String(count)}`,
        { param: 'count' },
      );
    }
    const key = await this.#current(keyId, undefined, 'keyId');
    requireExportable(key.info);
    const components = splitKey(key.handle, count);
    try {
      await transaction(this.#db, (tx) =>
        this.#audit.record(
          tx,
          auditOf(actor, {
            event: 'keys.key.exported',
            object: { type: 'key', id: keyId },
            details: {
              method: 'components',
              components: count,
              componentCheckValues: components.map((component) => component.checkValue),
              usage: key.info.usage,
              owner: ownerText(key.info.owner),
              checkValue: key.info.checkValue,
            },
          }),
        ),
      );
    } catch (error) {
      for (const component of components) component.component.expose().fill(0);
      throw error;
    }
    return components.map((component) => ({
      material: component.component,
      checkValue: component.checkValue,
    }));
  }

  async retire(keyId: string, actor: KeyActor, options: WriteOptions = {}): Promise<KeyInfo> {
    const info = await this.get(keyId, options.tx);
    if (info.status === 'retired') return info;
    return this.#write(
      options,
      async (tx) => {
        await this.#lockOwner(tx, info.owner);
        const result = await tx.query<KeyRow>(
          `UPDATE keys SET status = 'retired', retired_at = $2 WHERE id = $1 AND status = 'active'
           RETURNING ${INFO_COLUMNS}`,
          [keyId, this.#clock.now()],
        );
        const row = result.rows[0];
        if (row === undefined) return this.get(keyId, tx);
        await this.#audit.record(
          tx,
          auditOf(actor, {
            event: 'keys.key.retired',
            object: { type: 'key', id: keyId },
            details: { usage: row.usage, owner: `${row.owner_type}:${row.owner_id}`, version: row.version },
          }),
        );
        return toInfo(row);
      },
      (retired) => {
        this.#retireCached(retired.id);
        const slot = slotKey(retired.owner, retired.usage);
        if (this.#activeIds.get(slot) === retired.id) this.#activeIds.delete(slot);
        if (retired.owner.type === 'terminal') this.#forgetWorkingSet(retired.owner.id);
      },
    );
  }

  // ---- reading -------------------------------------------------------------------------------------

  async list(filter: { owner?: KeyOwner; usage?: KeyUsage; status?: KeyStatus } = {}): Promise<KeyInfo[]> {
    const values: unknown[] = [];
    const conditions: string[] = [];
    if (filter.owner !== undefined) {
      checkOwner(filter.owner);
      values.push(filter.owner.type, filter.owner.id);
      conditions.push(`owner_type = $${values.length - 1} AND owner_id = $${values.length}`);
    }
    if (filter.usage !== undefined) {
      values.push(filter.usage);
      conditions.push(`usage = $${values.length}`);
    }
    if (filter.status !== undefined) {
      values.push(filter.status);
      conditions.push(`status = $${values.length}`);
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const result = await this.#db.query<KeyRow>(
      `SELECT ${INFO_COLUMNS} FROM keys ${where} ORDER BY owner_type, owner_id, usage, version`,
      values,
    );
    return result.rows.map(toInfo);
  }

  async get(id: string, db: Queryable = this.#db, param = 'keyId'): Promise<KeyInfo> {
    if (typeof id !== 'string' || !isId(id)) throw notFound(String(id), param);
    const result = await db.query<KeyRow>(`SELECT ${INFO_COLUMNS} FROM keys WHERE id = $1`, [id]);
    const row = result.rows[0];
    if (row === undefined) throw notFound(id, param);
    return toInfo(row);
  }

  /**
   * A key's handle with its status read now (not from the cache): for ceremonies and sign-ins, where
   * a key retired a moment ago on another node must be refused.
   */
  async #current(
    keyId: string,
    db: Queryable | undefined,
    param: string,
  ): Promise<{ info: KeyInfo; handle: KeyHandle }> {
    const info = await this.get(keyId, db ?? this.#db, param);
    const entry = await this.#entry(keyId, db, param);
    return { info, handle: entry.handle };
  }

  async active(owner: KeyOwner, usage: KeyUsage, db: Queryable = this.#db): Promise<KeyInfo | undefined> {
    checkOwner(owner);
    const result = await db.query<KeyRow>(
      `SELECT ${INFO_COLUMNS} FROM keys
       WHERE owner_type = $1 AND owner_id = $2 AND usage = $3 AND status = 'active'`,
      [owner.type, owner.id, usage],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : toInfo(row);
  }

  // ---- handles -------------------------------------------------------------------------------------

  async handle(keyId: string): Promise<KeyHandle> {
    this.#sweep();
    const cached = this.#cache.get(keyId);
    if (cached !== undefined) return cached.handle;
    return (await this.#entry(keyId, undefined, 'keyId')).handle;
  }

  async activeHandle(
    owner: KeyOwner,
    usage: KeyUsage,
    options: { minVersion?: number; refresh?: boolean } = {},
  ): Promise<KeyHandle> {
    this.#sweep();
    const slot = slotKey(owner, usage);
    if (options.refresh !== true) {
      const id = this.#activeIds.get(slot);
      const cached = id === undefined ? undefined : this.#cache.get(id);
      if (
        cached !== undefined &&
        (options.minVersion === undefined || cached.info.version >= options.minVersion)
      )
        return cached.handle;
    }
    const previous = this.#activeIds.get(slot);
    const result = await this.#db.query<KeyRow>(
      `SELECT * FROM keys WHERE owner_type = $1 AND owner_id = $2 AND usage = $3 AND status = 'active'`,
      [owner.type, owner.id, usage],
    );
    const row = result.rows[0];
    if (previous !== undefined && previous !== row?.id) {
      this.#retireCached(previous);
      this.#activeIds.delete(slot);
    }
    if (row === undefined) {
      checkOwner(owner);
      throw new TillpointError(
        'TILLPOINT_ERR_KEY_NOT_FOUND',
        `No active ${usage} key for ${ownerText(owner)} in the key store`,
        { param: 'owner' },
      );
    }
    const entry = this.#cache.get(row.id) ?? this.#open(row);
    this.#activeIds.set(slot, row.id);
    return entry.handle;
  }

  /** The cache entry of a key, unsealing it once (concurrent callers share one unsealing). */
  async #entry(keyId: string, db: Queryable | undefined, param: string): Promise<CacheEntry> {
    const cached = this.#cache.get(keyId);
    if (cached !== undefined) return cached;
    if (typeof keyId !== 'string' || !isId(keyId)) {
      throw new TillpointError(
        'TILLPOINT_ERR_KEY_NOT_FOUND',
        `No key with id ${String(keyId)} in the key store`,
        {
          param,
        },
      );
    }
    let loading = this.#loading.get(keyId);
    if (loading === undefined) {
      loading = (async () => {
        const result = await (db ?? this.#db).query<KeyRow>('SELECT * FROM keys WHERE id = $1', [keyId]);
        const row = result.rows[0];
        if (row === undefined) {
          throw new TillpointError(
            'TILLPOINT_ERR_KEY_NOT_FOUND',
            `No key with id ${keyId} in the key store`,
            {
              param,
            },
          );
        }
        return this.#cache.get(keyId) ?? this.#open(row);
      })();
      this.#loading.set(keyId, loading);
      loading.then(
        () => this.#loading.delete(keyId),
        () => this.#loading.delete(keyId),
      );
    }
    return loading;
  }

  /** Unseals a row into the cache. A retired key is cached for the grace period only. */
  #open(row: KeyRow): CacheEntry {
    const handle = this.#unseal(row, this.#masterKey);
    const entry: CacheEntry = { info: toInfo(row), handle, destroyAtMs: undefined };
    this.#cache.set(row.id, entry);
    if (row.status === 'retired') this.#retireCached(row.id);
    return entry;
  }

  #unseal(row: KeyRow, masterKey: MasterKey): KeyHandle {
    const sealedUnder = sealedKeyId(row.material_sealed);
    if (sealedUnder !== masterKey.id) {
      throw new TillpointError(
        'TILLPOINT_ERR_SEALED_DATA_INVALID',
        `Key ${row.label} (${row.id}) is sealed under master key ${sealedUnder}, not the current master key ${masterKey.id}: start this node with the master key the store uses`,
        { param: 'masterKey' },
      );
    }
    try {
      return openSealedKey(
        row.material_sealed,
        { keyId: row.id, usage: row.usage, algorithm: row.algorithm, checkValue: row.check_value },
        masterKey,
      );
    } catch (error) {
      if (!(error instanceof TillpointError)) throw error;
      throw new TillpointError(error.code, `Key ${row.label} (${row.id}) does not open: ${error.message}`, {
        param: 'keyId',
        cause: error,
      });
    }
  }

  /** Caches a key this node just stored (no unsealing), and retires what it replaced. */
  #adopt(handle: KeyHandle, info: KeyInfo, replaced: readonly string[]): void {
    this.#cache.set(info.id, { info, handle, destroyAtMs: undefined });
    for (const id of replaced) this.#retireCached(id);
    this.#activeIds.set(slotKey(info.owner, info.usage), info.id);
    if (info.owner.type === 'terminal' && WORKING_USAGES.includes(info.usage)) {
      this.#forgetWorkingSet(info.owner.id);
    }
  }

  /** Marks a cached handle for destruction after the grace period (in-flight users finish first). */
  #retireCached(id: string): void {
    const entry = this.#cache.get(id);
    if (entry === undefined || entry.destroyAtMs !== undefined) return;
    entry.destroyAtMs = this.#clock.now().getTime() + this.#graceMs;
    this.#retiring.push({ id, atMs: entry.destroyAtMs });
  }

  #forgetWorkingSet(terminalId: string): void {
    this.#working.delete(terminalId);
  }

  /** Destroys the handles whose grace period is over. Cheap when there is nothing to do. */
  #sweep(): void {
    const first = this.#retiring[0];
    if (first === undefined) return;
    const now = this.#clock.now().getTime();
    if (now < first.atMs) return;
    let due = 0;
    while (due < this.#retiring.length && this.#retiring[due]!.atMs <= now) {
      const { id } = this.#retiring[due]!;
      const entry = this.#cache.get(id);
      entry?.handle.destroy();
      this.#cache.delete(id);
      due++;
    }
    this.#retiring = this.#retiring.slice(due);
    for (const [terminalId, set] of this.#working) {
      if (set.pin.destroyed || set.mac.destroyed || set.track?.destroyed === true)
        this.#working.delete(terminalId);
    }
  }

  // ---- working keys --------------------------------------------------------------------------------

  async issueWorkingKeys(
    request: { readonly terminalId: string; readonly tmkKeyId: string; readonly set: WorkingKeySet },
    actor: KeyActor,
    options: WriteOptions = {},
  ): Promise<IssuedWorkingKeys> {
    const owner: KeyOwner = { type: 'terminal', id: request.terminalId };
    checkOwner(owner);
    if (request.set !== 'pin+mac' && request.set !== 'pin+mac+track') {
      throw new TillpointError(
        'TILLPOINT_ERR_KEY_SET_UNSUPPORTED',
        `set must be pin+mac or pin+mac+track; got ${JSON.stringify(request.set)}`,
        { param: 'set' },
      );
    }
    const tmk = await this.#current(request.tmkKeyId, options.tx, 'tmkKeyId');
    if (tmk.info.usage !== 'tmk') {
      throw new TillpointError(
        'TILLPOINT_ERR_KEY_USAGE_MISMATCH',
        `tmkKeyId is a ${tmk.info.usage} key; working keys are issued under a tmk key`,
        { param: 'tmkKeyId' },
      );
    }
    if (tmk.info.owner.type !== 'terminal' || tmk.info.owner.id !== request.terminalId) {
      throw new TillpointError(
        'TILLPOINT_ERR_KEY_USAGE_MISMATCH',
        `tmkKeyId is the TMK of ${ownerText(tmk.info.owner)}, not of terminal ${request.terminalId}`,
        { param: 'tmkKeyId' },
      );
    }
    requireActive(tmk.info, 'tmkKeyId');
    const { keys, field62 } = generateWorkingKeys(request.set, tmk.handle);
    const made: Array<[KeyUsage, KeyHandle]> = [
      ['pin', keys.pin],
      ['mac', keys.mac],
    ];
    if (keys.track !== undefined) made.push(['track', keys.track]);
    try {
      const issued = await this.#write(
        options,
        async (tx) => {
          await this.#lockOwner(tx, owner);
          const now = this.#clock.now();
          const retired = await tx.query<{ id: string }>(
            `UPDATE keys SET status = 'retired', retired_at = $3
             WHERE owner_type = 'terminal' AND owner_id = $1 AND usage = ANY($2) AND status = 'active'
             RETURNING id`,
            [request.terminalId, WORKING_USAGES, now],
          );
          const version = await this.#nextVersion(tx, owner, WORKING_USAGES);
          const infos: KeyInfo[] = [];
          for (const [usage, key] of made) {
            infos.push(
              await this.#insert(
                tx,
                key,
                {
                  usage,
                  algorithm: key.algorithm,
                  owner,
                  label: `${usage} key of terminal ${request.terminalId}`,
                },
                version,
                now,
              ),
            );
          }
          const replaced = retired.rows.map((row) => row.id);
          await this.#audit.record(
            tx,
            auditOf(actor, {
              event: 'keys.working_keys.issued',
              object: { type: 'terminal', id: request.terminalId },
              details: {
                set: request.set,
                version,
                tmkKeyId: request.tmkKeyId,
                issued: infos.map((info) => ({
                  usage: info.usage,
                  keyId: info.id,
                  checkValue: info.checkValue,
                })),
                ...(replaced.length > 0 ? { retiredKeyIds: replaced } : {}),
              },
            }),
          );
          return { version, infos, replaced };
        },
        ({ version, infos, replaced }) => {
          infos.forEach((info, i) => {
            this.#cache.set(info.id, { info, handle: made[i]![1], destroyAtMs: undefined });
            this.#activeIds.set(slotKey(owner, info.usage), info.id);
          });
          for (const id of replaced) this.#retireCached(id);
          if (keys.track === undefined) this.#activeIds.delete(slotKey(owner, 'track'));
          this.#working.set(request.terminalId, workingSet(version, infos, keys));
        },
      );
      const set = workingSet(issued.version, issued.infos, keys);
      return { field62, ...set };
    } catch (error) {
      for (const [, key] of made) key.destroy();
      throw error;
    }
  }

  async workingKeys(
    terminalId: string,
    options: { version?: number } = {},
  ): Promise<TerminalWorkingKeys | undefined> {
    this.#sweep();
    const cached = this.#working.get(terminalId);
    if (cached !== undefined && (options.version === undefined || cached.version === options.version))
      return cached;
    const result = await this.#db.query<KeyRow>(
      `SELECT * FROM keys WHERE owner_type = 'terminal' AND owner_id = $1 AND usage = ANY($2) AND status = 'active'`,
      [terminalId, WORKING_USAGES],
    );
    const byUsage = new Map(result.rows.map((row) => [row.usage, row]));
    const pin = byUsage.get('pin');
    const mac = byUsage.get('mac');
    let track = byUsage.get('track');
    if (track !== undefined && track.version !== pin?.version) track = undefined;
    const current =
      pin !== undefined && mac !== undefined && pin.version === mac.version ? { pin, mac, track } : undefined;
    if (cached !== undefined) {
      const keep = new Set([current?.pin.id, current?.mac.id, current?.track?.id]);
      for (const id of Object.values(cached.keyIds)) if (!keep.has(id)) this.#retireCached(id);
      this.#working.delete(terminalId);
    }
    if (current === undefined) return undefined;
    const rows = [current.pin, current.mac, ...(current.track === undefined ? [] : [current.track])];
    const entries = rows.map((row) => this.#cache.get(row.id) ?? this.#open(row));
    for (const entry of entries)
      this.#activeIds.set(slotKey(entry.info.owner, entry.info.usage), entry.info.id);
    const set = workingSet(
      current.pin.version,
      entries.map((entry) => entry.info),
      {
        pin: entries[0]!.handle,
        mac: entries[1]!.handle,
        ...(entries[2] === undefined ? {} : { track: entries[2].handle }),
      },
    );
    this.#working.set(terminalId, set);
    return set;
  }

  // ---- master key rotation -------------------------------------------------------------------------

  async rotateMaster(newMasterKey: MasterKey, actor: KeyActor): Promise<MasterKeyRotation> {
    const current = this.#masterKey;
    if (newMasterKey.id === current.id) {
      throw new TillpointError(
        'TILLPOINT_ERR_MASTER_KEY_INVALID',
        `The new master key is the current one (${current.id}): nothing to rotate`,
        { param: 'newMasterKey' },
      );
    }
    const resealed = await transaction(this.#db, async (tx) => {
      // No key may be added or changed while every key is re-sealed: writers wait for the commit.
      await tx.query('LOCK TABLE keys IN EXCLUSIVE MODE');
      const result = await tx.query<KeyRow>('SELECT * FROM keys ORDER BY id');
      const unknown = result.rows.filter((row) => {
        const under = sealedKeyIdOrNull(row.material_sealed);
        return under !== current.id && under !== newMasterKey.id;
      });
      if (unknown.length > 0) {
        const named = unknown
          .slice(0, 10)
          .map(
            (row) =>
              `${row.label} (${row.id}, sealed under ${sealedKeyIdOrNull(row.material_sealed) ?? 'an unknown format'})`,
          )
          .join('; ');
        throw new TillpointError(
          'TILLPOINT_ERR_SEALED_DATA_INVALID',
          `${unknown.length} key(s) are sealed under neither the current master key ${current.id} nor the new one: ${named}${unknown.length > 10 ? '; …' : ''}. Nothing was re-sealed`,
          { param: 'masterKey' },
        );
      }
      const ids: string[] = [];
      const sealed: Buffer[] = [];
      for (const row of result.rows) {
        const under = sealedKeyIdOrNull(row.material_sealed);
        // Already under the new key (sealed by a node that has it): check that it opens, keep it.
        const key = this.#unseal(row, under === newMasterKey.id ? newMasterKey : current);
        try {
          if (under === current.id) {
            ids.push(row.id);
            sealed.push(sealKey(key, row.id, newMasterKey));
          }
        } finally {
          key.destroy();
        }
      }
      if (ids.length > 0) {
        await tx.query(
          `UPDATE keys AS k SET material_sealed = v.sealed, master_key_id = $3
           FROM unnest($1::uuid[], $2::bytea[]) AS v(id, sealed) WHERE k.id = v.id`,
          [ids, sealed, newMasterKey.id],
        );
      }
      await this.#audit.record(
        tx,
        auditOf(actor, {
          event: 'keys.master_key.rotated',
          object: { type: 'master_key', id: newMasterKey.id },
          details: {
            previousMasterKeyId: current.id,
            masterKeyId: newMasterKey.id,
            resealed: ids.length,
            keysInStore: result.rows.length,
          },
        }),
      );
      return ids.length;
    });
    this.#masterKey = newMasterKey;
    return { previousMasterKeyId: current.id, masterKeyId: newMasterKey.id, resealed };
  }

  close(): void {
    for (const entry of this.#cache.values()) entry.handle.destroy();
    this.#cache.clear();
    this.#activeIds.clear();
    this.#working.clear();
    this.#retiring = [];
  }
}

function sealedKeyIdOrNull(sealed: Uint8Array): string | null {
  try {
    return sealedKeyId(sealed);
  } catch {
    return null;
  }
}

function workingSet(
  version: number,
  infos: readonly KeyInfo[],
  keys: { readonly pin: KeyHandle; readonly mac: KeyHandle; readonly track?: KeyHandle },
): WorkingSet {
  const idOf = (usage: KeyUsage) => infos.find((info) => info.usage === usage)?.id;
  const track = idOf('track');
  return {
    version,
    keyIds:
      track === undefined
        ? { pin: idOf('pin')!, mac: idOf('mac')! }
        : { pin: idOf('pin')!, mac: idOf('mac')!, track },
    pin: keys.pin,
    mac: keys.mac,
    ...(keys.track === undefined ? {} : { track: keys.track }),
  };
}

function requireActive(info: KeyInfo, param: string): void {
  if (info.status !== 'active') {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_RETIRED',
      `${param}: the ${info.usage} key ${info.id} of ${ownerText(info.owner)} is retired; use the active one`,
      { param },
    );
  }
}

function requireExportable(info: KeyInfo): void {
  if (!EXPORTABLE_USAGES.includes(info.usage)) {
    const why =
      info.usage === 'data'
        ? 'data keys never leave the key store'
        : 'terminal working keys leave the key store only in field 62 at sign-in';
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_USAGE_MISMATCH',
      `keyId is a ${info.usage} key; ${why} (exportable: ${EXPORTABLE_USAGES.join(', ')})`,
      { param: 'keyId' },
    );
  }
}

function checkEnsured(existing: KeyInfo, spec: NewKeySpec): KeyInfo {
  if (existing.algorithm !== spec.algorithm) {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH',
      `The active ${spec.usage} key of ${ownerText(spec.owner)} is ${existing.algorithm}, not ${spec.algorithm}`,
      { param: 'algorithm' },
    );
  }
  return existing;
}
