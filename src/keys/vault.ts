import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import type { Audit } from '../audit/index.ts';
import { type Database, type Queryable, type Tx, transaction } from '../db/index.ts';
import type { Clock } from '../shared/clock.ts';
import { TillpointError } from '../shared/errors.ts';
import { maskPan } from '../shared/redact.ts';
import { Secret } from '../shared/secret.ts';
import { hmacKeyOf, type KeyHandle, materialOf } from './key-handle.ts';
import type { KeyActor, KeyOwner, KeyStore } from './store.ts';

// Card data protection (architecture.md, "Data rules"): a full PAN is never stored in clear. What is
// kept instead is
//   - a keyed hash, HMAC-SHA256 under the institution's PAN-hash key, to find a card again;
//   - the masked PAN (first 6, last 4), to show;
//   - a random token (`tok_…`), one per PAN, that other tables refer to;
//   - for the tokens whose later flows need the PAN back (refund to card), the PAN encrypted with
//     AES-256-GCM under the institution's vault key, associated data = the token. Reading it back is
//     audited.
// The two keys are `data` keys of the key store (AES-256), created on first use: the PAN-hash key
// for owner `institution:<code>:pan-hash`, the vault key for `institution:<code>:pan-vault`. Two keys,
// not one, so that each key serves one purpose (a MAC key is never an encryption key).
//
// The PAN-hash key is not rotated: the hash is how a card is found, so a new key would give every
// known card a second token. (Rotating it means re-hashing from the vault: out of scope here.) The
// vault key may be rotated (`tillpoint keys generate`): each vault row names the key it is under.

export interface ProtectedPan {
  /** HMAC-SHA256 of the PAN under the PAN-hash key, 64 lowercase hex digits. */
  readonly panHash: string;
  /** `622202******0013`. */
  readonly panMasked: string;
}

export interface CardToken {
  /** `tok_` + 22 random base64url characters. */
  readonly token: string;
  readonly panMasked: string;
  /** False when the PAN had a token already (the same one is returned). */
  readonly created: boolean;
}

export interface CardVault {
  /** Loads (creating on first use) the PAN-hash and vault keys; call once before `protectPan`. */
  ready(): Promise<void>;
  /** Keyed hash and masked PAN. Synchronous (the hot path): throws until `ready()` has resolved. */
  protectPan(pan: Secret<string>): ProtectedPan;
  /** The PAN's token, made on first sight (one per PAN, found by the keyed hash). */
  tokenize(pan: Secret<string>, options?: { tx?: Tx }): Promise<CardToken>;
  /** Keeps the PAN encrypted for `token` (idempotent): only for flows that need it back. */
  vaultStore(token: string, pan: Secret<string>, options?: { tx?: Tx }): Promise<void>;
  /** The PAN kept for `token`; writes an audit line (who, why) before it returns. */
  vaultReveal(token: string, actor: KeyActor, reason: string): Promise<Secret<string>>;
}

export interface CardVaultDeps {
  readonly db: Database;
  readonly audit: Audit;
  readonly keys: KeyStore;
  readonly clock: Clock;
  /** The institution's code (the acquiring institution code of field 32): owner of the data keys. */
  readonly institution: string;
}

const SYSTEM_ACTOR: KeyActor = { type: 'system', id: 'keys.card-vault' };
const PAN_PATTERN = /^[0-9]{12,19}$/;
const TOKEN_PATTERN = /^tok_[A-Za-z0-9_-]{22}$/;
const HASH_CONTEXT = 'tillpoint-pan-hash-v1\0';
const VAULT_CONTEXT = 'tillpoint-pan-vault-v1\0';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function createCardVault(deps: CardVaultDeps): CardVault {
  return new SoftwareCardVault(deps);
}

function panDigits(pan: Secret<string>): string {
  const digits = pan instanceof Secret ? pan.expose() : undefined;
  if (typeof digits !== 'string' || !PAN_PATTERN.test(digits)) {
    throw new TillpointError(
      'TILLPOINT_ERR_VALIDATION',
      `pan must be 12 to 19 digits in a Secret; got ${typeof digits === 'string' ? `${digits.length} characters` : 'something else'}`,
      { param: 'pan' },
    );
  }
  return digits;
}

function checkToken(token: string): void {
  if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) {
    throw new TillpointError('TILLPOINT_ERR_CARD_TOKEN_NOT_FOUND', 'No such card token', { param: 'token' });
  }
}

class SoftwareCardVault implements CardVault {
  readonly #db: Database;
  readonly #audit: Audit;
  readonly #keys: KeyStore;
  readonly #clock: Clock;
  readonly #hashOwner: KeyOwner;
  readonly #vaultOwner: KeyOwner;
  #hashKey: { readonly id: string; readonly handle: KeyHandle } | undefined;
  #readying: Promise<void> | undefined;

  constructor(deps: CardVaultDeps) {
    this.#db = deps.db;
    this.#audit = deps.audit;
    this.#keys = deps.keys;
    this.#clock = deps.clock;
    this.#hashOwner = { type: 'institution', id: `${deps.institution}:pan-hash` };
    this.#vaultOwner = { type: 'institution', id: `${deps.institution}:pan-vault` };
  }

  ready(): Promise<void> {
    this.#readying ??= (async () => {
      const hash = await this.#keys.ensure(
        { usage: 'data', algorithm: 'aes-256', owner: this.#hashOwner, label: 'PAN hash key (HMAC-SHA256)' },
        SYSTEM_ACTOR,
      );
      await this.#vaultKey();
      this.#hashKey = { id: hash.key.id, handle: await this.#keys.handle(hash.key.id) };
    })();
    this.#readying.catch(() => {
      this.#readying = undefined;
    });
    return this.#readying;
  }

  async #vaultKey(): Promise<{ id: string; handle: KeyHandle }> {
    const vault = await this.#keys.ensure(
      { usage: 'data', algorithm: 'aes-256', owner: this.#vaultOwner, label: 'PAN vault key (AES-256-GCM)' },
      SYSTEM_ACTOR,
    );
    return { id: vault.key.id, handle: await this.#keys.handle(vault.key.id) };
  }

  protectPan(pan: Secret<string>): ProtectedPan {
    const digits = panDigits(pan);
    const hashKey = this.#hashKey;
    if (hashKey === undefined) {
      throw new TillpointError(
        'TILLPOINT_ERR_UNAVAILABLE',
        'Card data protection is not ready: await cardVault.ready() at start-up',
      );
    }
    const panHash = createHmac('sha256', hmacKeyOf(hashKey.handle))
      .update(HASH_CONTEXT)
      .update(digits, 'ascii')
      .digest('hex');
    return { panHash, panMasked: maskPan(digits) };
  }

  async tokenize(pan: Secret<string>, options: { tx?: Tx } = {}): Promise<CardToken> {
    const { panHash, panMasked } = this.protectPan(pan);
    const db: Queryable = options.tx ?? this.#db;
    const found = await db.query<{ token: string }>('SELECT token FROM card_tokens WHERE pan_hash = $1', [
      panHash,
    ]);
    if (found.rows[0] !== undefined) return { token: found.rows[0].token, panMasked, created: false };
    const token = `tok_${randomBytes(16).toString('base64url')}`;
    const inserted = await db.query<{ token: string }>(
      `INSERT INTO card_tokens (token, pan_hash, pan_hash_key_id, pan_masked, created_at)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (pan_hash) DO NOTHING RETURNING token`,
      [token, panHash, this.#hashKey!.id, panMasked, this.#clock.now()],
    );
    if (inserted.rows[0] !== undefined) return { token, panMasked, created: true };
    // Another request tokenized the same PAN at the same moment: its token is the one.
    const raced = await db.query<{ token: string }>('SELECT token FROM card_tokens WHERE pan_hash = $1', [
      panHash,
    ]);
    return { token: raced.rows[0]!.token, panMasked, created: false };
  }

  async vaultStore(token: string, pan: Secret<string>, options: { tx?: Tx } = {}): Promise<void> {
    checkToken(token);
    const { panHash } = this.protectPan(pan);
    const db: Queryable = options.tx ?? this.#db;
    const row = await db.query<{ pan_hash: string }>('SELECT pan_hash FROM card_tokens WHERE token = $1', [
      token,
    ]);
    if (row.rows[0] === undefined) {
      throw new TillpointError('TILLPOINT_ERR_CARD_TOKEN_NOT_FOUND', `No card token ${token}`, {
        param: 'token',
      });
    }
    if (row.rows[0].pan_hash !== panHash) {
      throw new TillpointError('TILLPOINT_ERR_VALIDATION', `pan is not the card of token ${token}`, {
        param: 'pan',
      });
    }
    const vaultKey = await this.#vaultKey();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', materialOf(vaultKey.handle), iv, {
      authTagLength: TAG_BYTES,
    });
    cipher.setAAD(Buffer.from(VAULT_CONTEXT + token, 'ascii'));
    const clear = Buffer.from(panDigits(pan), 'ascii');
    const ciphertext = Buffer.concat([cipher.update(clear), cipher.final()]);
    clear.fill(0);
    await db.query(
      `INSERT INTO card_vault (token, key_id, pan_encrypted, stored_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (token) DO NOTHING`,
      [token, vaultKey.id, Buffer.concat([iv, cipher.getAuthTag(), ciphertext]), this.#clock.now()],
    );
  }

  async vaultReveal(token: string, actor: KeyActor, reason: string): Promise<Secret<string>> {
    if (typeof reason !== 'string' || reason.trim().length === 0 || reason.length > 200) {
      throw new TillpointError(
        'TILLPOINT_ERR_VALIDATION',
        'reason must say why the PAN is needed (1 to 200 characters)',
        { param: 'reason' },
      );
    }
    const outcome = await transaction(this.#db, async (tx) => {
      const result = TOKEN_PATTERN.test(token)
        ? await tx.query<{ key_id: string; pan_encrypted: Buffer; pan_masked: string }>(
            `SELECT v.key_id, v.pan_encrypted, t.pan_masked
             FROM card_vault v JOIN card_tokens t ON t.token = v.token WHERE v.token = $1`,
            [token],
          )
        : { rows: [] };
      const row = result.rows[0];
      const event = {
        actor: { type: actor.type, id: actor.id },
        source: actor.source,
        event: 'keys.card_pan.revealed',
        object: { type: 'card_token', id: String(token).slice(0, 64) },
      };
      if (row === undefined) {
        // A failed attempt is recorded too: probing for tokens shows in the audit log.
        await this.#audit.record(tx, { ...event, outcome: 'failure', details: { reason, found: false } });
        return undefined;
      }
      const pan = await this.#open(token, row.key_id, row.pan_encrypted);
      await this.#audit.record(tx, { ...event, details: { reason, panMasked: row.pan_masked } });
      return pan;
    });
    if (outcome === undefined) {
      throw new TillpointError(
        'TILLPOINT_ERR_CARD_TOKEN_NOT_FOUND',
        `No PAN is kept for card token ${token}`,
        {
          param: 'token',
        },
      );
    }
    return outcome;
  }

  /** Decrypts a vault row under the key it names (the active vault key or a retired one). */
  async #open(token: string, keyId: string, sealed: Buffer): Promise<Secret<string>> {
    const handle = await this.#keys.handle(keyId);
    const decipher = createDecipheriv('aes-256-gcm', materialOf(handle), sealed.subarray(0, IV_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(Buffer.from(VAULT_CONTEXT + token, 'ascii'));
    decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const clear = decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES));
    try {
      decipher.final();
    } catch (cause) {
      clear.fill(0);
      throw new TillpointError(
        'TILLPOINT_ERR_SEALED_DATA_INVALID',
        `The PAN kept for card token ${token} does not open: the row was altered or moved`,
        { param: 'token', cause },
      );
    }
    const pan = clear.toString('ascii');
    clear.fill(0);
    return new Secret(pan);
  }
}
