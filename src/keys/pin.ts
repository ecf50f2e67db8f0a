import { createHmac } from 'node:crypto';
import { TillpointError } from '../shared/errors.ts';
import { Secret } from '../shared/secret.ts';
import {
  ecbDecrypt,
  ecbEncrypt,
  equalBytes,
  hmacKeyOf,
  type KeyAlgorithm,
  type KeyHandle,
  type KeyUsage,
  requireAlgorithm,
  requireUsage,
  wipe,
} from './key-handle.ts';

// PIN blocks, ISO 9564-1 format 0 (docs terminal-protocol.md, "PIN block (field 52)"):
//   PIN field  0 | N | N PIN digits | F padding          (16 nibbles)
//   PAN field  0000 | 12 rightmost PAN digits excluding the check digit
//   block      PIN field XOR PAN field (8 bytes)
// 3DES keys encrypt the 8-byte block; SM4 keys encrypt 16 bytes, the block followed by 8 bytes FF.
//
// The host never sees a clear PIN: `translatePinBlock` decrypts under the terminal's PIN key,
// checks the format, and re-encrypts under the zone PIN key inside one function, zeroing the clear
// block before it returns. Only the simulated issuer opens a PIN block (`verifyPin`), and it
// compares a PIN verification value, never a stored PIN.

export const PIN_LENGTH_MIN = 4;
export const PIN_LENGTH_MAX = 12;
const PIN_BLOCK_ALGORITHMS: readonly KeyAlgorithm[] = ['3des-2key', '3des-3key', 'sm4'];
// Usage lists as constants: an array literal in a call would be allocated on every translation.
const PIN_KEY_USAGES: readonly KeyUsage[] = ['pin', 'zpk'];
const ZONE_PIN_KEY_USAGES: readonly KeyUsage[] = ['zpk'];
const PVK_USAGES: readonly KeyUsage[] = ['pvk'];

type Pan = string | Secret<string>;

/** The 8-byte PAN field, `0000` + the 12 rightmost PAN digits excluding the check digit. */
function panField(pan: Pan, into: Buffer): void {
  const digits = typeof pan === 'string' ? pan : pan.expose();
  let nonDigit = 0;
  for (let i = 0; i < digits.length; i++) {
    const code = digits.charCodeAt(i);
    nonDigit |= code < 48 || code > 57 ? 1 : 0;
  }
  if (digits.length < 13 || digits.length > 19 || nonDigit !== 0) {
    throw new TillpointError(
      'TILLPOINT_ERR_PIN_BLOCK_PAN_INVALID',
      `pan must be 13 to 19 digits for an ISO 9564 format 0 PIN block; got ${digits.length} characters${nonDigit === 0 ? '' : ' that are not all digits'}`,
      { param: 'pan' },
    );
  }
  const start = digits.length - 13;
  into[0] = 0;
  into[1] = 0;
  for (let i = 0; i < 6; i++) {
    into[2 + i] =
      ((digits.charCodeAt(start + 2 * i) - 48) << 4) | (digits.charCodeAt(start + 2 * i + 1) - 48);
  }
}

const panScratch = Buffer.alloc(8);
const blockScratch = Buffer.alloc(16);

/**
 * Length of the PIN in a clear format 0 block, or -1 when the block is not one for this PAN field
 * (format nibble 0, length 4 to 12, decimal digits, F padding). Every nibble is looked at whatever
 * the outcome, so the time taken does not say which check failed.
 */
function format0PinLength(clear: Uint8Array, pan: Uint8Array): number {
  const first = clear[0]! ^ pan[0]!;
  const length = first & 0x0f;
  let bad = (first >>> 4) | (length < PIN_LENGTH_MIN ? 1 : 0) | (length > PIN_LENGTH_MAX ? 1 : 0);
  for (let nibble = 2; nibble < 16; nibble++) {
    const byte = clear[nibble >>> 1]! ^ pan[nibble >>> 1]!;
    const value = nibble & 1 ? byte & 0x0f : byte >>> 4;
    const isPinDigit = nibble < 2 + length;
    bad |= isPinDigit ? (value > 9 ? 1 : 0) : value ^ 0x0f;
  }
  return bad === 0 ? length : -1;
}

function checkPinDigits(digits: string): void {
  if (digits.length < PIN_LENGTH_MIN || digits.length > PIN_LENGTH_MAX) {
    throw new TillpointError(
      'TILLPOINT_ERR_PIN_INVALID',
      `pin must be ${PIN_LENGTH_MIN} to ${PIN_LENGTH_MAX} digits; got ${digits.length} characters`,
      { param: 'pin' },
    );
  }
  if (!/^[0-9]+$/.test(digits)) {
    throw new TillpointError('TILLPOINT_ERR_PIN_INVALID', 'pin must be decimal digits only', {
      param: 'pin',
    });
  }
}

/** The clear ISO 9564 format 0 PIN block of `pin` for `pan` (8 bytes). */
export function buildPinBlock(pin: Secret<string>, pan: Pan): Secret<Buffer> {
  const digits = pin.expose();
  checkPinDigits(digits);
  const block = Buffer.alloc(8);
  panField(pan, panScratch);
  block.fill(0xff);
  block[0] = digits.length;
  for (let i = 0; i < digits.length; i++) {
    const nibble = 2 + i;
    const value = digits.charCodeAt(i) - 48;
    const index = nibble >>> 1;
    block[index] = nibble & 1 ? (block[index]! & 0xf0) | value : (value << 4) | (block[index]! & 0x0f);
  }
  for (let i = 0; i < 8; i++) block[i]! ^= panScratch[i]!;
  panScratch.fill(0);
  return new Secret(block);
}

/**
 * The PIN of a clear format 0 block for `pan`. For the simulated issuer and for tests: the host
 * itself never opens a PIN block.
 */
export function parsePinBlock(clearBlock: Buffer | Secret<Buffer>, pan: Pan): Secret<string> {
  const clear = clearBlock instanceof Secret ? clearBlock.expose() : clearBlock;
  if (clear.length !== 8) throw pinBlockLengthError(clear.length, 8, 'clearBlock');
  panField(pan, panScratch);
  const length = format0PinLength(clear, panScratch);
  if (length < 0) {
    panScratch.fill(0);
    throw invalidPinBlock('clearBlock');
  }
  let pin = '';
  for (let nibble = 2; nibble < 2 + length; nibble++) {
    const byte = clear[nibble >>> 1]! ^ panScratch[nibble >>> 1]!;
    pin += String.fromCharCode(48 + (nibble & 1 ? byte & 0x0f : byte >>> 4));
  }
  panScratch.fill(0);
  return new Secret(pin);
}

function encryptedLength(key: KeyHandle): 8 | 16 {
  return key.blockBytes;
}

/** Encrypts a clear format 0 block under a PIN key: 8 bytes under 3DES, 16 (block ‖ FF×8) under SM4. */
export function encryptPinBlock(clearBlock: Buffer | Secret<Buffer>, pinKey: KeyHandle): Buffer {
  requireUsage(pinKey, PIN_KEY_USAGES, 'encrypting a PIN block', 'pinKey');
  requireAlgorithm(pinKey, PIN_BLOCK_ALGORITHMS, 'a format 0 PIN block', 'pinKey');
  const clear = clearBlock instanceof Secret ? clearBlock.expose() : clearBlock;
  if (clear.length !== 8) throw pinBlockLengthError(clear.length, 8, 'clearBlock');
  return encryptClear(clear, pinKey);
}

const clear8 = Buffer.alloc(8);

/** Encrypts a clear block (8 bytes, or 16 ending in FF×8 when it came from an SM4 block) under `key`. */
function encryptClear(clear: Buffer, key: KeyHandle): Buffer {
  if (key.blockBytes === clear.length) return ecbEncrypt(key, clear);
  if (key.blockBytes === 8) {
    for (let i = 0; i < 8; i++) clear8[i] = clear[i]!;
    const out = ecbEncrypt(key, clear8);
    wipe(clear8);
    return out;
  }
  for (let i = 0; i < 8; i++) blockScratch[i] = clear[i]!;
  for (let i = 8; i < 16; i++) blockScratch[i] = 0xff;
  const out = ecbEncrypt(key, blockScratch);
  wipe(blockScratch);
  return out;
}

/** Terminal side (the terminal simulator): the encrypted PIN block of `pin` for `pan` under `pinKey`. */
export function encryptPin(pin: Secret<string>, pan: Pan, pinKey: KeyHandle): Buffer {
  const clear = buildPinBlock(pin, pan).expose();
  try {
    return encryptPinBlock(clear, pinKey);
  } finally {
    clear.fill(0);
  }
}

/**
 * Decrypts an encrypted PIN block under `key` and checks it is format 0 for `panScratch` (filled by
 * the caller), with the FF×8 tail under an SM4 key. Returns the clear block (8 bytes, or 16 under
 * SM4), which the caller zeroes, or throws.
 */
function openPinBlock(encrypted: Buffer, key: KeyHandle, param: string): Buffer {
  const expected = encryptedLength(key);
  if (encrypted.length !== expected) throw pinBlockLengthError(encrypted.length, expected, param, key);
  const clear = ecbDecrypt(key, encrypted);
  let bad = format0PinLength(clear, panScratch) < 0 ? 1 : 0;
  for (let i = 8; i < clear.length; i++) bad |= clear[i]! ^ 0xff;
  if (bad !== 0) {
    wipe(clear);
    throw invalidPinBlock(param);
  }
  return clear;
}

/**
 * Translates a PIN block from the terminal's PIN key (`tpk`, or a zone key) to the zone PIN key
 * shared with the card network (`zpk`), which may be of the other algorithm (3DES ↔ SM4). The clear
 * block never leaves this function and is zeroed before it returns. A block that does not decrypt to
 * format 0 for this PAN throws TILLPOINT_ERR_PIN_BLOCK_INVALID (the host answers 99). One message
 * for every way the clear block can be wrong, so that neither the reply nor a log line tells an
 * attacker which nibble failed (see THREAT-MODEL.md).
 */
export function translatePinBlock(
  pinBlockUnderTpk: Buffer,
  pan: Pan,
  tpk: KeyHandle,
  zpk: KeyHandle,
): Buffer {
  requireUsage(tpk, PIN_KEY_USAGES, 'translating a PIN block', 'tpk');
  requireUsage(zpk, ZONE_PIN_KEY_USAGES, 'translating a PIN block', 'zpk');
  requireAlgorithm(tpk, PIN_BLOCK_ALGORITHMS, 'a format 0 PIN block', 'tpk');
  requireAlgorithm(zpk, PIN_BLOCK_ALGORITHMS, 'a format 0 PIN block', 'zpk');
  panField(pan, panScratch);
  let clear: Buffer | undefined;
  try {
    clear = openPinBlock(pinBlockUnderTpk, tpk, 'pinBlockUnderTpk');
    return encryptClear(clear, zpk);
  } finally {
    if (clear !== undefined) wipe(clear);
    wipe(panScratch);
  }
}

export interface PinTranslation {
  readonly pinBlockUnderTpk: Buffer;
  readonly pan: Pan;
  readonly tpk: KeyHandle;
}

/**
 * `translatePinBlock` for many PIN blocks bound for the same zone key, as a host under load has
 * within one turn of its event loop: each block is decrypted under its own terminal key, and all
 * are encrypted under the zone key in one cipher call, which saves most of a cipher call per block.
 * Returns one entry per translation, in order: the block under `zpk`, or the TillpointError that
 * `translatePinBlock` would have thrown for it (the others still translate). Clear blocks live in
 * one buffer that is zeroed before this returns.
 */
export function translatePinBlocks(
  translations: readonly PinTranslation[],
  zpk: KeyHandle,
): (Buffer | TillpointError)[] {
  requireUsage(zpk, ZONE_PIN_KEY_USAGES, 'translating a PIN block', 'zpk');
  requireAlgorithm(zpk, PIN_BLOCK_ALGORITHMS, 'a format 0 PIN block', 'zpk');
  const blockBytes = zpk.blockBytes;
  const results: (Buffer | TillpointError | undefined)[] = new Array(translations.length);
  const clearBlocks = Buffer.alloc(translations.length * blockBytes);
  const positions: number[] = [];
  try {
    translations.forEach((translation, index) => {
      let clear: Buffer | undefined;
      try {
        requireUsage(translation.tpk, PIN_KEY_USAGES, 'translating a PIN block', 'tpk');
        requireAlgorithm(translation.tpk, PIN_BLOCK_ALGORITHMS, 'a format 0 PIN block', 'tpk');
        panField(translation.pan, panScratch);
        clear = openPinBlock(translation.pinBlockUnderTpk, translation.tpk, 'pinBlockUnderTpk');
        const at = positions.length * blockBytes;
        for (let i = 0; i < 8; i++) clearBlocks[at + i] = clear[i]!;
        for (let i = 8; i < blockBytes; i++) clearBlocks[at + i] = 0xff;
        positions.push(index);
      } catch (error) {
        if (!(error instanceof TillpointError)) throw error;
        results[index] = error;
      } finally {
        if (clear !== undefined) wipe(clear);
        wipe(panScratch);
      }
    });
    if (positions.length > 0) {
      const underZpk = ecbEncrypt(zpk, clearBlocks.subarray(0, positions.length * blockBytes));
      positions.forEach((index, n) => {
        results[index] = underZpk.subarray(n * blockBytes, (n + 1) * blockBytes);
      });
    }
  } finally {
    clearBlocks.fill(0);
  }
  return results as (Buffer | TillpointError)[];
}

// ---- the simulated issuer ------------------------------------------------------------------------

const PVV_CONTEXT = Buffer.from('tillpoint-pvv-v1\0', 'ascii');
const PVV_BYTES = 16;
const PVV_PATTERN = /^[0-9A-F]{32}$/;

function pvvOf(pinDigits: Buffer, pan: Pan, pvk: KeyHandle): Buffer {
  const panDigits = typeof pan === 'string' ? pan : pan.expose();
  const hmac = createHmac('sha256', hmacKeyOf(pvk));
  hmac.update(PVV_CONTEXT);
  hmac.update(panDigits, 'ascii');
  hmac.update(PVV_CONTEXT.subarray(PVV_CONTEXT.length - 1));
  hmac.update(pinDigits);
  return hmac.digest().subarray(0, PVV_BYTES);
}

/**
 * The PIN verification value the simulated issuer stores for a card instead of its PIN:
 * HMAC-SHA-256 under the issuer's PIN verification key (`pvk`) of the PAN and the PIN, truncated to
 * 128 bits, as 32 uppercase hex digits. Without the PVK a stored PVV does not give the PIN away,
 * even though PINs are short.
 */
export function pinVerificationValue(pin: Secret<string>, pan: Pan, pvk: KeyHandle): string {
  requireUsage(pvk, PVK_USAGES, 'a PIN verification value', 'pvk');
  const digits = pin.expose();
  checkPinDigits(digits);
  panField(pan, panScratch);
  panScratch.fill(0);
  const pinDigits = Buffer.from(digits, 'ascii');
  try {
    return pvvOf(pinDigits, pan, pvk).toString('hex').toUpperCase();
  } finally {
    pinDigits.fill(0);
  }
}

/**
 * The simulated issuer's PIN check: decrypts the PIN block under the zone PIN key, takes the PIN
 * out of it without making a string, and compares its PVV with the stored one in constant time.
 * True when the PIN is right; false when it is wrong (the issuer answers 55). A block that is not
 * format 0 for this PAN throws TILLPOINT_ERR_PIN_BLOCK_INVALID.
 */
export function verifyPin(
  pinBlockUnderZpk: Buffer,
  pan: Pan,
  zpk: KeyHandle,
  expected: { readonly pvk: KeyHandle; readonly pvv: string },
): boolean {
  requireUsage(zpk, ZONE_PIN_KEY_USAGES, 'verifying a PIN', 'zpk');
  requireAlgorithm(zpk, PIN_BLOCK_ALGORITHMS, 'a format 0 PIN block', 'zpk');
  requireUsage(expected.pvk, PVK_USAGES, 'verifying a PIN', 'pvk');
  const storedPvv = expected.pvv.toUpperCase();
  if (!PVV_PATTERN.test(storedPvv)) {
    throw new TillpointError('TILLPOINT_ERR_VALIDATION', 'pvv must be 32 hex digits', { param: 'pvv' });
  }
  panField(pan, panScratch);
  let clear: Buffer | undefined;
  let pinDigits: Buffer | undefined;
  try {
    clear = openPinBlock(pinBlockUnderZpk, zpk, 'pinBlockUnderZpk');
    const length = format0PinLength(clear, panScratch);
    pinDigits = Buffer.alloc(length);
    for (let i = 0; i < length; i++) {
      const nibble = 2 + i;
      const byte = clear[nibble >>> 1]! ^ panScratch[nibble >>> 1]!;
      pinDigits[i] = 48 + (nibble & 1 ? byte & 0x0f : byte >>> 4);
    }
    clear.fill(0);
    return equalBytes(pvvOf(pinDigits, pan, expected.pvk), Buffer.from(storedPvv, 'hex'));
  } finally {
    clear?.fill(0);
    pinDigits?.fill(0);
    panScratch.fill(0);
  }
}

// ---- errors ------------------------------------------------------------------------------------

function pinBlockLengthError(
  actual: number,
  expected: number,
  param: string,
  key?: KeyHandle,
): TillpointError {
  const under = key === undefined ? '' : ` under a ${key.algorithm} key`;
  return new TillpointError(
    'TILLPOINT_ERR_PIN_BLOCK_INVALID',
    `${param} must be ${expected} bytes${under}; got ${actual} bytes`,
    { param },
  );
}

function invalidPinBlock(param: string): TillpointError {
  return new TillpointError(
    'TILLPOINT_ERR_PIN_BLOCK_INVALID',
    `${param} is not an ISO 9564 format 0 PIN block for this PAN (format, PIN length 4-12, digits or padding wrong)`,
    { param },
  );
}
