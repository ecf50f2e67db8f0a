import type { Command } from 'commander';
import { TillpointError } from '../../shared/errors.ts';
import { CNY, formatPlain, parseAmount } from '../../shared/money.ts';
import {
  DEFAULT_ENDPOINT,
  defaultStateDir,
  formatEndpoint,
  type LoadReport,
  parseCards,
  parseEndpoint,
  parseMix,
  parseTerminalIds,
  parseTpdu,
  runLoad,
  terminalIdsFromPrefix,
} from '../../terminal-sim/index.ts';
import { printJson, printTable } from '../output.ts';
import { parseDuration, stateOptionsOf } from './terminal.ts';

// `tillpoint bench host`: N simulated terminals against a running terminal host, each signing in and
// then running a mix of transactions back to back (one request outstanding per terminal). Prints
// transactions per second, latency percentiles (HDR histogram) and response codes per type.

const HOST_PROVISIONING = `
The host must know the terminals, as for any terminal: ids --tid-prefix + sequence (default
90000001, 90000002, …) or --tids, all bound to merchant --mid (default 102314059990001, the bench
merchant), each provisioned with the TMK and algorithm given here (default: the demo TMK
0123456789ABCDEFFEDCBA9876543210, 3DES, ecb MACs) and operator --operator (default 001). The card
network must know --cards (default: the two approving test cards) with PIN --pin (default 123456).
Terminal state files (trace counters, batches, journals) are kept under --state-dir so that a second
run never repeats a trace within a batch; --settle closes each batch after the run.`;

interface BenchFlags {
  terminals: string;
  duration: string;
  warmup: string;
  mix: string;
  host: string;
  tpdu: string;
  timeout: string;
  tidPrefix: string;
  tids?: string;
  mid: string;
  tmk?: string;
  algorithm?: string;
  macAlgorithm?: string;
  operator: string;
  cards: string;
  pin: string | false;
  amount: string;
  stateDir?: string;
  state: boolean;
  settle?: boolean;
  json?: boolean;
}

function invalid(message: string, param: string): TillpointError {
  return new TillpointError('TILLPOINT_ERR_VALIDATION', message, { param });
}

function wrap<T>(param: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof Error && error.name === 'TerminalError') throw invalid(error.message, param);
    throw error;
  }
}

function printReport(report: LoadReport): void {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  console.log(
    `bench host ${report.endpoint}: ${report.terminals} terminals (${report.terminalIds.first}…${report.terminalIds.last}, merchant ${report.merchantId}), ${seconds(report.measuredMs)} measured after ${seconds(report.warmupMs)} warm-up`,
  );
  const failedSignIns = Object.entries(report.signIn.failed);
  if (failedSignIns.length > 0) {
    console.log(`sign-in failed: ${failedSignIns.map(([code, n]) => `${code} × ${n}`).join(', ')}`);
  }
  console.log('');
  const codes = (map: Readonly<Record<string, number>>) =>
    Object.entries(map)
      .map(([code, n]) => `${code}=${n}`)
      .join(' ');
  const ms = (value: number) => value.toFixed(2);
  printTable(
    ['type', 'count', 'tps', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'response codes'],
    [...report.byType, report.total].map((row) => [
      row.type,
      String(row.count),
      row.tps.toFixed(1),
      ms(row.latency.p50Ms),
      ms(row.latency.p90Ms),
      ms(row.latency.p99Ms),
      ms(row.latency.p999Ms),
      ms(row.latency.maxMs),
      codes(row.responseCodes),
    ]),
    ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
  );
  console.log('');
  if (report.reversals.sent > 0) {
    console.log(
      `reversals sent before a transaction: ${report.reversals.sent} (${report.reversals.cleared} answered)`,
    );
  }
  const errors = Object.entries(report.errors);
  if (errors.length > 0) console.log(`requests not made: ${codes(report.errors)}`);
  if (report.settlement !== null) console.log(`settlement: ${codes(report.settlement)}`);
  console.log(
    `load generator: ${report.client.cpuPercentOfOneCore}% of one core, event loop utilization ${report.client.eventLoopUtilization} (near 1: the generator, not the host, is the limit)`,
  );
}

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('load generators');
  bench
    .command('host')
    .description(
      'simulated terminals against a running terminal host: tps, latency percentiles, response codes',
    )
    .addHelpText('after', HOST_PROVISIONING)
    .option('--terminals <n>', 'how many terminals at once', '50')
    .option('--duration <duration>', 'how long to measure, after the warm-up', '30s')
    .option('--warmup <duration>', 'run this long before measuring', '3s')
    .option(
      '--mix <mix>',
      'transaction mix: type=weight,… of sale, balance, void, refund, preauth, complete, echo',
      'sale=80,balance=10,void=10',
    )
    .option('--host <host:port>', 'the terminal host', formatEndpoint(DEFAULT_ENDPOINT))
    .option('--tpdu <hex>', 'TPDU, terminal → host', '6000030000')
    .option('--timeout <duration>', 'how long each terminal waits for a reply', '10s')
    .option('--tid-prefix <prefix>', 'terminal ids: prefix + sequence number, 8 characters', '9')
    .option('--tids <list>', 'terminal ids instead: 90000001,90000002 or 90000001-90000050')
    .option('--mid <id>', 'the merchant the terminals are bound to', '102314059990001')
    .option('--tmk <hex>', 'the terminals’ TMK, 32 hex digits (default: the demo TMK)')
    .option('--algorithm <3des|sm4>', 'the terminals’ cipher (default 3des)')
    .option('--mac-algorithm <ecb|x99>', 'the terminals’ MAC (default ecb)')
    .option('--operator <code>', 'operator code at sign-in', '001')
    .option('--cards <list>', 'cards, in turn: PAN[:YYMM],… or PAN-PAN', '6222021000000013,6250001000000010')
    .option('--pin <pin>', 'the cards’ PIN', '123456')
    .option('--no-pin', 'send no PIN block')
    .option('--amount <amount>', 'amount of each sale, pre-auth, completion and refund', '0.01')
    .option('--state-dir <dir>', 'terminal state files (default $TILLPOINT_DATA_DIR/terminals)')
    .option('--no-state', 'keep no state files: traces start at 000001 (the host may see repeats)')
    .option('--settle', 'settle each terminal’s batch after the run')
    .option('--json', 'print the report as JSON')
    .action(async (flags: BenchFlags) => {
      const terminals = Number(flags.terminals);
      if (!/^\d+$/.test(flags.terminals) || terminals < 1 || terminals > 10_000) {
        throw invalid('--terminals is 1 to 10000', '--terminals');
      }
      const endpoint = parseEndpoint(flags.host);
      if (endpoint === undefined) throw invalid('--host is host:port', '--host');
      const tpdu = parseTpdu(flags.tpdu);
      if (tpdu === undefined) throw invalid('--tpdu is 10 hex digits starting with 60', '--tpdu');
      const durationMs = parseDuration(flags.duration, '--duration');
      if (durationMs < 100) throw invalid('--duration is at least 100ms', '--duration');
      const warmupMs = parseDuration(flags.warmup, '--warmup');
      const timeoutMs = parseDuration(flags.timeout, '--timeout');
      const mix = wrap('--mix', () => parseMix(flags.mix));
      const terminalIds =
        flags.tids === undefined
          ? wrap('--tid-prefix', () => terminalIdsFromPrefix(flags.tidPrefix, terminals))
          : wrap('--tids', () => parseTerminalIds(flags.tids!));
      const cards = wrap('--cards', () => parseCards(flags.cards));
      const pin = flags.pin === false ? null : flags.pin;
      if (pin !== null && !/^\d{4,12}$/.test(pin)) throw invalid('--pin is 4 to 12 digits', '--pin');
      if (!/^[0-9A-Za-z]{1,3}$/.test(flags.operator))
        throw invalid('--operator is 1 to 3 letters or digits', '--operator');
      const amountMinor = parseAmount(flags.amount, CNY, '--amount');
      if (amountMinor === 0n) throw invalid('--amount must be greater than zero', '--amount');
      const state = stateOptionsOf(flags);

      const controller = new AbortController();
      const onSignal = () => controller.abort();
      process.once('SIGINT', onSignal);
      try {
        if (!flags.json) {
          console.error(
            `${terminalIds.length} terminals → ${formatEndpoint(endpoint)}: signing in, then ${flags.mix} of ${formatPlain(amountMinor, CNY)} for ${flags.warmup} + ${flags.duration} (Ctrl-C stops early)`,
          );
        }
        const report = await runLoad({
          endpoint,
          tpdu,
          terminalIds,
          merchantId: state.merchantId ?? flags.mid,
          ...(state.algorithm === undefined ? {} : { algorithm: state.algorithm }),
          ...(state.macAlgorithm === undefined ? {} : { macAlgorithm: state.macAlgorithm }),
          ...(state.tmkHex === undefined ? {} : { tmkHex: state.tmkHex }),
          operator: flags.operator.padStart(3, '0'),
          mix,
          cards,
          pin,
          amountMinor,
          durationMs,
          warmupMs,
          timeoutMs,
          stateDir: flags.state ? (flags.stateDir ?? defaultStateDir()) : null,
          settle: flags.settle === true,
          signal: controller.signal,
          ...(flags.json
            ? {}
            : {
                onProgress: (progress) =>
                  process.stderr.write(
                    `${(progress.elapsedMs / 1000).toFixed(0)} s${progress.warmingUp ? ' (warm-up)' : ''}: ${progress.tps.toFixed(0)} tps, ${progress.completed} done\n`,
                  ),
              }),
        });
        if (flags.json) printJson(report);
        else printReport(report);
        if (report.total.count === 0) process.exitCode = 2;
      } finally {
        process.removeListener('SIGINT', onSignal);
      }
    });
}
