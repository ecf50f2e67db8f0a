import { randomBytes } from 'node:crypto';

// Identifiers are UUID version 7 (RFC 9562): random, yet ordered by creation time, so that they index
// well and a list ordered by id is ordered by time.

const POOL_SIZE = 16 * 256;
let pool = randomBytes(POOL_SIZE);
let poolOffset = POOL_SIZE;
let lastMs = 0;
let sequence = 0;

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A new UUIDv7. Ids made in the same millisecond by this process still sort in creation order. */
export function newId(nowMs: number = Date.now()): string {
  if (poolOffset + 10 > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  // 12 bits of "rand_a" serve as a counter within one millisecond (RFC 9562, method 1).
  if (nowMs <= lastMs) {
    sequence++;
    if (sequence > 0xfff) {
      lastMs++;
      sequence = 0;
    }
    nowMs = lastMs;
  } else {
    lastMs = nowMs;
    sequence = pool[poolOffset]! & 0x3f;
  }
  const b = pool;
  const o = poolOffset;
  poolOffset += 10;
  const ms = nowMs;
  const hi = Math.floor(ms / 0x1000000);
  const lo = ms % 0x1000000;
  return (
    HEX[(hi >>> 16) & 0xff]! +
    HEX[(hi >>> 8) & 0xff]! +
    HEX[hi & 0xff]! +
    HEX[(lo >>> 16) & 0xff]! +
    '-' +
    HEX[(lo >>> 8) & 0xff]! +
    HEX[lo & 0xff]! +
    '-' +
    HEX[0x70 | ((sequence >>> 8) & 0x0f)]! +
    HEX[sequence & 0xff]! +
    '-' +
    HEX[0x80 | (b[o]! & 0x3f)]! +
    HEX[b[o + 1]!]! +
    '-' +
    HEX[b[o + 2]!]! +
    HEX[b[o + 3]!]! +
    HEX[b[o + 4]!]! +
    HEX[b[o + 5]!]! +
    HEX[b[o + 6]!]! +
    HEX[b[o + 7]!]!
  );
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isId(value: string): boolean {
  return UUID_PATTERN.test(value);
}
