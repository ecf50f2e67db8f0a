import { TillpointError } from '../shared/errors.ts';
import {
  ecbDecrypt,
  ecbEncrypt,
  type KeyAlgorithm,
  type KeyHandle,
  type KeyUsage,
  requireAlgorithm,
  requireUsage,
} from './key-handle.ts';

// Data encryption under track and data keys.
//
// Track data (fields 35 and 36 when 53.3 is 1) follows the common UnionPay practice: the packed BCD
// track, as it is in the field without its length prefix, keeps every byte in clear except one
// block (8 bytes for 3DES, 16 for SM4) taken backwards from the second-to-last byte, which is
// encrypted in ECB under the track key (TDK) and put back in place. The last byte stays clear
// because it may hold a pad nibble; the length and the clear digits keep the field parseable.
// A track shorter than one block plus one byte cannot be encrypted this way and is refused. Vendor
// variants (other blocks, other padding) would be a new function beside this one, chosen by the
// terminal's profile.
//
// `encryptData` / `decryptData` are plain ECB over block-aligned data for `data` keys (and track
// keys); padding is the caller's choice, since the formats that need it disagree on it.

const BLOCK_ALGORITHMS: readonly KeyAlgorithm[] = ['3des-2key', '3des-3key', 'sm4'];
const DATA_USAGES: readonly KeyUsage[] = ['data', 'track'];

function trackBlockStart(track: Buffer, key: KeyHandle): number {
  const start = track.length - 1 - key.blockBytes;
  if (start < 0) {
    throw new TillpointError(
      'TILLPOINT_ERR_CIPHER_DATA_LENGTH_INVALID',
      `track: encrypted track data under a ${key.algorithm} key needs at least ${key.blockBytes + 1} bytes of packed track; got ${track.length}`,
      { param: 'track' },
    );
  }
  return start;
}

function transformTrack(track: Buffer, trackKey: KeyHandle, direction: 'encrypt' | 'decrypt'): Buffer {
  requireUsage(trackKey, ['track'], `${direction}ing track data`, 'trackKey');
  requireAlgorithm(trackKey, BLOCK_ALGORITHMS, 'track data', 'trackKey');
  const start = trackBlockStart(track, trackKey);
  const block = track.subarray(start, start + trackKey.blockBytes);
  const transformed = direction === 'encrypt' ? ecbEncrypt(trackKey, block) : ecbDecrypt(trackKey, block);
  const out = Buffer.alloc(track.length);
  track.copy(out);
  transformed.copy(out, start);
  transformed.fill(0);
  return out;
}

/** The packed BCD track (field 35 or 36 without its length) with its protected block encrypted. */
export function encryptTrackData(track: Buffer, trackKey: KeyHandle): Buffer {
  return transformTrack(track, trackKey, 'encrypt');
}

/** The inverse of `encryptTrackData`: the packed BCD track in clear. The caller zeroes it when done. */
export function decryptTrackData(encryptedTrack: Buffer, trackKey: KeyHandle): Buffer {
  return transformTrack(encryptedTrack, trackKey, 'decrypt');
}

function checkAligned(data: Buffer, key: KeyHandle, param: string): void {
  if (data.length === 0 || data.length % key.blockBytes !== 0) {
    throw new TillpointError(
      'TILLPOINT_ERR_CIPHER_DATA_LENGTH_INVALID',
      `${param} must be a non-zero multiple of ${key.blockBytes} bytes for ${key.algorithm} ECB; got ${data.length} bytes (pad it first)`,
      { param },
    );
  }
}

/** ECB encryption of block-aligned data under a data (or track) key. */
export function encryptData(data: Buffer, dataKey: KeyHandle): Buffer {
  requireUsage(dataKey, DATA_USAGES, 'encrypting data', 'dataKey');
  requireAlgorithm(dataKey, BLOCK_ALGORITHMS, 'ECB data encryption', 'dataKey');
  checkAligned(data, dataKey, 'data');
  return ecbEncrypt(dataKey, data);
}

/** ECB decryption of block-aligned data under a data (or track) key. */
export function decryptData(encrypted: Buffer, dataKey: KeyHandle): Buffer {
  requireUsage(dataKey, DATA_USAGES, 'decrypting data', 'dataKey');
  requireAlgorithm(dataKey, BLOCK_ALGORITHMS, 'ECB data encryption', 'dataKey');
  checkAligned(encrypted, dataKey, 'encrypted');
  return ecbDecrypt(dataKey, encrypted);
}
