// npm run bench:ledger — posts two-posting entries with concurrent writers over many accounts against
// a fresh embedded PostgreSQL (durable: fsync and synchronous_commit on), and prints entries per
// second and latency percentiles.
//
//   node bench/ledger.ts [--entries 100000] [--writers 8] [--accounts 1000] [--url postgres://…]

import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { createAudit } from '../src/audit/index.ts';
import { connectDatabase, migrate, startEmbedded } from '../src/db/index.ts';
import { Ledger } from '../src/ledger/index.ts';
import { systemClock } from '../src/shared/clock.ts';
import { createLogger } from '../src/shared/logger.ts';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '100000' },
    writers: { type: 'string', default: '8' },
    accounts: { type: 'string', default: '1000' },
    url: { type: 'string' },
  },
});
const entries = Number(values.entries);
const writers = Number(values.writers);
const accountCount = Number(values.accounts);
const logger = createLogger({ level: 'warn', format: 'json' });

let scratch: string | undefined;
let url = values.url;
let stopServer: (() => Promise<void>) | undefined;
if (url === undefined) {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'tillpoint-bench-'));
  chmodSync(scratch, 0o755);
  const server = await startEmbedded({ clusterDir: path.join(scratch, 'pg'), logger });
  url = server.url;
  stopServer = () => server.stop();
}

const db = await connectDatabase({ url, logger, poolSize: writers + 2 });
await migrate(db, logger);
const settings = await db.query(
  "SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sync",
);
const ledger = new Ledger({
  db,
  audit: createAudit({ clock: systemClock }),
  clock: systemClock,
  timeZone: 'Asia/Shanghai',
});
for (let i = 0; i < accountCount; i++) {
  await ledger.openAccount({ code: `bench:${i}`, name: `Bench ${i}`, type: 'asset' });
}

const histogram = hdr.build({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 60_000_000,
  numberOfSignificantValueDigits: 3,
});
let next = 0;
let seed = 42;
const random = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed;
};

async function writer(): Promise<void> {
  while (next < entries) {
    const i = next++;
    const from = random() % accountCount;
    const to = (from + 1 + (random() % (accountCount - 1))) % accountCount;
    const amountMinor = BigInt(1 + (random() % 1_000_000));
    const started = process.hrtime.bigint();
    await ledger.post({
      idempotencyKey: `bench-${i}`,
      description: 'bench transfer',
      postings: [
        { account: `bench:${to}`, side: 'debit', amountMinor },
        { account: `bench:${from}`, side: 'credit', amountMinor },
      ],
    });
    histogram.recordValue(Number((process.hrtime.bigint() - started) / 1000n));
  }
}

// Warm-up: a few thousand entries not counted.
const warmup = Math.min(5000, Math.floor(entries / 10));
let warmDone = 0;
await Promise.all(
  Array.from({ length: writers }, async () => {
    while (warmDone < warmup) {
      const i = warmDone++;
      await ledger.post({
        idempotencyKey: `warm-${i}`,
        description: 'warm-up',
        postings: [
          { account: `bench:${i % accountCount}`, side: 'debit', amountMinor: 1n },
          { account: `bench:${(i + 1) % accountCount}`, side: 'credit', amountMinor: 1n },
        ],
      });
    }
  }),
);

const started = process.hrtime.bigint();
next = 0;
await Promise.all(Array.from({ length: writers }, writer));
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const report = await ledger.verifyIntegrity();
const trial = await ledger.trialBalance();

const row = settings.rows[0] as { version: string; fsync: string; sync: string };
console.log(
  `ledger benchmark — ${os.cpus()[0]?.model ?? 'cpu'} × ${os.availableParallelism()}, Node ${process.version}`,
);
console.log(
  `PostgreSQL ${row.version} (${stopServer ? 'embedded' : 'given URL'}), fsync=${row.fsync}, synchronous_commit=${row.sync}`,
);
console.log(`${entries} two-posting entries, ${writers} concurrent writers, ${accountCount} accounts`);
console.log(`throughput: ${Math.round(entries / seconds)} entries/s (${seconds.toFixed(2)} s)`);
console.log(
  `latency ms: p50 ${(histogram.getValueAtPercentile(50) / 1000).toFixed(2)}  p90 ${(histogram.getValueAtPercentile(90) / 1000).toFixed(2)}  p99 ${(histogram.getValueAtPercentile(99) / 1000).toFixed(2)}  max ${(histogram.maxValue / 1000).toFixed(2)}`,
);
console.log(
  `integrity: ${report.ok ? 'every balance equals its postings' : 'MISMATCH'}; trial balance difference ${trial.totals.map((t) => `${t.currency} ${t.differenceMinor}`).join(', ')}`,
);

await db.close();
await stopServer?.();
if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
if (!report.ok) process.exit(1);
