import { TillpointError } from '../shared/errors.ts';
import { checkValueMatches } from './hex.ts';
import {
  ALGORITHMS,
  adoptMaterial,
  ecbDecrypt,
  ecbEncrypt,
  type KeyHandle,
  type KeySpec,
  type KeyUsage,
  materialOf,
  requireAlgorithm,
  requireUsage,
} from './key-handle.ts';

// Keys transported encrypted under a key-encrypting key, the way terminals and older HSM links do
// it for 3DES and SM4 keys: the clear key encrypted in ECB under the KEK, with its check value. (ECB
// wrapping does not bind the halves of a key together nor its usage: see THREAT-MODEL.md. A key
// block format such as TR-31 would; the profile's terminals do not speak it.)

/** Which usages a key-encrypting key of each usage may wrap. */
export const WRAPPABLE_USAGES: Readonly<Partial<Record<KeyUsage, readonly KeyUsage[]>>> = {
  tmk: ['pin', 'mac', 'track'],
  zmk: ['zpk'],
  kek: ['tmk', 'zmk', 'kek', 'pin', 'mac', 'track', 'zpk', 'data', 'pvk'],
};

const KEK_USAGES: readonly KeyUsage[] = ['tmk', 'zmk', 'kek'];

export interface WrappedKey {
  /** The clear key encrypted in ECB under the KEK. */
  readonly keyUnderKek: Buffer;
  /** The check value of the clear key (8 hex digits). */
  readonly checkValue: string;
  readonly algorithm: KeySpec['algorithm'];
  readonly usage: KeyUsage;
}

/** Checks that `kek` may wrap a key of `spec`: usages, ECB-capable algorithm, strength, block alignment. */
export function checkWrapping(kek: KeyHandle, spec: KeySpec, operation: string): void {
  requireUsage(kek, KEK_USAGES, operation, 'kek');
  const allowed = WRAPPABLE_USAGES[kek.usage] ?? [];
  if (!allowed.includes(spec.usage)) {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_USAGE_MISMATCH',
      `A ${kek.usage} wraps ${allowed.join(', ')} keys only; asked to wrap a ${spec.usage} key`,
      { param: 'kek' },
    );
  }
  requireAlgorithm(kek, ['3des-2key', '3des-3key', 'sm4'], operation, 'kek');
  const keyInfo = ALGORITHMS[spec.algorithm];
  const kekInfo = ALGORITHMS[kek.algorithm];
  if (kekInfo.strengthBits < keyInfo.strengthBits) {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH',
      `A ${kek.algorithm} KEK (${kekInfo.strengthBits}-bit strength) may not wrap a stronger ${spec.algorithm} key (${keyInfo.strengthBits}-bit)`,
      { param: 'kek' },
    );
  }
  if (keyInfo.lengthBytes % kekInfo.blockBytes !== 0) {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH',
      `A ${spec.algorithm} key (${keyInfo.lengthBytes} bytes) is not a whole number of ${kek.algorithm} blocks (${kekInfo.blockBytes} bytes)`,
      { param: 'kek' },
    );
  }
}

/** Exports `key` encrypted under `kek` (ECB), with its check value. */
export function exportKeyUnderKek(key: KeyHandle, kek: KeyHandle): WrappedKey {
  checkWrapping(kek, key, 'exporting a key');
  return {
    keyUnderKek: ecbEncrypt(kek, materialOf(key)),
    checkValue: key.checkValue,
    algorithm: key.algorithm,
    usage: key.usage,
  };
}

/**
 * Imports a key encrypted under `kek` (ECB). The stated check value is required: it is what tells a
 * wrong KEK, a corrupted transfer or a swapped key from the right key.
 */
export function importKeyUnderKek(
  keyUnderKek: Buffer,
  kek: KeyHandle,
  spec: KeySpec & { readonly checkValue: string },
): KeyHandle {
  checkWrapping(kek, spec, 'importing a key');
  const lengthBytes = ALGORITHMS[spec.algorithm].lengthBytes;
  if (keyUnderKek.length !== lengthBytes) {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_LENGTH_INVALID',
      `keyUnderKek: a ${spec.algorithm} key is ${lengthBytes} bytes under the KEK; got ${keyUnderKek.length} bytes`,
      { param: 'keyUnderKek' },
    );
  }
  const key = adoptMaterial(ecbDecrypt(kek, keyUnderKek), spec, 'keyUnderKek');
  if (!checkValueMatches(key.checkValue, spec.checkValue, 'checkValue')) {
    const actual = key.checkValue;
    key.destroy();
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH',
      `The key decrypted under the KEK has check value ${actual}, not the stated ${spec.checkValue.toUpperCase()}: wrong KEK or corrupted key`,
      { param: 'checkValue' },
    );
  }
  return key;
}
