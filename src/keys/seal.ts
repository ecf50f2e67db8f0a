import { TillpointError } from '../shared/errors.ts';
import { type MasterKey, open, seal } from '../shared/secrets.ts';
import { checkValueMatches } from './hex.ts';
import {
  ALGORITHMS,
  adoptMaterial,
  type KeyAlgorithm,
  type KeyHandle,
  type KeyUsage,
  materialOf,
} from './key-handle.ts';

// Keys sealed under the master key for the key store: AES-256-GCM by src/shared/secrets.ts (which
// puts the master key's id in the sealed bytes, for rotation), with the key's id, usage and
// algorithm as associated data, so that a sealed key copied onto another row, or relabelled as
// another usage or algorithm, does not open.

export interface SealedKeyContext {
  /** The store's id of the key (a row id), so that a sealed key cannot be moved to another row. */
  readonly keyId: string;
  readonly usage: KeyUsage;
  readonly algorithm: KeyAlgorithm;
}

/** The associated data of a sealed key: `tillpoint-key-v1`, key id, usage, algorithm, NUL-separated. */
export function sealedKeyAssociatedData(context: SealedKeyContext): Buffer {
  if (context.keyId.length === 0 || context.keyId.includes('\0')) {
    throw new TillpointError('TILLPOINT_ERR_VALIDATION', 'keyId must be non-empty and without NUL', {
      param: 'keyId',
    });
  }
  return Buffer.from(`tillpoint-key-v1\0${context.keyId}\0${context.usage}\0${context.algorithm}`, 'utf8');
}

/** Seals a key's material under the master key, bound to its id, usage and algorithm. */
export function sealKey(key: KeyHandle, keyId: string, masterKey: MasterKey): Buffer {
  const associatedData = sealedKeyAssociatedData({ keyId, usage: key.usage, algorithm: key.algorithm });
  return seal(materialOf(key), associatedData, masterKey);
}

/**
 * Opens a sealed key into a KeyHandle. The context must be the one it was sealed with (else
 * TILLPOINT_ERR_SEALED_DATA_INVALID); the stored check value, when given, is checked too (it catches
 * a row whose check value column and sealed key disagree).
 */
export function openSealedKey(
  sealed: Uint8Array,
  context: SealedKeyContext & { readonly checkValue?: string },
  masterKey: MasterKey,
): KeyHandle {
  const material = open(sealed, sealedKeyAssociatedData(context), masterKey);
  if (material.length !== ALGORITHMS[context.algorithm].lengthBytes) {
    material.fill(0);
    throw new TillpointError(
      'TILLPOINT_ERR_SEALED_DATA_INVALID',
      `The sealed key ${context.keyId} is ${material.length} bytes, not a ${context.algorithm} key`,
      { param: 'sealed' },
    );
  }
  const key = adoptMaterial(material, { algorithm: context.algorithm, usage: context.usage }, 'sealed key');
  if (
    context.checkValue !== undefined &&
    !checkValueMatches(key.checkValue, context.checkValue, 'checkValue')
  ) {
    const actual = key.checkValue;
    key.destroy();
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH',
      `The sealed key ${context.keyId} opens to check value ${actual}, not the stored ${context.checkValue.toUpperCase()}`,
      { param: 'checkValue' },
    );
  }
  return key;
}
