// What wraps a POS profile message inside a frame: the 5-byte TPDU and the 6-byte header. Small
// values with parse / serialize / reply; the codec itself never sees them.

import { assert } from '../../shared/assert.ts';
import { packInto } from './codec.ts';
import { FrameError, LENGTH_BYTES } from './frame.ts';
import type { AnyMessage } from './message.ts';
import { DIGIT_NIBBLES, HEX } from './tables.ts';

export const TPDU_BYTES = 5;
export const HEADER_BYTES = 6;
export const TPDU_ID = 0x60;

/** `60` + destination address (2 bytes) + source address (2 bytes). */
export interface Tpdu {
  readonly destination: number;
  readonly source: number;
}

export const Tpdu = {
  parse(bytes: Uint8Array, offset = 0): Tpdu {
    if (bytes.length - offset < TPDU_BYTES) {
      throw new FrameError('frame_too_short', offset, `a TPDU is ${TPDU_BYTES} bytes`);
    }
    if (bytes[offset] !== TPDU_ID) throw new FrameError('bad_tpdu', offset, 'a TPDU starts with 60');
    return {
      destination: (bytes[offset + 1]! << 8) | bytes[offset + 2]!,
      source: (bytes[offset + 3]! << 8) | bytes[offset + 4]!,
    };
  },
  write(tpdu: Tpdu, out: Uint8Array, offset = 0): number {
    assert(
      tpdu.destination >= 0 && tpdu.destination <= 0xffff && tpdu.source >= 0 && tpdu.source <= 0xffff,
      'TPDU addresses are 2 bytes',
    );
    out[offset] = TPDU_ID;
    out[offset + 1] = tpdu.destination >>> 8;
    out[offset + 2] = tpdu.destination & 255;
    out[offset + 3] = tpdu.source >>> 8;
    out[offset + 4] = tpdu.source & 255;
    return TPDU_BYTES;
  },
  serialize(tpdu: Tpdu): Uint8Array {
    const out = new Uint8Array(TPDU_BYTES);
    Tpdu.write(tpdu, out);
    return out;
  },
  /** The host's answer goes back with destination and source swapped. */
  reply(tpdu: Tpdu): Tpdu {
    return { destination: tpdu.source, source: tpdu.destination };
  },
  toHex(tpdu: Tpdu): string {
    return Array.from(Tpdu.serialize(tpdu), (b) => HEX[b]).join('');
  },
};

export interface Header {
  /** `0x60`: financial. */
  readonly applicationType: number;
  /** `0x31`. */
  readonly version: number;
  /** High nibble of byte 3: 0 normal, 1 test. */
  readonly terminalStatus: number;
  /** Low nibble of byte 3, host → terminal: 0 none, 3 sign in again. */
  readonly processingRequirement: number;
  /** 3 bytes BCD, six digits. */
  readonly subVersion: string;
}

export const PROCESSING_NONE = 0;
export const PROCESSING_SIGN_IN_AGAIN = 3;

function isDigits(text: string, length: number): boolean {
  if (text.length !== length) return false;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

export const Header = {
  parse(bytes: Uint8Array, offset = 0): Header {
    if (bytes.length - offset < HEADER_BYTES) {
      throw new FrameError('frame_too_short', offset, `a header is ${HEADER_BYTES} bytes`);
    }
    let subVersion = '';
    for (let i = 3; i < 6; i++) {
      const b = bytes[offset + i]!;
      if (DIGIT_NIBBLES.pairOk[b] === 0)
        throw new FrameError('bad_header', offset + i, 'the sub-version is not BCD');
      subVersion += DIGIT_NIBBLES.pair[b];
    }
    return {
      applicationType: bytes[offset]!,
      version: bytes[offset + 1]!,
      terminalStatus: bytes[offset + 2]! >> 4,
      processingRequirement: bytes[offset + 2]! & 15,
      subVersion,
    };
  },
  write(header: Header, out: Uint8Array, offset = 0): number {
    assert(isDigits(header.subVersion, 6), 'the header sub-version is six digits');
    assert(header.terminalStatus >= 0 && header.terminalStatus <= 15, 'terminal status is a nibble');
    assert(
      header.processingRequirement >= 0 && header.processingRequirement <= 15,
      'processing requirement is a nibble',
    );
    out[offset] = header.applicationType;
    out[offset + 1] = header.version;
    out[offset + 2] = (header.terminalStatus << 4) | header.processingRequirement;
    for (let i = 0; i < 3; i++) {
      const s = header.subVersion;
      out[offset + 3 + i] = ((s.charCodeAt(2 * i) - 48) << 4) | (s.charCodeAt(2 * i + 1) - 48);
    }
    return HEADER_BYTES;
  },
  serialize(header: Header): Uint8Array {
    const out = new Uint8Array(HEADER_BYTES);
    Header.write(header, out);
    return out;
  },
  /** The host echoes the header and sets the processing requirement. */
  reply(header: Header, processingRequirement: number = PROCESSING_NONE): Header {
    return { ...header, processingRequirement };
  },
};

/** A frame of the POS profile, the length already removed: TPDU, header, and the message bytes. */
export interface PosFrame {
  readonly tpdu: Tpdu;
  readonly header: Header;
  /** From the MTI on: give it to `unpack` (a view of the frame). */
  readonly message: Uint8Array;
}

/** Splits a frame (as FrameReader delivers it) into TPDU, header and message. */
export function parsePosFrame(frame: Uint8Array): PosFrame {
  if (frame.length < TPDU_BYTES + HEADER_BYTES + 2) {
    throw new FrameError('frame_too_short', 0, `${frame.length} bytes cannot hold TPDU, header and MTI`);
  }
  return {
    tpdu: Tpdu.parse(frame, 0),
    header: Header.parse(frame, TPDU_BYTES),
    message: frame.subarray(TPDU_BYTES + HEADER_BYTES),
  };
}

const frameScratch = new Uint8Array(LENGTH_BYTES + 0xffff);

/** Packs a whole frame: length, TPDU, header, message. */
export function writePosFrame(tpdu: Tpdu, header: Header, message: AnyMessage): Uint8Array {
  let o = LENGTH_BYTES;
  o += Tpdu.write(tpdu, frameScratch, o);
  o += Header.write(header, frameScratch, o);
  o += packInto(message, frameScratch, o);
  const bodyBytes = o - LENGTH_BYTES;
  frameScratch[0] = bodyBytes >>> 8;
  frameScratch[1] = bodyBytes & 255;
  const out = Buffer.allocUnsafe(o);
  out.set(frameScratch.subarray(0, o));
  return out;
}
