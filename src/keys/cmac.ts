// CMAC (NIST SP 800-38B, RFC 4493 for AES) over any block cipher given as "encrypt one or more
// blocks in ECB". Tillpoint uses it for the check value of AES keys (ANSI X9.24-1 style: CMAC of a
// zero block); it is generic so that its tests can run the published AES vectors.

/** Doubling in GF(2^n) as CMAC's subkey generation defines it (Rb = 0x87 for 128-bit blocks, 0x1B for 64). */
function double(block: Buffer): Buffer {
  const out = Buffer.alloc(block.length);
  let carry = 0;
  for (let i = block.length - 1; i >= 0; i--) {
    const byte = block[i]!;
    out[i] = ((byte << 1) | carry) & 0xff;
    carry = byte >>> 7;
  }
  if (carry === 1) out[block.length - 1]! ^= block.length === 16 ? 0x87 : 0x1b;
  return out;
}

export function cmac(encryptEcb: (blocks: Buffer) => Buffer, blockBytes: 8 | 16, data: Uint8Array): Buffer {
  const l = encryptEcb(Buffer.alloc(blockBytes));
  const k1 = double(l);
  const k2 = double(k1);
  l.fill(0);
  const blockCount = Math.max(1, Math.ceil(data.length / blockBytes));
  const complete = data.length > 0 && data.length % blockBytes === 0;
  const last = Buffer.alloc(blockBytes);
  const lastStart = (blockCount - 1) * blockBytes;
  const lastLength = data.length - lastStart;
  last.set(data.subarray(lastStart));
  if (!complete) last[lastLength] = 0x80;
  const subkey = complete ? k1 : k2;
  for (let i = 0; i < blockBytes; i++) last[i]! ^= subkey[i]!;

  let chain: Buffer = Buffer.alloc(blockBytes);
  const block = Buffer.alloc(blockBytes);
  for (let b = 0; b < blockCount; b++) {
    const source = b === blockCount - 1 ? last : data.subarray(b * blockBytes, (b + 1) * blockBytes);
    for (let i = 0; i < blockBytes; i++) block[i] = source[i]! ^ chain[i]!;
    const next = encryptEcb(block);
    chain.fill(0);
    chain = next;
  }
  k1.fill(0);
  k2.fill(0);
  last.fill(0);
  block.fill(0);
  return chain;
}
