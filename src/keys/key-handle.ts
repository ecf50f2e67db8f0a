import {
  type Cipheriv,
  createCipheriv,
  createSecretKey,
  type Decipheriv,
  type KeyObject,
  randomFillSync,
  timingSafeEqual,
} from 'node:crypto';
import { inspect } from 'node:util';
import { assert } from '../shared/assert.ts';
import { TillpointError } from '../shared/errors.ts';
import { Secret } from '../shared/secret.ts';
import { closeCipher, newCipher, newDecipher, requireCipher } from './ciphers.ts';
import { cmac } from './cmac.ts';
import { checkValueMatches, toHex } from './hex.ts';

// A clear key held in memory: its algorithm, its usage, its material in a Secret, and the cipher
// objects made from it. Cipher objects are created at first use and then reused for the key's
// lifetime (creating one costs an order of magnitude more than using it). Nothing here logs, and
// the material never leaves this module's files: other code gets a KeyHandle, never bytes.

export type KeyAlgorithm = '3des-2key' | '3des-3key' | 'sm4' | 'aes-256';
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['3des-2key', '3des-3key', 'sm4', 'aes-256'];

/**
 * What a key may be used for. `tmk` terminal master key (wraps a terminal's working keys), `pin`
 * terminal PIN key (TPK), `mac` MAC key, `track` track-data key (TDK), `zpk` zone PIN key (shared
 * with the card network), `zmk` zone master key (wraps zone keys), `kek` key-encrypting key (key
 * transport; the master key that seals the key store is a `MasterKey` of src/shared/secrets.ts),
 * `data` data-encryption key, `pvk` PIN verification key (the simulated issuer's PVV key).
 */
export type KeyUsage = 'tmk' | 'pin' | 'mac' | 'track' | 'zpk' | 'zmk' | 'kek' | 'data' | 'pvk';
export const KEY_USAGES: readonly KeyUsage[] = [
  'tmk',
  'pin',
  'mac',
  'track',
  'zpk',
  'zmk',
  'kek',
  'data',
  'pvk',
];

export interface KeySpec {
  readonly algorithm: KeyAlgorithm;
  readonly usage: KeyUsage;
}

export interface AlgorithmInfo {
  readonly lengthBytes: number;
  readonly blockBytes: 8 | 16;
  /** OpenSSL names of the ECB and CBC modes. */
  readonly ecb: string;
  readonly cbc: string;
  readonly family: 'des' | 'sm4' | 'aes';
  /** Security strength (NIST SP 800-57): a KEK must be at least as strong as the keys it wraps. */
  readonly strengthBits: number;
}

export const ALGORITHMS: Readonly<Record<KeyAlgorithm, AlgorithmInfo>> = {
  '3des-2key': {
    lengthBytes: 16,
    blockBytes: 8,
    ecb: 'des-ede-ecb',
    cbc: 'des-ede-cbc',
    family: 'des',
    strengthBits: 80,
  },
  '3des-3key': {
    lengthBytes: 24,
    blockBytes: 8,
    ecb: 'des-ede3-ecb',
    cbc: 'des-ede3-cbc',
    family: 'des',
    strengthBits: 112,
  },
  sm4: { lengthBytes: 16, blockBytes: 16, ecb: 'sm4-ecb', cbc: 'sm4-cbc', family: 'sm4', strengthBits: 128 },
  'aes-256': {
    lengthBytes: 32,
    blockBytes: 16,
    ecb: 'aes-256-ecb',
    cbc: 'aes-256-cbc',
    family: 'aes',
    strengthBits: 256,
  },
};

export function isKeyAlgorithm(value: string): value is KeyAlgorithm {
  return (KEY_ALGORITHMS as readonly string[]).includes(value);
}

export function isKeyUsage(value: string): value is KeyUsage {
  return (KEY_USAGES as readonly string[]).includes(value);
}

// ---- DES parity -------------------------------------------------------------------------------

const ODD_PARITY: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let b = 0; b < 256; b++) {
    let ones = 0;
    for (let bit = 1; bit < 256; bit <<= 1) if (b & bit & 0xfe) ones++;
    table[b] = (b & 0xfe) | (ones % 2 === 0 ? 1 : 0);
  }
  return table;
})();

/** Sets the low bit of every byte so that each byte has an odd number of ones (DES key parity). */
export function setOddParity(material: Uint8Array): void {
  for (let i = 0; i < material.length; i++) material[i] = ODD_PARITY[material[i]!]!;
}

export function hasOddParity(material: Uint8Array): boolean {
  let wrong = 0;
  for (let i = 0; i < material.length; i++) wrong |= material[i]! ^ ODD_PARITY[material[i]!]!;
  return wrong === 0;
}

/** Two DES keys that differ only in parity bits are the same key; compare without them, in constant time. */
function sameDesKey(a: Uint8Array, b: Uint8Array): boolean {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i]! ^ b[i]!) & 0xfe;
  return diff === 0;
}

// ---- the handle ------------------------------------------------------------------------------

/** A CBC cipher object reused across messages: `chain` is the last ciphertext block it produced. */
export interface CbcChain {
  readonly cipher: Cipheriv;
  readonly chain: Buffer;
}

interface KeyState {
  readonly material: Secret<Buffer>;
  encryptor: Cipheriv | undefined;
  decryptor: Decipheriv | undefined;
  macChain: CbcChain | undefined;
  /** Further cipher objects derived from the key (the single-DES halves of an X9.19 key). */
  readonly derived: Map<string, Cipheriv | Decipheriv | CbcChain>;
  checkValue: string | undefined;
  /** The material as a KeyObject, for HMACs: createHmac with a Buffer key costs ten times more per call. */
  hmacKey: KeyObject | undefined;
  destroyed: boolean;
}

const CONSTRUCT = Symbol('KeyHandle');
let stateOf: (key: KeyHandle) => KeyState;

/**
 * A clear key in memory. Create one with `importClearKey`, `generateKey`, `combineKeyComponents`,
 * `importKeyUnderKek`, `parseWorkingKeysField62` or `openSealedKey`; pass it to the operations of
 * this module; `destroy()` it when it is retired. It prints as its algorithm, usage and check value.
 */
export class KeyHandle {
  readonly algorithm: KeyAlgorithm;
  readonly usage: KeyUsage;
  readonly lengthBytes: number;
  readonly blockBytes: 8 | 16;
  readonly #state: KeyState;

  static {
    stateOf = (key) => key.#state;
  }

  constructor(token: symbol, material: Buffer, spec: KeySpec) {
    assert(token === CONSTRUCT, 'create keys with importClearKey or generateKey');
    const info = ALGORITHMS[spec.algorithm];
    assert(material.length === info.lengthBytes, 'key material length checked by the caller');
    this.algorithm = spec.algorithm;
    this.usage = spec.usage;
    this.lengthBytes = info.lengthBytes;
    this.blockBytes = info.blockBytes;
    this.#state = {
      material: new Secret(material),
      encryptor: undefined,
      decryptor: undefined,
      macChain: undefined,
      derived: new Map(),
      checkValue: undefined,
      hmacKey: undefined,
      destroyed: false,
    };
  }

  /** The key check value: 8 uppercase hex digits (see `checkValueOf`). */
  get checkValue(): string {
    const state = usable(this);
    state.checkValue ??= computeCheckValue(this);
    return state.checkValue;
  }

  get destroyed(): boolean {
    return this.#state.destroyed;
  }

  /**
   * Zeroes the material and finishes the cipher objects so that OpenSSL frees (and cleanses) their
   * key schedules now. Best effort: copies the JavaScript engine or OpenSSL made are out of reach.
   * Any later use throws TILLPOINT_ERR_KEY_DESTROYED.
   */
  destroy(): void {
    const state = this.#state;
    if (state.destroyed) return;
    state.destroyed = true;
    state.material.expose().fill(0);
    closeCipher(state.encryptor);
    closeCipher(state.decryptor);
    closeCipher(state.macChain?.cipher);
    state.macChain?.chain.fill(0);
    for (const cipher of state.derived.values()) closeCipher('chain' in cipher ? cipher.cipher : cipher);
    state.derived.clear();
    state.encryptor = undefined;
    state.decryptor = undefined;
    state.macChain = undefined;
    state.hmacKey = undefined;
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  toJSON(): { algorithm: KeyAlgorithm; usage: KeyUsage; checkValue: string | null } {
    return {
      algorithm: this.algorithm,
      usage: this.usage,
      checkValue: this.#state.destroyed ? null : this.checkValue,
    };
  }

  toString(): string {
    return `KeyHandle(${this.algorithm} ${this.usage}, ${this.#state.destroyed ? 'destroyed' : `KCV ${this.checkValue}`})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

function usable(key: KeyHandle): KeyState {
  const state = stateOf(key);
  if (state.destroyed) {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_DESTROYED',
      `The ${key.algorithm} ${key.usage} key was destroyed and cannot be used`,
    );
  }
  return state;
}

// ---- internal access for the module's other files (not exported from crypto.ts) ---------------

/** The key as a KeyObject for HMAC-SHA-256 (made once per key). Module-internal. */
export function hmacKeyOf(key: KeyHandle): KeyObject {
  const state = usable(key);
  state.hmacKey ??= createSecretKey(state.material.expose());
  return state.hmacKey;
}

/** The key's material. Module-internal: for wrapping, sealing and splitting only; never keep or log it. */
export function materialOf(key: KeyHandle): Buffer {
  return usable(key).material.expose();
}

/** Encrypts block-aligned data in ECB with the key's cached cipher object. Returns a new Buffer. */
export function ecbEncrypt(key: KeyHandle, data: Uint8Array): Buffer {
  const state = usable(key);
  assert(data.length % key.blockBytes === 0, 'ECB input is block-aligned');
  state.encryptor ??= newCipher(ALGORITHMS[key.algorithm].ecb, state.material.expose(), null);
  return state.encryptor.update(data);
}

/** Decrypts block-aligned data in ECB with the key's cached decipher object. Returns a new Buffer. */
export function ecbDecrypt(key: KeyHandle, data: Uint8Array): Buffer {
  const state = usable(key);
  assert(data.length % key.blockBytes === 0, 'ECB input is block-aligned');
  state.decryptor ??= newDecipher(ALGORITHMS[key.algorithm].ecb, state.material.expose(), null);
  return state.decryptor.update(data);
}

/** The key's reusable CBC cipher object for MACs (see `cbcZeroIv`). */
export function macChainOf(key: KeyHandle): CbcChain {
  const state = usable(key);
  state.macChain ??= newCbcChain(ALGORITHMS[key.algorithm].cbc, state.material.expose(), key.blockBytes);
  return state.macChain;
}

/** A cipher object derived from the key, created once by `create` and destroyed with the key. */
export function derivedCipherOf<T extends Cipheriv | Decipheriv | CbcChain>(
  key: KeyHandle,
  name: string,
  create: (material: Buffer) => T,
): T {
  const state = usable(key);
  let cipher = state.derived.get(name) as T | undefined;
  if (cipher === undefined) {
    cipher = create(state.material.expose());
    state.derived.set(name, cipher);
  }
  return cipher;
}

export function newCbcChain(cbcName: string, key: Buffer, blockBytes: number): CbcChain {
  const chain = Buffer.alloc(blockBytes);
  return { cipher: newCipher(cbcName, key, chain), chain };
}

/**
 * CBC encryption of `input` (block-aligned, at least one block; overwritten) as if with a zero IV,
 * on a cipher object that is reused across calls: its chaining value is the last ciphertext block
 * of the previous call, so XOR-ing that into the first block cancels it. One `update()` call for a
 * whole message is what makes the CBC-MAC and the profile MAC fast.
 */
export function cbcZeroIv(chain: CbcChain, input: Buffer): Buffer {
  const { cipher, chain: previous } = chain;
  const blockBytes = previous.length;
  assert(input.length >= blockBytes && input.length % blockBytes === 0, 'CBC input is block-aligned');
  for (let i = 0; i < blockBytes; i++) input[i]! ^= previous[i]!;
  const output = cipher.update(input);
  assert(output.length === input.length, 'a CBC cipher without padding returns every whole block');
  const last = output.length - blockBytes;
  for (let i = 0; i < blockBytes; i++) previous[i] = output[last + i]!;
  return output;
}

/** Zeroes a small buffer (a loop beats Buffer#fill's call overhead below a few dozen bytes). */
export function wipe(bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = 0;
}

// ---- errors callers see ----------------------------------------------------------------------

export function requireUsage(
  key: KeyHandle,
  allowed: readonly KeyUsage[],
  operation: string,
  param: string,
): void {
  if (!allowed.includes(key.usage)) {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_USAGE_MISMATCH',
      `${param} is a ${key.usage} key; ${operation} needs a ${allowed.join(' or ')} key`,
      { param },
    );
  }
}

export function requireAlgorithm(
  key: KeyHandle,
  allowed: readonly KeyAlgorithm[],
  operation: string,
  param: string,
): void {
  if (!allowed.includes(key.algorithm)) {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH',
      `${param} is a ${key.algorithm} key; ${operation} needs ${allowed.join(' or ')}`,
      { param },
    );
  }
}

// ---- check values ----------------------------------------------------------------------------

/**
 * Key check value, always 4 bytes (8 hex digits) so that every check value has one form:
 * - 3DES: the first 4 bytes of encrypting 8 zero bytes (ANSI X9.24-1, and field 62 of the profile);
 * - SM4: the first 4 bytes of encrypting 16 zero bytes (the profile's SM4 variant);
 * - AES: the first 4 bytes of AES-CMAC over 16 zero bytes (the CMAC method of ANSI X9.24-1 and of
 *   cloud payment HSMs; they print 3 bytes, `checkValueMatches` accepts those). CMAC rather than
 *   "encrypt a zero block" so that an AES key's check value is not a plaintext/ciphertext pair.
 */
export function checkValueOf(key: KeyHandle): string {
  return key.checkValue;
}

function computeCheckValue(key: KeyHandle): string {
  if (key.algorithm === 'aes-256') {
    const mac = cmac((blocks) => ecbEncrypt(key, blocks), 16, Buffer.alloc(16));
    return toHex(mac.subarray(0, 4));
  }
  return toHex(ecbEncrypt(key, Buffer.alloc(key.blockBytes)).subarray(0, 4));
}

/** The check value of material that is not a key yet (a component): a cipher object made for it and closed. */
export function checkValueOfMaterial(material: Buffer, algorithm: KeyAlgorithm): string {
  const info = ALGORITHMS[algorithm];
  requireCipher(info.ecb);
  const cipher = createCipheriv(info.ecb, material, null);
  cipher.setAutoPadding(false);
  try {
    if (algorithm === 'aes-256')
      return toHex(cmac((b) => cipher.update(b), 16, Buffer.alloc(16)).subarray(0, 4));
    return toHex(cipher.update(Buffer.alloc(info.blockBytes)).subarray(0, 4));
  } finally {
    closeCipher(cipher);
  }
}

// ---- creating keys ---------------------------------------------------------------------------

export interface ImportOptions {
  /** The check value the key is stated to have (6 or 8 hex digits); a mismatch is refused. */
  readonly checkValue?: string;
  /** Names the input in error messages (`tmk`, `component 2`, …). */
  readonly param?: string;
}

/**
 * Makes a key of clear material (copied: the caller may zero its buffer). Checks the length for the
 * algorithm, refuses degenerate keys (all zeros; 3DES keys whose halves are equal, that is single
 * DES, except the profile's single-length MAC key; see `checkMaterial`), and checks the stated check
 * value. DES parity is not enforced on import: published test keys do not all have it, and DES ignores it.
 */
export function importClearKey(
  material: Buffer | Secret<Buffer>,
  spec: KeySpec,
  options: ImportOptions = {},
): KeyHandle {
  const clear = material instanceof Secret ? material.expose() : material;
  const param = options.param ?? 'key';
  checkMaterial(clear, spec, param);
  const copy = Buffer.alloc(clear.length);
  clear.copy(copy);
  const key = new KeyHandle(CONSTRUCT, copy, spec);
  if (options.checkValue !== undefined) {
    let matches: boolean;
    try {
      matches = checkValueMatches(key.checkValue, options.checkValue, `${param} check value`);
    } catch (error) {
      key.destroy();
      throw error;
    }
    if (!matches) {
      const actual = key.checkValue;
      key.destroy();
      throw new TillpointError(
        'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH',
        `${param} has check value ${actual}, not the stated ${options.checkValue.toUpperCase()}: the key was typed or transported wrong`,
        { param },
      );
    }
  }
  return key;
}

/** Validates material for a key spec: length, all-zero, 3DES halves (see `importClearKey`). */
export function checkMaterial(material: Buffer, spec: KeySpec, param: string): void {
  const info = ALGORITHMS[spec.algorithm];
  requireCipher(info.ecb);
  if (material.length !== info.lengthBytes) {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_LENGTH_INVALID',
      `${param}: a ${spec.algorithm} key is ${info.lengthBytes} bytes (${info.lengthBytes * 2} hex digits); got ${material.length} bytes`,
      { param },
    );
  }
  let any = 0;
  for (let i = 0; i < material.length; i++) any |= material[i]!;
  if (any === 0) {
    throw new TillpointError('TILLPOINT_ERR_KEY_WEAK', `${param} is all zeros`, { param });
  }
  if (spec.algorithm === '3des-2key' && sameDesKey(material.subarray(0, 8), material.subarray(8, 16))) {
    if (spec.usage !== 'mac') {
      throw new TillpointError(
        'TILLPOINT_ERR_KEY_WEAK',
        `${param} has two equal halves, which makes it single DES; single DES is offered only as the profile's MAC key`,
        { param },
      );
    }
  }
  if (
    spec.algorithm === '3des-3key' &&
    (sameDesKey(material.subarray(0, 8), material.subarray(8, 16)) ||
      sameDesKey(material.subarray(8, 16), material.subarray(16, 24)))
  ) {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_WEAK',
      `${param} has two equal adjacent thirds, which makes it single DES`,
      { param },
    );
  }
}

/** True for a 3DES double-length key whose halves are the same DES key (K‖K): single DES. */
export function isSingleLengthDes(key: KeyHandle): boolean {
  if (key.algorithm !== '3des-2key') return false;
  const material = materialOf(key);
  return sameDesKey(material.subarray(0, 8), material.subarray(8, 16));
}

export interface GenerateOptions {
  /**
   * For the 3DES profile's MAC key only: an 8-byte single-DES key K, held as K‖K (`3des-2key`), since
   * field 62 of the 3DES profile carries an 8-byte MAC key.
   */
  readonly singleLengthDes?: boolean;
}

/** A fresh random key. DES keys get odd parity and distinct halves (thirds). */
export function generateKey(spec: KeySpec, options: GenerateOptions = {}): KeyHandle {
  const info = ALGORITHMS[spec.algorithm];
  requireCipher(info.ecb);
  const single = options.singleLengthDes === true;
  if (single && (spec.algorithm !== '3des-2key' || spec.usage !== 'mac')) {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH',
      `A single-length DES key is offered only as a 3des-2key mac key; asked for a ${spec.algorithm} ${spec.usage} key`,
      { param: 'singleLengthDes' },
    );
  }
  const material = Buffer.alloc(info.lengthBytes);
  for (;;) {
    if (single) {
      randomFillSync(material, 0, 8);
      material.copy(material, 8, 0, 8);
    } else {
      randomFillSync(material);
    }
    if (info.family === 'des') setOddParity(material);
    if (isAcceptable(material, spec)) break;
  }
  return new KeyHandle(CONSTRUCT, material, spec);
}

function isAcceptable(material: Buffer, spec: KeySpec): boolean {
  try {
    checkMaterial(material, spec, 'generated key');
    return true;
  } catch {
    return false;
  }
}

/** Makes a key of material the module owns already (generated, unwrapped): no copy. Module-internal. */
export function adoptMaterial(material: Buffer, spec: KeySpec, param: string): KeyHandle {
  try {
    checkMaterial(material, spec, param);
  } catch (error) {
    material.fill(0);
    throw error;
  }
  return new KeyHandle(CONSTRUCT, material, spec);
}

/** Constant-time equality of two check values or MACs of the same length. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
