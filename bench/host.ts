// npm run bench:host — the terminal host under load: a fresh embedded PostgreSQL (durable: fsync and
// synchronous_commit on), the platform with the built-in card network, a bench merchant with N
// terminals and many cards, and `tillpoint bench host` in a second process driving them over TCP
// (sales with PIN and MAC by default). Prints the load generator's report, then checks that every
// approved sale is recorded once with its ledger entry and that the trial balance is zero.
//
//   node bench/host.ts [--terminals 50] [--duration 30s] [--mix sale=100] [--cards 200]
//                      [--network simulator|memory] [--runs 1]

import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/cli/commands/terminal.ts';
import { loadConfig } from '../src/config.ts';
import { freePort, startEmbedded } from '../src/db/index.ts';
import { loadDemoData } from '../src/demo/index.ts';
import { createTerminalHost } from '../src/host/index.ts';
import { ACQUIRER_CODE, startPlatform } from '../src/main.ts';
import type { CardNetwork } from '../src/payments/index.ts';
import { createLogger } from '../src/shared/logger.ts';
import { passesLuhn } from '../src/shared/redact.ts';
import { Secret } from '../src/shared/secret.ts';
import type { LoadReport } from '../src/terminal-sim/index.ts';

const { values } = parseArgs({
  options: {
    terminals: { type: 'string', default: '50' },
    duration: { type: 'string', default: '30s' },
    warmup: { type: 'string', default: '3s' },
    mix: { type: 'string', default: 'sale=100' },
    cards: { type: 'string', default: '200' },
    // Runs of the load generator against the same host, one after the other: the figures of this
    // virtual machine move by ±15 % from run to run, so compare medians. One run prints its table.
    runs: { type: 'string', default: '1' },
    // `simulator` (the built-in card network, with its own durable tables) or `memory` (approves at
    // once, writes nothing: the host alone).
    network: { type: 'string', default: 'simulator' },
  },
});
const terminalCount = Number(values.terminals);
const cardCount = Number(values.cards);
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 20)
  throw new Error('--runs is a whole number from 1 to 20');
const BENCH_MERCHANT = '102314059990001';
const logger = createLogger({ level: 'warn', format: 'json', destination: process.stderr });

/** The fields of /proc/<pid>/stat after the command name (Linux), or undefined when it is gone. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds used so far by each of `pids` (Linux /proc; empty elsewhere) and by the whole machine. */
function cpuSnapshot(pids: Record<string, number[]>): {
  at: number;
  byName: Map<string, Map<number, number>>;
  idle: number;
} {
  const tick = 100; // USER_HZ
  const byName = new Map<string, Map<number, number>>();
  let idle = 0;
  try {
    for (const [name, list] of Object.entries(pids)) {
      const byPid = new Map<number, number>();
      for (const pid of list) {
        const fields = procStat(pid);
        if (fields !== undefined) byPid.set(pid, (Number(fields[11]) + Number(fields[12])) / tick);
      }
      byName.set(name, byPid);
    }
    idle = Number(readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/)[4]) / tick;
  } catch {
    // not Linux
  }
  return { at: performance.now(), byName, idle };
}

/** The parent of a process, or undefined when it is gone or there is no /proc. */
function parentOf(pid: number): number | undefined {
  const fields = procStat(pid);
  return fields === undefined ? undefined : Number(fields[1]);
}

/** The embedded server's processes: the postmaster and its children (backends, WAL writer …). */
function postgresPids(postmaster: number | undefined): number[] {
  if (postmaster === undefined) return [];
  try {
    const children = readdirSync('/proc').filter(
      (name) => /^\d+$/.test(name) && parentOf(Number(name)) === postmaster,
    );
    return [postmaster, ...children.map(Number)];
  } catch {
    return [];
  }
}

/** The bench's terminal ids: 9 + a 7-digit sequence number. */
function terminalId(n: number): string {
  return `9${String(n).padStart(7, '0')}`;
}

/** One line of a run's report: its rate, latency and response codes. */
function describeRun(report: LoadReport): string {
  const { total } = report;
  const codes = Object.entries(total.responseCodes)
    .map(([code, count]) => `${code}=${count}`)
    .join(' ');
  return `${total.count} transactions, ${total.tps.toFixed(1)} tps, p50 ${total.latency.p50Ms.toFixed(2)} ms, p99 ${total.latency.p99Ms.toFixed(2)} ms, max ${total.latency.maxMs.toFixed(2)} ms; ${codes}; generator ${report.client.cpuPercentOfOneCore.toFixed(0)} % of one core`;
}

/** Card numbers of the bench: 62220299 + 7 digits + a Luhn check digit. */
function benchPans(count: number): string[] {
  const pans: string[] = [];
  for (let i = 0; pans.length < count; i++) {
    const body = `62220299${String(i).padStart(7, '0')}`;
    for (let check = 0; check <= 9; check++) {
      if (passesLuhn(`${body}${check}`)) {
        pans.push(`${body}${check}`);
        break;
      }
    }
  }
  return pans;
}

const scratch = mkdtempSync(path.join(os.tmpdir(), 'tillpoint-bench-host-'));
chmodSync(scratch, 0o755);
const server = await startEmbedded({
  clusterDir: path.join(scratch, 'pg'),
  logger,
  settings: { max_connections: '200' },
});
const isoPort = await freePort();
const config = loadConfig({
  TILLPOINT_DATA_DIR: scratch,
  DATABASE_URL: server.url,
  TILLPOINT_ISO_PORT: String(isoPort),
  LOG_LEVEL: 'warn',
});
let authCodes = 0;
const memoryNetwork: CardNetwork = {
  async send() {
    return { status: 'approved', authCode: String(100000 + (authCodes++ % 899999)) };
  },
  async reverse() {
    return { status: 'acknowledged' };
  },
  async close() {},
};
const platform = await startPlatform({
  config,
  logger,
  purpose: 'bench host',
  role: 'owner',
  poolSize: 40,
  ...(values.network === 'memory' ? { network: memoryNetwork } : {}),
});
let exitCode = 0;
try {
  await loadDemoData(platform);
  const actor = { type: 'system', id: 'bench' } as const;
  for (const account of ['pending', 'payable']) {
    await platform.ledger.openAccount(
      { code: `merchant:${BENCH_MERCHANT}:${account}`, name: `bench merchant ${account}`, type: 'liability' },
      actor,
    );
  }
  await platform.merchants.create(
    {
      id: BENCH_MERCHANT,
      name: '基准测试商户 bench merchant',
      kind: 'enterprise',
      singleLimitMinor: 10_000_000n,
      operators: [{ code: '001', name: 'bench' }],
    },
    actor,
  );
  // Each run has terminals of its own: a new run's traces start again at 1, and on the last run's
  // terminals they would be retransmissions in the same batch.
  for (let i = 1; i <= terminalCount * runs; i++) {
    const id = terminalId(i);
    const owner = { type: 'terminal', id } as const;
    const tmk =
      (await platform.keys.active(owner, 'tmk')) ??
      (await platform.keys.importClear(
        {
          usage: 'tmk',
          algorithm: '3des-2key',
          owner,
          material: new Secret(Buffer.from('0123456789ABCDEFFEDCBA9876543210', 'hex')),
        },
        actor,
      ));
    await platform.terminals.provision(
      { id, merchantId: BENCH_MERCHANT, algorithm: '3des', tmkKeyId: tmk.id },
      actor,
    );
  }
  const pans = benchPans(cardCount);
  await platform.simulator?.addCards(
    pans.map((pan) => ({
      pan: new Secret(pan),
      pin: new Secret('123456'),
      kind: 'debit' as const,
      balanceMinor: 10_000_000_000n,
      perTransactionLimitMinor: 10_000_000n,
    })),
  );
  const host = createTerminalHost({
    db: platform.db,
    terminals: platform.terminals,
    merchants: platform.merchants,
    payments: platform.payments,
    logger,
    acquirerCode: ACQUIRER_CODE,
    now: () => platform.now(),
  });
  await host.listen(isoPort, '127.0.0.1');
  platform.payments.reversals.start();

  const version = (await platform.db.query('SHOW server_version')).rows[0] as { server_version: string };
  const cpu = os.cpus()[0]?.model ?? 'cpu';
  console.log(
    `host benchmark — ${cpu} × ${os.availableParallelism()}, Node ${process.version}, PostgreSQL ${version.server_version} (embedded, fsync on, synchronous_commit on)`,
  );
  console.log(
    `${terminalCount} terminals, ${cardCount} cards, mix ${values.mix}, ${runs > 1 ? `${runs} runs of ` : ''}${values.duration} after a ${values.warmup} warm-up, card network: ${values.network}; load generator in its own process`,
  );

  // How late the host's event loop runs (1 ms timer), from the end of the warm-up: a request, or a
  // batch's answer from PostgreSQL, waits that long when the loop is busy.
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  const backend = await platform.db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const postmaster = parentOf(backend.rows[0]!.pid);
  let cpuFrom: ReturnType<typeof cpuSnapshot> | undefined;
  // The load generator reports its own share when it ends.
  const pidsOf = (): Record<string, number[]> => ({
    host: [process.pid],
    postgres: postgresPids(postmaster),
  });
  const warmupTimer = setTimeout(() => {
    loopDelay.enable();
    cpuFrom = cpuSnapshot(pidsOf());
  }, 2_000 + parseDuration(values.warmup!, '--warmup'));
  const generatorArgs = [
    'src/cli/main.ts',
    'bench',
    'host',
    '--host',
    `127.0.0.1:${isoPort}`,
    '--duration',
    values.duration!,
    '--warmup',
    values.warmup!,
    '--mix',
    values.mix!,
    '--mid',
    BENCH_MERCHANT,
    '--cards',
    pans.join(','),
    '--no-state',
    ...(runs > 1 ? ['--json'] : []),
  ];
  const reports: LoadReport[] = [];
  for (let run = 1; run <= runs; run++) {
    const tids = `${terminalId((run - 1) * terminalCount + 1)}-${terminalId(run * terminalCount)}`;
    const generator = spawn(process.execPath, [...generatorArgs, '--tids', tids], {
      stdio: ['ignore', runs > 1 ? 'pipe' : 'inherit', 'inherit'],
      env: { ...process.env, LOG_LEVEL: 'warn' },
    });
    let output = '';
    generator.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    const generatorExit = await new Promise<number>((resolve) =>
      generator.on('exit', (code) => resolve(code ?? 1)),
    );
    if (generatorExit !== 0) exitCode = 1;
    if (runs > 1 && generatorExit === 0) {
      const report = JSON.parse(output) as LoadReport;
      reports.push(report);
      console.log(`run ${run}: ${describeRun(report)}`);
    }
  }
  if (reports.length > 1) {
    const median = (pick: (report: LoadReport) => number) => {
      const sorted = reports.map(pick).sort((a, b) => a - b);
      const middle = sorted.length >> 1;
      return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
    };
    console.log(
      `median of ${reports.length} runs: ${median((r) => r.total.tps).toFixed(1)} tps, p50 ${median((r) => r.total.latency.p50Ms).toFixed(2)} ms, p99 ${median((r) => r.total.latency.p99Ms).toFixed(2)} ms`,
    );
  }
  const cpuTo = cpuSnapshot(pidsOf());

  clearTimeout(warmupTimer);
  loopDelay.disable();
  await host.close();
  await platform.payments.reversals.runDue();
  const counts = (
    await platform.db.query<{ kind: string; status: string; n: number }>(
      `SELECT kind, status, count(*)::int AS n FROM card_payments GROUP BY kind, status ORDER BY kind, status`,
    )
  ).rows;
  const unbooked = (
    await platform.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM card_payments p
        WHERE p.kind = 'sale' AND p.status IN ('approved', 'voided')
          AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.id = p.ledger_entry_id)`,
    )
  ).rows[0]!.n;
  const inHost = (
    await platform.db.query<{ p50: number; p99: number }>(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY elapsed_us) / 1000 AS p50,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY elapsed_us) / 1000 AS p99
         FROM host_messages WHERE direction = 'out' AND mti = '0210'`,
    )
  ).rows[0]!;
  const integrity = await platform.ledger.verifyIntegrity();
  const trial = await platform.ledger.trialBalance();
  console.log('');
  if (platform.simulator !== undefined) {
    const stats = platform.simulator.stats;
    const per = (ms: number) => (ms / Math.max(1, stats.batches)).toFixed(2);
    console.log(
      `card network simulator: ${stats.batches} batches of ${(stats.jobs / Math.max(1, stats.batches)).toFixed(1)} messages on average; ms per batch: lock ${per(stats.ms.lock)}, load ${per(stats.ms.load)}, decide ${per(stats.ms.decide)}, write+commit ${per(stats.ms.write)}`,
    );
  }
  const ms = (ns: number) => (ns / 1e6).toFixed(2);
  if (cpuFrom !== undefined && cpuFrom.byName.size > 0) {
    const seconds = (cpuTo.at - cpuFrom.at) / 1000;
    // Processes alive at both ends (a backend that came or went in between is left out).
    const share = (name: string) => {
      let used = 0;
      for (const [pid, to] of cpuTo.byName.get(name) ?? []) {
        const from = cpuFrom!.byName.get(name)?.get(pid);
        if (from !== undefined) used += to - from;
      }
      return `${name} ${((100 * used) / seconds).toFixed(0)} %`;
    };
    const idle = (100 * (cpuTo.idle - cpuFrom.idle)) / seconds;
    console.log(
      `CPU after the (first) warm-up, % of one core: ${share('host')}, ${share('postgres')} (all its processes); the machine idle ${idle.toFixed(0)} % of ${os.availableParallelism() * 100} %`,
    );
  }
  const recorder = platform.payments.recorderStats;
  if (recorder.batches > 0 && recorder.firstAt !== undefined && recorder.lastAt !== undefined) {
    console.log(
      `payment recorder: ${recorder.batches} batches of ${(recorder.items / recorder.batches).toFixed(1)} requests on average, ${(recorder.ms / recorder.batches).toFixed(2)} ms from sending a batch to its answer, busy ${((100 * recorder.ms) / (recorder.lastAt - recorder.firstAt)).toFixed(0)} % of the time`,
    );
  }
  console.log(
    `host event loop delay: mean ${ms(loopDelay.mean)} ms, p99 ${ms(loopDelay.percentile(99))} ms, max ${ms(loopDelay.max)} ms`,
  );
  console.log(
    `time inside the host per sale (journal): p50 ${Number(inHost.p50).toFixed(2)} ms, p99 ${Number(inHost.p99).toFixed(2)} ms`,
  );
  console.log(`recorded: ${counts.map((c) => `${c.kind}/${c.status} ${c.n}`).join(', ')}`);
  console.log(
    `checks: ${unbooked === 0 ? 'every approved sale has its ledger entry' : `${unbooked} approved sales WITHOUT a ledger entry`}; ledger ${integrity.ok ? 'sound' : 'NOT SOUND'}; trial balance difference ${trial.totals.map((t) => `${t.currency} ${t.differenceMinor}`).join(', ')}`,
  );
  if (unbooked !== 0 || !integrity.ok) exitCode = 1;
} finally {
  await platform.close();
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
}
execFileSync('true');
process.exit(exitCode);
