import { timingSafeEqual } from 'node:crypto';
import { TillpointError } from '../shared/errors.ts';
import { HEX_ASCII } from './hex.ts';
import {
  cbcZeroIv,
  derivedCipherOf,
  ecbEncrypt,
  type KeyAlgorithm,
  type KeyHandle,
  type KeyUsage,
  macChainOf,
  newCbcChain,
  requireAlgorithm,
  requireUsage,
  wipe,
} from './key-handle.ts';

// Field 64 MACs (docs terminal-protocol.md, "MAC (field 64)"). The MAC algorithm is a property of
// the terminal, never guessed:
//
// - `ecb` (the profile's default): zero-pad to whole blocks, XOR all blocks into one, write it as
//   uppercase hex, encrypt the first half of the hex, XOR the second half in, encrypt again, write
//   the result as hex and keep its first 8 characters (ASCII). The two encryptions are exactly CBC
//   with a zero IV over the hex, which this file runs as one cipher call. 3DES keys work on 8-byte
//   blocks (a single-length MAC key K is held as K‖K, so 3DES is single DES), SM4 keys on 16-byte
//   blocks. Weakness: the XOR fold lets two equal changes one block apart cancel out (THREAT-MODEL.md).
// - `x99`: ANSI X9.9 / ISO 9797-1 MAC algorithm 1 with padding method 1: CBC-MAC with a zero IV
//   over the zero-padded data, the first 8 bytes of the last block. With a single-length DES key
//   (K‖K) this is X9.9 exactly; with an SM4 key it is the SM4 CBC-MAC (GB/T 15852.1 algorithm 1),
//   truncated to the 8 bytes of field 64.
// - `x919`: ANSI X9.19 retail MAC / ISO 9797-1 MAC algorithm 3 with a double-length 3DES key K1‖K2:
//   CBC-MAC with single DES under K1, the last block then decrypted with K2 and encrypted with K1.
//
// Every MAC is 8 bytes. Verification compares in constant time (crypto.timingSafeEqual).

export type MacAlgorithm = 'ecb' | 'x99' | 'x919';
export const MAC_ALGORITHMS: readonly MacAlgorithm[] = ['ecb', 'x99', 'x919'];
export const MAC_BYTES = 8;

const BLOCK_MAC_ALGORITHMS: readonly KeyAlgorithm[] = ['3des-2key', '3des-3key', 'sm4'];
const RETAIL_MAC_ALGORITHMS: readonly KeyAlgorithm[] = ['3des-2key'];
const MAC_USAGES: readonly KeyUsage[] = ['mac'];

const foldScratch = Buffer.alloc(16);
const hexScratch = Buffer.alloc(32);
const verifyScratch = Buffer.alloc(MAC_BYTES);
let paddedScratch = Buffer.alloc(2048);

function checkKey(key: KeyHandle, algorithm: MacAlgorithm): void {
  if (key.usage !== 'mac') requireUsage(key, MAC_USAGES, 'a MAC', 'macKey');
  if (algorithm === 'x919') requireAlgorithm(key, RETAIL_MAC_ALGORITHMS, 'the X9.19 retail MAC', 'macKey');
  else if (key.algorithm === 'aes-256')
    requireAlgorithm(key, BLOCK_MAC_ALGORITHMS, `the ${algorithm} MAC`, 'macKey');
}

/** The field 64 MAC of `data` (the bytes from the MTI to the end of the last field before 64): 8 bytes. */
export function generateMac(data: Buffer, macKey: KeyHandle, algorithm: MacAlgorithm = 'ecb'): Buffer {
  checkKey(macKey, algorithm);
  const mac = Buffer.allocUnsafe(MAC_BYTES);
  macInto(macKey, data, algorithm, mac);
  return mac;
}

/** True when `mac` is the MAC of `data`. Constant time in the MAC's bytes; a MAC of the wrong length is false. */
export function verifyMac(
  data: Buffer,
  mac: Uint8Array,
  macKey: KeyHandle,
  algorithm: MacAlgorithm = 'ecb',
): boolean {
  checkKey(macKey, algorithm);
  macInto(macKey, data, algorithm, verifyScratch);
  return mac.length === MAC_BYTES && timingSafeEqual(verifyScratch, mac);
}

function macInto(key: KeyHandle, data: Buffer, algorithm: MacAlgorithm, out: Buffer): void {
  switch (algorithm) {
    case 'ecb':
      profileMac(key, data, out);
      return;
    case 'x99':
      cbcMac(key, data).copy(out, 0, 0, MAC_BYTES);
      return;
    case 'x919':
      retailMac(key, data).copy(out);
      return;
    default:
      throw new TillpointError(
        'TILLPOINT_ERR_VALIDATION',
        `Unknown MAC algorithm ${JSON.stringify(algorithm)}`,
        {
          param: 'algorithm',
        },
      );
  }
}

// ---- ecb (the profile MAC) ---------------------------------------------------------------------

// Hot path: no per-call allocation but the cipher's output and the returned MAC; the fold reads the
// message as 32-bit integers.
const hex16 = hexScratch.subarray(0, 16);
const hex32 = hexScratch.subarray(0, 32);

function int32At(data: Buffer, i: number): number {
  return (data[i]! << 24) | (data[i + 1]! << 16) | (data[i + 2]! << 8) | data[i + 3]!;
}

function storeInt32(value: number, at: number): void {
  foldScratch[at] = value >>> 24;
  foldScratch[at + 1] = value >>> 16;
  foldScratch[at + 2] = value >>> 8;
  foldScratch[at + 3] = value;
}

/** XOR of all 8-byte blocks of `data`, zero-padded, into foldScratch[0..8). */
function fold8(data: Buffer): void {
  const whole = data.length & ~7;
  let a = 0;
  let b = 0;
  for (let i = 0; i < whole; i += 8) {
    a ^= int32At(data, i);
    b ^= int32At(data, i + 4);
  }
  storeInt32(a, 0);
  storeInt32(b, 4);
  for (let i = whole; i < data.length; i++) foldScratch[i - whole]! ^= data[i]!;
}

/** XOR of all 16-byte blocks of `data`, zero-padded, into foldScratch[0..16). */
function fold16(data: Buffer): void {
  const whole = data.length & ~15;
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  for (let i = 0; i < whole; i += 16) {
    a ^= int32At(data, i);
    b ^= int32At(data, i + 4);
    c ^= int32At(data, i + 8);
    d ^= int32At(data, i + 12);
  }
  storeInt32(a, 0);
  storeInt32(b, 4);
  storeInt32(c, 8);
  storeInt32(d, 12);
  for (let i = whole; i < data.length; i++) foldScratch[i - whole]! ^= data[i]!;
}

function profileMac(key: KeyHandle, data: Buffer, out: Buffer): void {
  const blockBytes = key.blockBytes;
  if (blockBytes === 8) fold8(data);
  else fold16(data);
  for (let i = 0; i < blockBytes; i++) {
    const byte = foldScratch[i]!;
    hexScratch[2 * i] = HEX_ASCII[byte >>> 4]!;
    hexScratch[2 * i + 1] = HEX_ASCII[byte & 0x0f]!;
  }
  wipe(foldScratch);
  // CBC with a zero IV over the 2 blocks of hex: block 2 of the output is E(E(hex1) XOR hex2).
  const encrypted = cbcZeroIv(macChainOf(key), blockBytes === 8 ? hex16 : hex32);
  wipe(hexScratch);
  for (let i = 0; i < 4; i++) {
    const byte = encrypted[blockBytes + i]!;
    out[2 * i] = HEX_ASCII[byte >>> 4]!;
    out[2 * i + 1] = HEX_ASCII[byte & 0x0f]!;
  }
}

// ---- x99 and x919 ------------------------------------------------------------------------------

/** `data` zero-padded to whole blocks (at least one) in a reused scratch buffer. */
function padded(data: Buffer, blockBytes: number): Buffer {
  const length = Math.max(blockBytes, Math.ceil(data.length / blockBytes) * blockBytes);
  if (paddedScratch.length < length) paddedScratch = Buffer.alloc(length * 2);
  const view = paddedScratch.subarray(0, length);
  data.copy(view);
  view.fill(0, data.length);
  return view;
}

/** CBC-MAC with a zero IV: the last block. */
function cbcMac(key: KeyHandle, data: Buffer): Buffer {
  const input = padded(data, key.blockBytes);
  const encrypted = cbcZeroIv(macChainOf(key), input);
  input.fill(0);
  return encrypted.subarray(encrypted.length - key.blockBytes);
}

/** ANSI X9.19: single-DES CBC-MAC under K1 over all blocks but the last; the last block through 3DES (K1, K2). */
function retailMac(key: KeyHandle, data: Buffer): Buffer {
  const input = padded(data, 8);
  const last = input.subarray(input.length - 8);
  if (input.length > 8) {
    const k1 = derivedCipherOf(key, 'x919-k1-cbc', (material) => {
      const k1k1 = Buffer.alloc(16);
      material.copy(k1k1, 0, 0, 8);
      material.copy(k1k1, 8, 0, 8);
      const chain = newCbcChain('des-ede-cbc', k1k1, 8);
      k1k1.fill(0);
      return chain;
    });
    const encrypted = cbcZeroIv(k1, input.subarray(0, input.length - 8));
    for (let i = 0; i < 8; i++) last[i]! ^= encrypted[encrypted.length - 8 + i]!;
  }
  // E_K1(D_K2(E_K1(x))) is one 2-key 3DES encryption of x.
  const mac = ecbEncrypt(key, last);
  input.fill(0);
  return mac;
}
