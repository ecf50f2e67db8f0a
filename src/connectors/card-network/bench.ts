// Authorizations per second of the card-network simulator: approved sales (with a PIN block each)
// from concurrent callers over many cards, against a fresh embedded PostgreSQL (durable: fsync and
// synchronous_commit on) or --url. `--tcp` goes through the ISO 8583 link and the simulator's TCP
// server on loopback (both in this process). Prints the rate and latency percentiles.
//
//   node src/connectors/card-network/bench.ts [--sales 200000] [--callers 400] [--cards 10000] [--in-flight 2]
//     [--max-batch 500] [--no-pin] [--tcp [--connections 4]] [--url postgres://…]

import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { connectDatabase, migrate, startEmbedded } from '../../db/index.ts';
import { encryptPin } from '../../keys/index.ts';
import type { CardNetwork, NetworkRequest } from '../../payments/index.ts';
import { createLogger } from '../../shared/logger.ts';
import { Secret } from '../../shared/secret.ts';
import { createIso87CardNetwork } from './iso87-link.ts';
import { createCardNetworkSimulator } from './simulator.ts';
import { startSimulatorServer } from './simulator-server.ts';
import { testPanHashKey, testPvk, testZpk } from './testing.ts';

const { values } = parseArgs({
  allowNegative: true,
  options: {
    sales: { type: 'string', default: '200000' },
    callers: { type: 'string', default: '400' },
    cards: { type: 'string', default: '10000' },
    connections: { type: 'string', default: '4' },
    'in-flight': { type: 'string', default: '2' },
    'max-batch': { type: 'string', default: '500' },
    pin: { type: 'boolean', default: true },
    tcp: { type: 'boolean', default: false },
    url: { type: 'string' },
  },
});
const sales = Number(values.sales);
const callers = Number(values.callers);
const cardCount = Number(values.cards);
const logger = createLogger({ level: 'warn', format: 'json' });

let scratch: string | undefined;
let url = values.url;
let stopServer: (() => Promise<void>) | undefined;
let postmasterPid: number | undefined;
if (url === undefined) {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'tillpoint-bench-'));
  chmodSync(scratch, 0o755);
  const server = await startEmbedded({ clusterDir: path.join(scratch, 'pg'), logger });
  url = server.url;
  stopServer = () => server.stop();
  postmasterPid = Number.parseInt(readFileSync(path.join(scratch, 'pg', 'postmaster.pid'), 'utf8'), 10);
}

/** CPU seconds used so far by the embedded server's processes (Linux /proc), or undefined. */
function serverCpuSeconds(): number | undefined {
  if (postmasterPid === undefined) return undefined;
  let ticks = 0;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^[0-9]+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue;
      }
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      if (pid !== postmasterPid && Number(fields[1]) !== postmasterPid) continue;
      ticks += Number(fields[11]) + Number(fields[12]);
    }
  } catch {
    return undefined;
  }
  return ticks / 100;
}
const db = await connectDatabase({ url, logger, poolSize: Number(values['in-flight']) + 4 });
await migrate(db, logger);
const settings = await db.query(
  "SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sync",
);

const zpk = testZpk();
const simulator = createCardNetworkSimulator({
  db,
  panHashKey: testPanHashKey(),
  pvk: testPvk(),
  zpk,
  logger,
});
const pans = Array.from({ length: cardCount }, (_, i) => `6229990${i.toString().padStart(9, '0')}`);
await simulator.addCards(
  pans.map((pan) => ({
    pan: new Secret(pan),
    pin: new Secret('123456'),
    kind: 'debit' as const,
    balanceMinor: 1_000_000_000_000n,
  })),
);
// A format 0 PIN block has no randomness: one per card, made once, as a terminal would send it.
const pinBlocks = pans.map((pan) => new Secret(encryptPin(new Secret('123456'), pan, zpk)));

let network: CardNetwork = simulator;
let closeTcp: (() => Promise<void>) | undefined;
if (values.tcp) {
  const server = await startSimulatorServer({ simulator, port: 0, logger });
  const link = createIso87CardNetwork({
    host: '127.0.0.1',
    port: server.port,
    connections: Number(values.connections),
    logger,
  });
  await link.waitUntilConnected(5_000);
  network = link;
  closeTcp = async () => {
    await link.close();
    await server.close();
  };
}

const histogram = hdr.build({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 60_000_000,
  numberOfSignificantValueDigits: 3,
});
let next = 0;
let approvedCount = 0;
const others = new Map<string, number>();

function saleRequest(i: number): NetworkRequest {
  const card = i % cardCount;
  const pan = pans[card]!;
  return {
    operation: 'sale',
    stan: (i % 1_000_000).toString().padStart(6, '0'),
    rrn: `B${i.toString().padStart(11, '0')}`,
    transmittedAt: new Date(),
    amountMinor: 1_234n,
    currencyNumeric: '156',
    card: { pan: new Secret(pan), entryMode: '021' },
    ...(values.pin ? { pinBlockUnderZpk: pinBlocks[card]! } : {}),
    acquirerCode: '48021000',
    terminalId: `T${(i % callers).toString().padStart(7, '0')}`,
    merchantId: '102314054110001',
    merchantName: 'Bench',
  };
}

async function caller(): Promise<void> {
  while (next < end) {
    const i = next++;
    const started = process.hrtime.bigint();
    const outcome = await network.send(saleRequest(i), { timeoutMs: 30_000 });
    histogram.recordValue(Number((process.hrtime.bigint() - started) / 1000n));
    if (outcome.status === 'approved') approvedCount++;
    else {
      const key = outcome.status === 'declined' ? outcome.responseCode : outcome.cause;
      others.set(key, (others.get(key) ?? 0) + 1);
    }
  }
}

// Warm-up (references of their own, after the measured ones): plans prepared, pools filled.
const warmup = Math.min(5_000, sales);
let end = sales + warmup;
next = sales;
await Promise.all(Array.from({ length: callers }, () => caller()));
next = 0;
end = sales;
histogram.reset();
approvedCount = 0;
others.clear();

const before = simulator.stats;
const cpuBefore = process.cpuUsage();
const serverCpuBefore = serverCpuSeconds();
const started = process.hrtime.bigint();
await Promise.all(Array.from({ length: callers }, () => caller()));
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const after = simulator.stats;
const cpu = process.cpuUsage(cpuBefore);
const serverCpuAfter = serverCpuSeconds();
const batches = after.batches - before.batches;

const row = settings.rows[0] as { version: string; fsync: string; sync: string };
const print = (line: string) => process.stdout.write(`${line}\n`);
print(
  `card-network simulator${values.tcp ? ' over ISO 8583 TCP (link ↔ server, loopback)' : ' (in process)'}, ` +
    `${values.pin ? 'a PIN block per sale' : 'no PIN'}, ${values['in-flight']} batches in flight: ` +
    `PostgreSQL ${row.version} (fsync ${row.fsync}, synchronous_commit ${row.sync}), ${os.availableParallelism()} CPUs, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
);
print(
  `${sales} sales from ${callers} callers over ${cardCount} cards: ${(sales / seconds).toFixed(0)} authorizations/s ` +
    `(${approvedCount} approved${others.size === 0 ? '' : `, others ${JSON.stringify(Object.fromEntries(others))}`})`,
);
print(
  `latency ms: p50 ${(histogram.getValueAtPercentile(50) / 1000).toFixed(1)}, p99 ${(histogram.getValueAtPercentile(99) / 1000).toFixed(1)}, max ${(histogram.maxValue / 1000).toFixed(1)}; ` +
    `${batches} batches, ${(sales / Math.max(1, batches)).toFixed(0)} messages per batch`,
);
const phases = Object.entries(after.ms).map(
  ([phase, ms]) =>
    `${phase} ${((ms - before.ms[phase as keyof typeof before.ms]) / Math.max(1, batches)).toFixed(2)}`,
);
print(`ms per batch: ${phases.join(', ')}`);
print(
  `fast path: ${after.fast.batches - before.fast.batches} batches, ${after.fast.jobs - before.fast.jobs} messages ` +
    `(${after.fast.stale - before.fast.stale} on cards whose version had moved, ${after.fast.failed - before.fast.failed} in failed statements, decided again carefully); ` +
    `${after.carefulAgain - before.carefulAgain} batches decided again for a known reference, ${after.retriedAlone - before.retriedAlone} messages retried alone`,
);
print(
  `this process used ${(((cpu.user + cpu.system) / 1e6 / seconds) * 100).toFixed(0)}% of a CPU ` +
    `(${((cpu.user + cpu.system) / sales).toFixed(0)} µs per sale)` +
    (serverCpuBefore === undefined || serverCpuAfter === undefined
      ? ''
      : `; PostgreSQL used ${(((serverCpuAfter - serverCpuBefore) / seconds) * 100).toFixed(0)}% of a CPU (${(((serverCpuAfter - serverCpuBefore) * 1e6) / sales).toFixed(0)} µs per sale)`),
);

await closeTcp?.();
await simulator.close();
await db.close();
await stopServer?.();
if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
