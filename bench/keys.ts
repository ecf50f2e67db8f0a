// npm run bench:keys — the keys module's hot paths on one core (this one thread), operations per
// second, for a 3DES terminal and an SM4 terminal:
//
// - profile MAC (`ecb`) generate and verify over a 200-byte message (a sale is ~110-200 bytes);
// - x99 CBC-MAC generate over the same 200 bytes, for comparison;
// - PIN translate from the terminal PIN key to a zone PIN key of the same algorithm (and SM4 → 3DES);
// - working-key generation: new PIN and MAC keys + field 62 under the TMK (a sign-in), keys destroyed after;
// - a complete request check: MAC verify (200 bytes) + PIN translate + reply MAC generate (200 bytes);
//   the floor under it (the same four cipher calls on bare node:crypto objects); then the check for
//   32 terminals with the zone-key encryption of their 32 PIN blocks done in one cipher call
//   (translatePinBlocks), counted per request.
//
// Each figure is measured in a fresh child process (so that one row's garbage does not slow the
// next), as the median of 5 one-second rounds after a warm-up round, with the best round beside it.
//
//   node bench/keys.ts [--round-ms 1000] [--rounds 5]

import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import {
  encryptPin,
  generateKey,
  generateMac,
  generateWorkingKeys,
  importClearKey,
  type KeyAlgorithm,
  translatePinBlock,
  translatePinBlocks,
  verifyMac,
} from '../src/keys/crypto.ts';
import { Secret } from '../src/shared/secret.ts';

const { values } = parseArgs({
  options: {
    'round-ms': { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    measure: { type: 'string' },
  },
});
const roundMs = Number(values['round-ms']);
const rounds = Number(values.rounds);

const TARGET_MACS_PER_SECOND = 300_000;
const TARGET_REQUEST_CHECKS_PER_SECOND = 150_000;
const PAN = '6222021000000013';

let sink = 0;

/** Operations per second of `operation` per round of `roundMs`, after one warm-up round, sorted. */
function measure(operation: () => number, operationsPerCall = 1): number[] {
  const perSecond: number[] = [];
  for (let round = -1; round < rounds; round++) {
    let count = 0;
    const started = process.hrtime.bigint();
    const until = started + BigInt(roundMs) * 1_000_000n;
    let now = started;
    while (now < until) {
      for (let i = 0; i < 1000; i++) sink ^= operation();
      count += 1000 * operationsPerCall;
      now = process.hrtime.bigint();
    }
    if (round >= 0) perSecond.push((count * 1e9) / Number(now - started));
  }
  return perSecond.sort((a, b) => a - b);
}

interface Terminal {
  readonly name: string;
  readonly tmk: ReturnType<typeof generateKey>;
  readonly pinKey: ReturnType<typeof generateKey>;
  readonly macKey: ReturnType<typeof generateKey>;
  readonly zpk: ReturnType<typeof generateKey>;
}

function terminal(algorithm: KeyAlgorithm): Terminal {
  const des = algorithm !== 'sm4';
  return {
    name: des ? '3DES' : 'SM4',
    tmk: importClearKey(Buffer.from('0123456789ABCDEFFEDCBA9876543210', 'hex'), { algorithm, usage: 'tmk' }),
    pinKey: generateKey({ algorithm, usage: 'pin' }),
    macKey: generateKey({ algorithm, usage: 'mac' }, { singleLengthDes: des }),
    zpk: generateKey({ algorithm, usage: 'zpk' }),
  };
}

const request = randomBytes(200);
const reply = randomBytes(200);
const terminals = [terminal('3des-2key'), terminal('sm4')];
const zpk3des = generateKey({ algorithm: '3des-2key', usage: 'zpk' });

interface Row {
  readonly name: string;
  readonly run: (t: Terminal) => () => number;
  readonly target?: number;
  /** Operations one call of the function does (a batch). */
  readonly batch?: number;
}

const BATCH = 32;

const rows: Row[] = [
  {
    name: 'profile MAC generate, 200 B',
    target: TARGET_MACS_PER_SECOND,
    run: (t) => () => generateMac(request, t.macKey)[0]!,
  },
  {
    name: 'profile MAC verify, 200 B',
    target: TARGET_MACS_PER_SECOND,
    run: (t) => {
      const mac = generateMac(request, t.macKey);
      return () => (verifyMac(request, mac, t.macKey) ? 1 : 0);
    },
  },
  {
    name: 'x99 CBC-MAC generate, 200 B',
    run: (t) => () => generateMac(request, t.macKey, 'x99')[0]!,
  },
  {
    name: 'PIN translate TPK → ZPK (same algorithm)',
    run: (t) => {
      const pinBlock = encryptPin(new Secret('123456'), PAN, t.pinKey);
      return () => translatePinBlock(pinBlock, PAN, t.pinKey, t.zpk)[0]!;
    },
  },
  {
    name: 'PIN translate TPK → 3DES ZPK',
    run: (t) => {
      const pinBlock = encryptPin(new Secret('123456'), PAN, t.pinKey);
      return () => translatePinBlock(pinBlock, PAN, t.pinKey, zpk3des)[0]!;
    },
  },
  {
    name: 'working keys: new PIN + MAC keys, field 62',
    run: (t) => () => {
      const { keys, field62 } = generateWorkingKeys('pin+mac', t.tmk);
      keys.pin.destroy();
      keys.mac.destroy();
      return field62[0]!;
    },
  },
  {
    name: 'request check: MAC verify + PIN translate + reply MAC',
    target: TARGET_REQUEST_CHECKS_PER_SECOND,
    run: (t) => {
      const pinBlock = encryptPin(new Secret('123456'), PAN, t.pinKey);
      const mac = generateMac(request, t.macKey);
      return () => {
        if (!verifyMac(request, mac, t.macKey)) throw new Error('MAC did not verify');
        const underZpk = translatePinBlock(pinBlock, PAN, t.pinKey, t.zpk);
        return underZpk[0]! ^ generateMac(reply, t.macKey)[0]!;
      };
    },
  },
  {
    // The same four cipher calls on bare node:crypto objects, nothing else: what Node.js's
    // Cipher#update costs per call (two ArrayBuffer allocations and an EVP call) bounds the row above.
    name: 'floor: the 4 bare Cipher#update calls of a check',
    run: (t) => {
      const des = t.pinKey.algorithm !== 'sm4';
      const block = des ? 8 : 16;
      const material = Buffer.alloc(16, 0x5a);
      const cbc = createCipheriv(
        des ? 'des-ede-cbc' : 'sm4-cbc',
        material,
        Buffer.alloc(block),
      ).setAutoPadding(false);
      const decipher = createDecipheriv(des ? 'des-ede-ecb' : 'sm4-ecb', material, null).setAutoPadding(
        false,
      );
      const cipher = createCipheriv(des ? 'des-ede-ecb' : 'sm4-ecb', material, null).setAutoPadding(false);
      const twoBlocks = Buffer.alloc(2 * block);
      const oneBlock = Buffer.alloc(block);
      return () =>
        cbc.update(twoBlocks)[0]! ^ cipher.update(decipher.update(oneBlock))[0]! ^ cbc.update(twoBlocks)[0]!;
    },
  },
  {
    name: `request check, zone-key step batched ${BATCH} per call`,
    batch: BATCH,
    run: (t) => {
      // 32 requests from 32 terminals arriving in one turn of the event loop: each verified and
      // decrypted under its own keys, the zone-key encryption done for all in one call.
      const sessions = Array.from({ length: BATCH }, () => {
        const des = t.pinKey.algorithm !== 'sm4';
        const pinKey = generateKey({ algorithm: t.pinKey.algorithm, usage: 'pin' });
        const macKey = generateKey({ algorithm: t.pinKey.algorithm, usage: 'mac' }, { singleLengthDes: des });
        const pinBlock = encryptPin(new Secret('123456'), PAN, pinKey);
        return { pinKey, macKey, pinBlock, mac: generateMac(request, macKey) };
      });
      const translations = sessions.map((s) => ({ pinBlockUnderTpk: s.pinBlock, pan: PAN, tpk: s.pinKey }));
      return () => {
        for (const s of sessions)
          if (!verifyMac(request, s.mac, s.macKey)) throw new Error('MAC did not verify');
        const underZpk = translatePinBlocks(translations, t.zpk);
        let x = 0;
        for (const s of sessions) x ^= generateMac(reply, s.macKey)[0]!;
        return x ^ (underZpk[0] as Buffer)[0]!;
      };
    },
  },
];

if (values.measure !== undefined) {
  // Child process: one row, one terminal; prints the sorted rounds as JSON.
  const [rowIndex, terminalIndex] = values.measure.split(':').map(Number);
  const row = rows[rowIndex!]!;
  console.log(JSON.stringify(measure(row.run(terminals[terminalIndex!]!), row.batch)));
  process.exit(0);
}

function measureInChild(rowIndex: number, terminalIndex: number): number[] {
  const child = spawnSync(
    process.execPath,
    [
      ...process.execArgv,
      import.meta.filename,
      '--measure',
      `${rowIndex}:${terminalIndex}`,
      '--round-ms',
      String(roundMs),
      '--rounds',
      String(rounds),
    ],
    { encoding: 'utf8' },
  );
  if (child.status !== 0) throw new Error(`measuring ${rows[rowIndex]!.name} failed: ${child.stderr}`);
  return JSON.parse(child.stdout) as number[];
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(`Tillpoint keys bench — Node ${process.version}, OpenSSL ${process.versions.openssl}`);
console.log(
  `${cpu}, one thread per measurement, each in a fresh process; median of ${rounds} rounds of ${roundMs} ms ` +
    'after a warm-up round, (best round)',
);
console.log(`Load average (1 min) at the start: ${loadavg()[0]!.toFixed(2)} on ${cpus().length} CPUs\n`);

const nameWidth = Math.max(...rows.map((row) => row.name.length));
const columnWidth = 22;
const format = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(
  `${'operation'.padEnd(nameWidth)}  ${terminals.map((t) => `${t.name}/s`.padStart(columnWidth)).join('  ')}  target`,
);
const misses: string[] = [];
rows.forEach((row, rowIndex) => {
  const medians: number[] = [];
  const cells = terminals.map((_, terminalIndex) => {
    const perRound = measureInChild(rowIndex, terminalIndex);
    const median = perRound[Math.floor(perRound.length / 2)]!;
    medians.push(median);
    return `${format(median)} (${format(perRound[perRound.length - 1]!)})`.padStart(columnWidth);
  });
  const target = row.target === undefined ? '' : `≥ ${format(row.target)}`;
  console.log(`${row.name.padEnd(nameWidth)}  ${cells.join('  ')}  ${target}`);
  if (row.target !== undefined) {
    medians.forEach((median, i) => {
      if (median < row.target!) misses.push(`${row.name} (${terminals[i]!.name}): ${format(median)}/s`);
    });
  }
});
console.log(
  `\nLoad average (1 min) at the end: ${loadavg()[0]!.toFixed(2)} on ${cpus().length} CPUs: other processes share the cores.`,
);
console.log(
  misses.length === 0
    ? '\nAll targets met (≥ 300,000 profile MACs/s, ≥ 150,000 request checks/s per core).'
    : `\nBelow target (medians):\n  ${misses.join('\n  ')}`,
);
if (sink === 0.5) console.log(sink);
