// Framing, apart from the codec: a 2-byte big-endian length, then that many bytes. The reader copes
// with partial reads and several frames per chunk, and refuses a length that lies (zero, or above
// the maximum) with a FrameError; the owner of the connection then closes it. It holds at most one
// incomplete frame (2 + maxFrameBytes bytes), allocated once.

import { assert } from '../../shared/assert.ts';

export type FrameErrorReason =
  | 'frame_length_zero' // the length field says 0
  | 'frame_too_long' // the length field says more than the maximum
  | 'frame_too_short' // the frame cannot hold the TPDU, the header and an MTI
  | 'bad_tpdu' // the TPDU does not start with 60
  | 'bad_header'; // the header's sub-version is not BCD

export class FrameError extends Error {
  readonly reason: FrameErrorReason;
  /** Offset of the problem in the stream (reader) or the frame (envelope). */
  readonly offset: number;

  constructor(reason: FrameErrorReason, offset: number, detail: string) {
    super(`frame ${reason} at byte ${offset}: ${detail}`);
    this.name = 'FrameError';
    this.reason = reason;
    this.offset = offset;
  }
}

export const DEFAULT_MAX_FRAME_BYTES = 2048;
export const LENGTH_BYTES = 2;

export interface FrameReaderOptions {
  /** The largest length the 2-byte length may say. Default 2048 (the POS profile's limit). */
  readonly maxFrameBytes?: number;
}

/** A copy in a Buffer from Node's pool (a fresh Uint8Array of a few hundred bytes is far slower). */
function copy(bytes: Uint8Array, from: number, to: number): Uint8Array {
  const out = Buffer.allocUnsafe(to - from);
  out.set(bytes.subarray(from, to));
  return out;
}

/** Reads length-framed messages from a byte stream. After a FrameError, every push throws it again. */
export class FrameReader {
  readonly maxFrameBytes: number;
  readonly #pending: Uint8Array;
  #pendingBytes = 0;
  #streamOffset = 0;
  #failed: FrameError | undefined;

  constructor(options: FrameReaderOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    assert(
      Number.isInteger(this.maxFrameBytes) && this.maxFrameBytes >= 1 && this.maxFrameBytes <= 0xffff,
      'maxFrameBytes is 1 to 65535',
    );
    this.#pending = new Uint8Array(LENGTH_BYTES + this.maxFrameBytes);
  }

  /** Bytes held of an incomplete frame. */
  get bufferedBytes(): number {
    return this.#pendingBytes;
  }

  #check(length: number, at: number): void {
    if (length === 0) this.#failed = new FrameError('frame_length_zero', at, 'a frame of length 0');
    else if (length > this.maxFrameBytes) {
      this.#failed = new FrameError('frame_too_long', at, `length ${length}, at most ${this.maxFrameBytes}`);
    }
    if (this.#failed !== undefined) throw this.#failed;
  }

  /**
   * Feeds a chunk; calls `onFrame` with each complete frame (the bytes after the length, a copy the
   * callee may keep), in order. Throws a FrameError when a length lies, after the frames before it.
   */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    if (this.#failed !== undefined) throw this.#failed;
    const pending = this.#pending;
    let o = 0;
    if (this.#pendingBytes > 0) {
      while (this.#pendingBytes < LENGTH_BYTES && o < chunk.length)
        pending[this.#pendingBytes++] = chunk[o++]!;
      if (this.#pendingBytes < LENGTH_BYTES) return;
      const length = (pending[0]! << 8) | pending[1]!;
      this.#check(length, this.#streamOffset);
      const take = Math.min(LENGTH_BYTES + length - this.#pendingBytes, chunk.length - o);
      pending.set(chunk.subarray(o, o + take), this.#pendingBytes);
      this.#pendingBytes += take;
      o += take;
      if (this.#pendingBytes < LENGTH_BYTES + length) return;
      this.#pendingBytes = 0;
      this.#streamOffset += LENGTH_BYTES + length;
      onFrame(copy(pending, LENGTH_BYTES, LENGTH_BYTES + length));
    }
    while (chunk.length - o >= LENGTH_BYTES) {
      const length = (chunk[o]! << 8) | chunk[o + 1]!;
      this.#check(length, this.#streamOffset);
      if (chunk.length - o < LENGTH_BYTES + length) break;
      const frame = copy(chunk, o + LENGTH_BYTES, o + LENGTH_BYTES + length);
      o += LENGTH_BYTES + length;
      this.#streamOffset += LENGTH_BYTES + length;
      onFrame(frame);
    }
    if (o < chunk.length) {
      pending.set(chunk.subarray(o), 0);
      this.#pendingBytes = chunk.length - o;
    }
  }
}

/** Prepends the 2-byte big-endian length to a frame body. */
export function writeFrame(body: Uint8Array): Uint8Array {
  assert(body.length >= 1 && body.length <= 0xffff, 'a frame body is 1 to 65535 bytes');
  const out = new Uint8Array(LENGTH_BYTES + body.length);
  out[0] = body.length >>> 8;
  out[1] = body.length & 255;
  out.set(body, LENGTH_BYTES);
  return out;
}
