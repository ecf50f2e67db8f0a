import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { TillpointError } from './errors.ts';
import { Secret } from './secret.ts';

// Sealing under the master key: AES-256-GCM with associated data that binds the sealed value to its
// context (for a key: its id, usage and algorithm), and the master key's id in the sealed bytes so
// that a value sealed under another master key is named as such. The keys module builds on this.
//
// Sealed form: version 0x01 ‖ master key id (8) ‖ IV (12, random) ‖ tag (16) ‖ ciphertext.

const VERSION = 0x01;
const KEY_ID_BYTES = 8;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KEY_ID_BYTES + IV_BYTES + TAG_BYTES;

export interface MasterKey {
  /** 16 hex characters identifying the key (not secret: a hash of it). */
  readonly id: string;
  readonly material: Secret<Buffer>;
}

export function masterKeyFrom(material: Buffer): MasterKey {
  if (material.length !== 32) {
    throw new TillpointError(
      'TILLPOINT_ERR_MASTER_KEY_INVALID',
      `The master key must be 32 bytes (256 bits); got ${material.length}`,
    );
  }
  const id = createHash('sha256')
    .update('tillpoint-master-key-id\0')
    .update(material)
    .digest('hex')
    .slice(0, 16);
  return { id, material: new Secret(Buffer.from(material)) };
}

export function generateMasterKey(): MasterKey {
  return masterKeyFrom(randomBytes(32));
}

export function seal(plaintext: Uint8Array, associatedData: Uint8Array, key: MasterKey): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.material.expose(), iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const sealed = Buffer.alloc(HEADER_BYTES + ciphertext.length);
  sealed[0] = VERSION;
  sealed.write(key.id, 1, 'hex');
  iv.copy(sealed, 1 + KEY_ID_BYTES);
  cipher.getAuthTag().copy(sealed, 1 + KEY_ID_BYTES + IV_BYTES);
  ciphertext.copy(sealed, HEADER_BYTES);
  return sealed;
}

/** The id of the master key a value was sealed under (to find values a rotation has not re-sealed). */
export function sealedKeyId(sealed: Uint8Array): string {
  if (sealed.length < HEADER_BYTES || sealed[0] !== VERSION) {
    throw new TillpointError('TILLPOINT_ERR_SEALED_DATA_INVALID', 'Not a sealed value of a known version');
  }
  return Buffer.from(sealed.subarray(1, 1 + KEY_ID_BYTES)).toString('hex');
}

/** Opens a sealed value; the wrong key, other associated data or any altered byte is refused. */
export function open(sealed: Uint8Array, associatedData: Uint8Array, key: MasterKey): Buffer {
  const sealedUnder = sealedKeyId(sealed);
  if (sealedUnder !== key.id) {
    throw new TillpointError(
      'TILLPOINT_ERR_SEALED_DATA_INVALID',
      `The value was sealed under master key ${sealedUnder}, not the current master key ${key.id}`,
    );
  }
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const decipher = createDecipheriv(
    'aes-256-gcm',
    key.material.expose(),
    bytes.subarray(1 + KEY_ID_BYTES, 1 + KEY_ID_BYTES + IV_BYTES),
    { authTagLength: TAG_BYTES },
  );
  decipher.setAAD(associatedData);
  decipher.setAuthTag(bytes.subarray(1 + KEY_ID_BYTES + IV_BYTES, HEADER_BYTES));
  const plaintext = decipher.update(bytes.subarray(HEADER_BYTES));
  try {
    decipher.final();
  } catch (cause) {
    plaintext.fill(0);
    throw new TillpointError(
      'TILLPOINT_ERR_SEALED_DATA_INVALID',
      'The sealed value does not open: it was altered, or sealed for another context',
      { cause },
    );
  }
  return plaintext;
}
