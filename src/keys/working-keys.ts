import { TillpointError } from '../shared/errors.ts';
import { toHex } from './hex.ts';
import {
  adoptMaterial,
  ecbDecrypt,
  ecbEncrypt,
  generateKey,
  isSingleLengthDes,
  type KeyAlgorithm,
  type KeyHandle,
  type KeyUsage,
  materialOf,
  requireAlgorithm,
  requireUsage,
} from './key-handle.ts';

// The working keys a terminal receives at sign-in, in field 62 of the 0810 reply
// (docs terminal-protocol.md, "Keys at sign-in"): each key encrypted in ECB under the terminal
// master key (TMK), followed by the first 4 bytes of its check value.
//
//   60.3 003: PIN key (16) + CV (4) + MAC key (8) + 8 zero bytes + CV (4)       = 40 bytes
//   60.3 004: as 003, then track key (16) + CV (4)                              = 60 bytes
//
// A 3DES terminal's PIN and track keys are double-length 3DES; its MAC key is single-length DES (8
// bytes, held as K‖K). An SM4 terminal's three keys are 16-byte SM4 keys, the MAC key filling its
// 16 bytes. The terminal's algorithm is its TMK's.

export type WorkingKeySet = 'pin+mac' | 'pin+mac+track';

export interface WorkingKeys {
  readonly pin: KeyHandle;
  readonly mac: KeyHandle;
  readonly track?: KeyHandle;
}

/** The key set a sign-in asks for in 60.3. `001` (single-length keys) is refused: single DES is not offered. */
export function workingKeySetFor(networkManagementCode: string): WorkingKeySet {
  switch (networkManagementCode) {
    case '003':
      return 'pin+mac';
    case '004':
      return 'pin+mac+track';
    case '001':
      throw new TillpointError(
        'TILLPOINT_ERR_KEY_SET_UNSUPPORTED',
        '60.3 001 asks for single-length (single DES) working keys; single DES is not offered: sign in with 003 or 004',
        { param: 'field 60.3' },
      );
    default:
      throw new TillpointError(
        'TILLPOINT_ERR_KEY_SET_UNSUPPORTED',
        `60.3 ${JSON.stringify(networkManagementCode)} is not a sign-in key set: 003 (PIN + MAC keys) or 004 (PIN + MAC + track keys)`,
        { param: 'field 60.3' },
      );
  }
}

interface Slot {
  readonly name: 'pin' | 'mac' | 'track';
  readonly label: string;
  readonly usage: KeyUsage;
  /** Offset of the key under the TMK in field 62, and its length there. */
  readonly offset: number;
  readonly keyBytes: number;
  /** Zero bytes between the key and its check value (the 3DES MAC key's padding). */
  readonly zeroBytes: number;
}

interface Layout {
  readonly workingAlgorithm: KeyAlgorithm;
  readonly slots: readonly Slot[];
  readonly lengthBytes: number;
}

const CHECK_VALUE_BYTES = 4;

function layoutFor(tmk: KeyHandle, keySet: WorkingKeySet): Layout {
  requireUsage(tmk, ['tmk'], 'field 62 (working keys under the TMK)', 'tmk');
  requireAlgorithm(tmk, ['3des-2key', '3des-3key', 'sm4'], 'field 62 (working keys under the TMK)', 'tmk');
  const des = tmk.algorithm !== 'sm4';
  const slots: Slot[] = [];
  let offset = 0;
  const add = (name: Slot['name'], label: string, usage: KeyUsage, keyBytes: number, zeroBytes: number) => {
    slots.push({ name, label, usage, offset, keyBytes, zeroBytes });
    offset += keyBytes + zeroBytes + CHECK_VALUE_BYTES;
  };
  add('pin', 'PIN key', 'pin', 16, 0);
  add('mac', 'MAC key', 'mac', des ? 8 : 16, des ? 8 : 0);
  if (keySet === 'pin+mac+track') add('track', 'track key', 'track', 16, 0);
  return { workingAlgorithm: des ? '3des-2key' : 'sm4', slots, lengthBytes: offset };
}

/**
 * Host side: field 62 for `keys` under `tmk`, with `keys.track` deciding between the 40- and
 * 60-byte forms. Keys must have the terminal's algorithm and their usages; a 3DES MAC key must be
 * single-length.
 */
export function buildWorkingKeysField62(keys: WorkingKeys, tmk: KeyHandle): Buffer {
  const layout = layoutFor(tmk, keys.track === undefined ? 'pin+mac' : 'pin+mac+track');
  const clear = Buffer.alloc(layout.slots.reduce((sum, slot) => sum + slot.keyBytes, 0));
  let at = 0;
  for (const slot of layout.slots) {
    const key = keys[slot.name]!;
    requireUsage(key, [slot.usage], 'field 62', slot.name);
    requireAlgorithm(key, [layout.workingAlgorithm], `field 62 of a ${tmk.algorithm} TMK`, slot.name);
    if (slot.name === 'mac' && layout.workingAlgorithm === '3des-2key' && !isSingleLengthDes(key)) {
      clear.fill(0);
      throw new TillpointError(
        'TILLPOINT_ERR_KEY_LENGTH_INVALID',
        'mac: the 3DES profile carries a single-length (8-byte) MAC key in field 62; this MAC key has two different halves',
        { param: 'mac' },
      );
    }
    materialOf(key).copy(clear, at, 0, slot.keyBytes);
    at += slot.keyBytes;
  }
  // ECB encrypts each block on its own, so one call encrypts every key.
  const underTmk = ecbEncrypt(tmk, clear);
  clear.fill(0);
  const field62 = Buffer.alloc(layout.lengthBytes);
  at = 0;
  for (const slot of layout.slots) {
    underTmk.copy(field62, slot.offset, at, at + slot.keyBytes);
    at += slot.keyBytes;
    field62.write(keys[slot.name]!.checkValue, slot.offset + slot.keyBytes + slot.zeroBytes, 'hex');
  }
  return field62;
}

/**
 * Terminal side (the terminal simulator, and tests): the clear working keys of field 62 under
 * `tmk`, each verified against its check value. 40 bytes give PIN and MAC keys, 60 add the track key.
 */
export function parseWorkingKeysField62(field62: Buffer, tmk: KeyHandle): WorkingKeys {
  let keySet: WorkingKeySet;
  if (field62.length === 40) keySet = 'pin+mac';
  else if (field62.length === 60) keySet = 'pin+mac+track';
  else {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_BLOCK_INVALID',
      `field 62: working keys are 40 bytes (PIN + MAC keys) or 60 bytes (+ track key); got ${field62.length} bytes`,
      { param: 'field 62' },
    );
  }
  const layout = layoutFor(tmk, keySet);
  const underTmk = Buffer.alloc(layout.slots.reduce((sum, slot) => sum + slot.keyBytes, 0));
  let at = 0;
  for (const slot of layout.slots) {
    field62.copy(underTmk, at, slot.offset, slot.offset + slot.keyBytes);
    at += slot.keyBytes;
    const zeros = field62.subarray(slot.offset + slot.keyBytes, slot.offset + slot.keyBytes + slot.zeroBytes);
    if (zeros.some((byte) => byte !== 0)) {
      throw new TillpointError(
        'TILLPOINT_ERR_KEY_BLOCK_INVALID',
        `field 62: the ${slot.label} must be followed by ${slot.zeroBytes} zero bytes (a single-length 3DES MAC key)`,
        { param: 'field 62' },
      );
    }
  }
  const clear = ecbDecrypt(tmk, underTmk);
  const made: KeyHandle[] = [];
  try {
    at = 0;
    const keys: Partial<Record<Slot['name'], KeyHandle>> = {};
    for (const slot of layout.slots) {
      const material = Buffer.alloc(16);
      clear.copy(material, 0, at, at + slot.keyBytes);
      if (slot.keyBytes === 8) material.copy(material, 8, 0, 8);
      at += slot.keyBytes;
      const key = adoptMaterial(
        material,
        { algorithm: layout.workingAlgorithm, usage: slot.usage },
        slot.name,
      );
      made.push(key);
      const offset = slot.offset + slot.keyBytes + slot.zeroBytes;
      const stated = toHex(field62.subarray(offset, offset + CHECK_VALUE_BYTES));
      if (key.checkValue !== stated) {
        throw new TillpointError(
          'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH',
          `field 62: the ${slot.label} decrypts to check value ${key.checkValue}, the field states ${stated}: the TMKs of host and terminal differ`,
          { param: 'field 62' },
        );
      }
      keys[slot.name] = key;
    }
    return keys.track === undefined
      ? { pin: keys.pin!, mac: keys.mac! }
      : { pin: keys.pin!, mac: keys.mac!, track: keys.track };
  } catch (error) {
    for (const key of made) key.destroy();
    throw error;
  } finally {
    clear.fill(0);
  }
}

/**
 * Fresh random working keys of the terminal's algorithm (its TMK's), and the field 62 that carries
 * them. The caller seals the keys for the terminal's session and destroys them when it ends.
 */
export function generateWorkingKeys(
  keySet: WorkingKeySet,
  tmk: KeyHandle,
): { readonly keys: WorkingKeys; readonly field62: Buffer } {
  const layout = layoutFor(tmk, keySet);
  const algorithm = layout.workingAlgorithm;
  const des = algorithm === '3des-2key';
  const pin = generateKey({ algorithm, usage: 'pin' });
  const mac = generateKey({ algorithm, usage: 'mac' }, { singleLengthDes: des });
  const keys: WorkingKeys =
    keySet === 'pin+mac+track'
      ? { pin, mac, track: generateKey({ algorithm, usage: 'track' }) }
      : { pin, mac };
  return { keys, field62: buildWorkingKeysField62(keys, tmk) };
}
