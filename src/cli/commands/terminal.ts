import type { Command } from 'commander';
import { TillpointError } from '../../shared/errors.ts';
import { CNY, formatAmount, parseAmount } from '../../shared/money.ts';
import { maskPan } from '../../shared/redact.ts';
import { Secret } from '../../shared/secret.ts';
import {
  applyStateOptions,
  type CardData,
  DEFAULT_ENDPOINT,
  DEFAULT_TIMEOUT_MS,
  defaultStateDir,
  FileStateStore,
  formatEndpoint,
  formatSlip,
  merchantNameOf,
  type NetworkResult,
  newTerminalState,
  parseEndpoint,
  parseTpdu,
  type ReversalResult,
  responseText,
  type SettlementResult,
  type StateOptions,
  stateFileOf,
  Terminal,
  type TerminalState,
  type TransactionResult,
} from '../../terminal-sim/index.ts';
import { printJson, printTable } from '../output.ts';

// `tillpoint terminal …`: a simulated POS terminal of the Tillpoint profile talking ISO 8583 to the
// host. Its state (TMK, working keys, batch, trace, pending reversal, journal) lives in
// $TILLPOINT_DATA_DIR/terminals/<tid>.json; every command loads it, talks to the host, writes it back.
// Approved sales, voids, refunds and completions print the slip (签购单); --json prints the result.
// Exit codes: 0 approved, 2 declined or unanswered (the result is printed), 1 the command could not run.

interface CommonFlags {
  tid: string;
  host: string;
  tpdu: string;
  timeout: string;
  json?: boolean;
  stateDir?: string;
  mid?: string;
  tmk?: string;
  algorithm?: string;
  macAlgorithm?: string;
}

interface CardFlags {
  card?: string;
  expiry: string;
  manual?: boolean;
  pin?: string;
}

function invalid(message: string, param: string): TillpointError {
  return new TillpointError('TILLPOINT_ERR_VALIDATION', message, { param });
}

/** `30s`, `500ms`, `2m`, or a number of seconds → milliseconds. */
export function parseDuration(text: string, param: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (match === null)
    throw invalid(`${param} is a duration like 30s, 500ms or 2m; got ${JSON.stringify(text)}`, param);
  const value = Number(match[1]);
  const ms = match[2] === 'ms' ? value : match[2] === 'm' ? value * 60_000 : value * 1000;
  if (!Number.isFinite(ms) || ms > 24 * 3_600_000) throw invalid(`${param} is too long`, param);
  return Math.round(ms);
}

export function stateOptionsOf(
  flags: Pick<CommonFlags, 'mid' | 'tmk' | 'algorithm' | 'macAlgorithm'>,
): StateOptions {
  const options: { -readonly [K in keyof StateOptions]: StateOptions[K] } = {};
  if (flags.mid !== undefined) {
    if (!/^[0-9A-Za-z]{15}$/.test(flags.mid))
      throw invalid('--mid is a merchant id of 15 letters or digits', '--mid');
    options.merchantId = flags.mid;
  }
  if (flags.tmk !== undefined) {
    if (!/^[0-9A-Fa-f]{32}$/.test(flags.tmk)) throw invalid('--tmk is 32 hex digits', '--tmk');
    options.tmkHex = flags.tmk.toUpperCase();
  }
  if (flags.algorithm !== undefined) {
    if (flags.algorithm !== '3des' && flags.algorithm !== 'sm4')
      throw invalid('--algorithm is 3des or sm4', '--algorithm');
    options.algorithm = flags.algorithm;
  }
  if (flags.macAlgorithm !== undefined) {
    if (flags.macAlgorithm !== 'ecb' && flags.macAlgorithm !== 'x99') {
      throw invalid('--mac-algorithm is ecb or x99', '--mac-algorithm');
    }
    options.macAlgorithm = flags.macAlgorithm;
  }
  return options;
}

function checkTid(tid: string): string {
  if (!/^[0-9A-Za-z]{8}$/.test(tid))
    throw invalid(`--tid is a terminal id of 8 letters or digits; got ${JSON.stringify(tid)}`, '--tid');
  return tid;
}

function loadState(flags: CommonFlags): { state: TerminalState; store: FileStateStore } {
  const tid = checkTid(flags.tid);
  const store = new FileStateStore(stateFileOf(flags.stateDir ?? defaultStateDir(), tid));
  const overrides = stateOptionsOf(flags);
  let state = store.load();
  if (state === undefined) {
    state = newTerminalState(tid, overrides);
    store.save(state);
  } else if (applyStateOptions(state, overrides)) store.save(state);
  return { state, store };
}

async function withTerminal<T>(flags: CommonFlags, fn: (terminal: Terminal) => Promise<T>): Promise<T> {
  const endpoint = parseEndpoint(flags.host);
  if (endpoint === undefined)
    throw invalid(`--host is host:port, e.g. ${formatEndpoint(DEFAULT_ENDPOINT)}`, '--host');
  const tpdu = parseTpdu(flags.tpdu);
  if (tpdu === undefined)
    throw invalid('--tpdu is 10 hex digits starting with 60, e.g. 6000030000', '--tpdu');
  const timeoutMs = parseDuration(flags.timeout, '--timeout');
  const { state, store } = loadState(flags);
  const terminal = new Terminal({ state, store, endpoint, tpdu, timeoutMs });
  try {
    return await fn(terminal);
  } finally {
    terminal.close();
  }
}

function cardOf(flags: CardFlags, required: true): CardData & { pin: Secret<string> | null };
function cardOf(flags: CardFlags, required: false): (CardData & { pin: Secret<string> | null }) | undefined;
function cardOf(
  flags: CardFlags,
  required: boolean,
): (CardData & { pin: Secret<string> | null }) | undefined {
  if (flags.card === undefined) {
    if (required) throw invalid('--card <PAN> is required', '--card');
    if (flags.manual === true) throw invalid('--manual goes with --card', '--manual');
    return undefined;
  }
  if (!/^\d{13,19}$/.test(flags.card)) throw invalid('--card is a card number of 13 to 19 digits', '--card');
  const month = Number(flags.expiry.slice(2));
  if (!/^\d{4}$/.test(flags.expiry) || month < 1 || month > 12)
    throw invalid('--expiry is YYMM, e.g. 3012', '--expiry');
  return {
    pan: flags.card,
    expiry: flags.expiry,
    entry: flags.manual === true ? 'manual' : 'swipe',
    pin: pinOf(flags),
  };
}

function pinOf(flags: CardFlags): Secret<string> | null {
  if (flags.pin === undefined) return null;
  if (!/^\d{4,12}$/.test(flags.pin)) throw invalid('--pin is 4 to 12 digits', '--pin');
  return new Secret(flags.pin);
}

function amountOf(text: string, param = 'amount'): bigint {
  const amount = parseAmount(text, CNY, param);
  if (amount === 0n) throw invalid(`${param} must be greater than zero`, param);
  return amount;
}

function traceOf(text: string, param: string): string {
  if (!/^\d{1,6}$/.test(text) || Number(text) === 0)
    throw invalid(`${param}: a trace (凭证号) is 1 to 6 digits, not 0; got ${JSON.stringify(text)}`, param);
  return text.padStart(6, '0');
}

function dateOf(text: string | undefined, param = '--date'): string | undefined {
  if (text === undefined) return undefined;
  const month = Number(text.slice(0, 2));
  const day = Number(text.slice(2));
  if (!/^\d{4}$/.test(text) || month < 1 || month > 12 || day < 1 || day > 31)
    throw invalid(`${param} is MMDD`, param);
  return text;
}

function batchOf(text: string | undefined, param: string): string | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,6}$/.test(text)) throw invalid(`${param} is a batch number of 1 to 6 digits`, param);
  return text.padStart(6, '0');
}

// ---- printing -------------------------------------------------------------------------------------

const money = (minor: bigint) => formatAmount(minor, CNY);

function printNotes(result: {
  reversal: ReversalResult | null;
  signedInAgain: boolean;
  signInRequired: boolean;
}) {
  if (result.signedInAgain)
    console.log('note: the host asked for a new sign-in; the terminal signed in again first');
  const reversal = result.reversal;
  if (reversal !== null) {
    console.log(
      `note: reversal (冲正) of the ${reversal.type} of trace ${reversal.trace}, reason ${reversal.reason}, sent first: ${reversal.responseCode === null ? reversal.outcome : responseText(reversal.responseCode)}`,
    );
  }
  if (result.signInRequired)
    console.log('note: the host asks for a new sign-in; it happens before the next transaction');
}

const SLIP_TYPES = new Set([
  'sale',
  'void',
  'refund',
  'preauth',
  'preauth_void',
  'completion',
  'completion_void',
]);

function report(result: TransactionResult, json: boolean | undefined): void {
  if (!result.approved) process.exitCode = 2;
  if (json) {
    printJson(result);
    return;
  }
  printNotes(result);
  if (result.approved && SLIP_TYPES.has(result.type)) {
    process.stdout.write(formatSlip(result));
    return;
  }
  if (result.approved && result.type === 'balance') {
    const balance = result.balance;
    console.log(
      balance === null
        ? `balance inquiry approved, but the reply has no balance (field 54); card ${result.cardMasked}`
        : `余额 balance of card ${result.cardMasked}: ${money(balance.amountMinor)} (account type ${balance.accountType}, amount type ${balance.amountType})`,
    );
    return;
  }
  console.log(
    `${result.nameZh} ${result.nameEn} ${result.outcome === 'declined' ? `declined ${result.responseCode}` : result.outcome}: ${result.responseText} — terminal ${result.terminalId}, batch ${result.batchNo}, trace ${result.trace}`,
  );
  if (result.reversalPending !== null) {
    console.log(
      `the ${result.type} of trace ${result.trace} goes into a pending reversal (reason ${result.reversalPending}); it is sent before the next transaction (or: tillpoint terminal reverse --tid ${result.terminalId})`,
    );
  }
}

function reportNetwork(result: NetworkResult, what: string, json: boolean | undefined, detail = ''): void {
  if (!result.approved) process.exitCode = 2;
  if (json) {
    printJson(result);
    return;
  }
  printNotes(result);
  const latency = result.latencyUs === null ? '' : ` in ${(result.latencyUs / 1000).toFixed(1)} ms`;
  console.log(
    `${what} ${result.approved ? 'approved' : result.outcome === 'declined' ? `declined ${result.responseCode}` : result.outcome}: ${result.responseText}${latency}${detail}`,
  );
}

function printStatus(state: TerminalState, merchantName: string | null, json: boolean | undefined): void {
  const { journal, tmkHex, workingKeys, pendingReversal, ...rest } = state;
  const entries = journal.entries.map(({ card, ...entry }) => ({
    ...entry,
    card: maskPan(card.pan),
    entry: card.entry,
  }));
  const totals = journal.totals(state.batchNo);
  const reversal =
    pendingReversal === null
      ? null
      : {
          type: pendingReversal.type,
          trace: pendingReversal.fields['11'] ?? null,
          amountMinor: pendingReversal.fields['4'] === undefined ? null : BigInt(pendingReversal.fields['4']),
          reason: pendingReversal.reason,
          attempts: pendingReversal.attempts,
          createdAt: pendingReversal.createdAt,
        };
  const keys =
    workingKeys === null
      ? null
      : {
          keySet: workingKeys.keySet,
          pinCheckValue: workingKeys.pinCheckValue,
          macCheckValue: workingKeys.macCheckValue,
          trackCheckValue: workingKeys.trackCheckValue,
          signedInAt: workingKeys.signedInAt,
        };
  if (json) {
    printJson({
      ...rest,
      merchantName,
      signedIn: keys !== null,
      workingKeys: keys,
      pendingReversal: reversal,
      totals,
      journal: entries,
    });
    return;
  }
  console.log(
    `terminal ${state.terminalId} of merchant ${state.merchantId}${merchantName === null ? '' : ` ${merchantName}`}`,
  );
  console.log(
    `algorithm ${state.algorithm}, MAC ${state.macAlgorithm}; TMK and working keys are kept in the state file, not shown`,
  );
  console.log(
    keys === null
      ? 'signed out'
      : `signed in ${keys.signedInAt}${state.operator === null ? '' : `, operator ${state.operator}`}; key set ${keys.keySet}, PIN key KCV ${keys.pinCheckValue}, MAC key KCV ${keys.macCheckValue}${keys.trackCheckValue === null ? '' : `, track key KCV ${keys.trackCheckValue}`}`,
  );
  if (state.signInRequired)
    console.log('the host asked for a new sign-in: it happens before the next transaction');
  console.log(`batch ${state.batchNo}, last trace ${String(state.trace).padStart(6, '0')}`);
  if (reversal !== null) {
    console.log(
      `pending reversal: ${reversal.type} of trace ${reversal.trace}${reversal.amountMinor === null ? '' : ` for ${money(reversal.amountMinor)}`}, reason ${reversal.reason}, ${reversal.attempts} attempt(s) so far`,
    );
  }
  if (state.lastSettlement !== null) {
    const s = state.lastSettlement;
    console.log(
      `last settlement: batch ${s.batchNo} ${s.result} at ${s.at}${s.uploaded > 0 ? `, ${s.uploaded} uploaded` : ''}`,
    );
  }
  const d = totals.domestic;
  const f = totals.foreign;
  console.log(
    `open batch totals: debits ${d.debitCount} ${money(d.debitAmountMinor)}, credits ${d.creditCount} ${money(d.creditAmountMinor)}${f.debitCount + f.creditCount > 0 ? `; foreign debits ${f.debitCount} ${money(f.debitAmountMinor)}, credits ${f.creditCount} ${money(f.creditAmountMinor)}` : ''}`,
  );
  if (entries.length === 0) {
    console.log('journal: empty');
    return;
  }
  console.log('');
  printTable(
    ['batch', 'trace', 'type', 'amount', 'rrn', 'auth', 'card', 'date', 'status'],
    entries.map((e) => [
      e.batchNo,
      e.trace,
      e.type,
      money(e.amountMinor),
      e.rrn ?? '',
      e.authCode ?? '',
      e.card,
      `${e.date} ${e.time}`,
      e.type === 'sale' && e.refundedMinor > 0n
        ? `${e.status}, refunded ${money(e.refundedMinor)}`
        : e.status,
    ]),
    ['left', 'left', 'left', 'right'],
  );
}

function reportSettlement(result: SettlementResult, json: boolean | undefined): void {
  if (!result.approved || (result.result !== 'balanced' && result.result !== 'unbalanced'))
    process.exitCode = 2;
  if (json) {
    printJson(result);
    return;
  }
  printNotes(result);
  const d = result.totals.domestic;
  console.log(
    `批结算 settlement of batch ${result.batchNo}: debits ${d.debitCount} ${money(d.debitAmountMinor)}, credits ${d.creditCount} ${money(d.creditAmountMinor)}`,
  );
  if (!result.approved) {
    console.log(`not settled: ${result.responseText}`);
    return;
  }
  if (result.result === 'balanced') console.log('对账平 balanced with the host');
  else if (result.result === 'unbalanced')
    console.log(`对账不平 unbalanced: ${result.uploaded} transaction(s) uploaded (批上送)`);
  else console.log('the host answered settlement result 3 (error): the batch stays open');
  if (result.closedBatchNo !== null)
    console.log(`batch ${result.closedBatchNo} closed; batch ${result.nextBatchNo} is open`);
}

// ---- commands ------------------------------------------------------------------------------------

function common(command: Command): Command {
  return command
    .option('--tid <id>', 'terminal id (field 41)', '10000001')
    .option('--host <host:port>', 'the terminal host', formatEndpoint(DEFAULT_ENDPOINT))
    .option('--tpdu <hex>', 'TPDU, terminal → host', '6000030000')
    .option('--timeout <duration>', 'how long to wait for each reply', `${DEFAULT_TIMEOUT_MS / 1000}s`)
    .option('--json', 'print the result as JSON (amounts in minor units)')
    .option('--state-dir <dir>', 'where terminal state files live (default $TILLPOINT_DATA_DIR/terminals)')
    .option('--mid <id>', 'merchant id (field 42); demo terminals know theirs')
    .option('--tmk <hex>', 'terminal master key, 32 hex digits (default: the demo TMK)')
    .option('--algorithm <3des|sm4>', 'the terminal’s cipher (default: 3des; sm4 for 10000002)')
    .option('--mac-algorithm <ecb|x99>', 'how the terminal computes field 64 (default ecb)');
}

function cardOptions(command: Command, required: boolean): Command {
  return command
    .option(
      '--card <pan>',
      required ? 'card number (swiped unless --manual)' : 'the card again (default: the original’s)',
    )
    .option('--expiry <yymm>', 'card expiry', '3012')
    .option('--manual', 'key the card in (fields 2 and 14, entry mode 01x) instead of swiping (track 2)')
    .option('--pin <pin>', 'the cardholder’s PIN (ISO 9564 format 0 block under the PIN key)');
}

export function registerTerminal(program: Command): void {
  const terminal = program
    .command('terminal')
    .description('a simulated POS terminal talking ISO 8583 (Tillpoint profile) to the terminal host');

  common(terminal.command('sign-in'))
    .description('签到: get working keys (0800, 60.3 003 or 004)')
    .option('--operator <code>', 'operator code (63)', '001')
    .option('--keys <set>', '003 (PIN + MAC keys) or 004 (+ track key)', '003')
    .action(async (flags: CommonFlags & { operator: string; keys: string }) => {
      if (!/^[0-9A-Za-z]{1,3}$/.test(flags.operator))
        throw invalid('--operator is 1 to 3 letters or digits', '--operator');
      if (flags.keys !== '003' && flags.keys !== '004') throw invalid('--keys is 003 or 004', '--keys');
      const keySet = flags.keys;
      await withTerminal(flags, async (t) => {
        const result = await t.signIn({ operator: flags.operator.padStart(3, '0'), keySet });
        const keys = result.keyCheckValues;
        reportNetwork(
          result,
          `签到 sign-in of terminal ${result.terminalId}`,
          flags.json,
          keys === null
            ? ''
            : `\nbatch ${result.batchNo}${result.batchChanged ? ' (given by the host)' : ''}; PIN key KCV ${keys.pin}, MAC key KCV ${keys.mac}${keys.track === null ? '' : `, track key KCV ${keys.track}`}${result.journalDropped > 0 ? `\n${result.journalDropped} journal entries of the old batch dropped` : ''}`,
        );
      });
    });

  common(terminal.command('sign-out'))
    .description('签退 (0820, 60.3 002): the working keys are dropped')
    .action(async (flags: CommonFlags) => {
      await withTerminal(flags, async (t) =>
        reportNetwork(await t.signOut(), `签退 sign-out of terminal ${flags.tid}`, flags.json),
      );
    });

  common(terminal.command('echo'))
    .description('echo test (0820, 60.3 301)')
    .action(async (flags: CommonFlags) => {
      await withTerminal(flags, async (t) => reportNetwork(await t.echo(), 'echo', flags.json));
    });

  common(terminal.command('params'))
    .description('parameter download (0800, 60.3 360): print the parameters')
    .action(async (flags: CommonFlags) => {
      await withTerminal(flags, async (t) => {
        const result = await t.downloadParameters();
        if (flags.json || !result.approved) return reportNetwork(result, 'parameter download', flags.json);
        console.log(`parameter download: ${result.parameters.length} parameter(s)`);
        if (result.parameters.length > 0)
          printTable(
            ['tag', 'value'],
            result.parameters.map((p) => [p.tag, p.value]),
          );
        if (result.merchantName !== null) console.log(`merchant name on slips: ${result.merchantName}`);
      });
    });

  common(terminal.command('status'))
    .description('the terminal’s state: batch, trace, sign-in, pending reversal, journal (no keys)')
    .action(async (flags: CommonFlags) => {
      const { state } = loadState(flags);
      printStatus(state, merchantNameOf(state), flags.json);
    });

  cardOptions(common(terminal.command('sale')), true)
    .description('消费 (0200 000000)')
    .argument('<amount>', 'e.g. 12.34')
    .action(async (amount: string, flags: CommonFlags & CardFlags) => {
      const amountMinor = amountOf(amount);
      const card = cardOf(flags, true);
      await withTerminal(flags, async (t) => report(await t.sale(amountMinor, card), flags.json));
    });

  cardOptions(common(terminal.command('balance')), true)
    .description('余额查询 (0200 310000)')
    .action(async (flags: CommonFlags & CardFlags) => {
      const card = cardOf(flags, true);
      await withTerminal(flags, async (t) => report(await t.balance(card), flags.json));
    });

  cardOptions(common(terminal.command('void')), false)
    .description('消费撤销 of a sale of the open batch (0200 200000)')
    .argument('<trace>', 'the sale’s trace (凭证号)')
    .action(async (trace: string, flags: CommonFlags & CardFlags) => {
      const original = traceOf(trace, 'trace');
      const card = cardOf(flags, false);
      const pin = pinOf(flags);
      await withTerminal(flags, async (t) =>
        report(await t.voidSale(original, { ...(card === undefined ? {} : { card }), pin }), flags.json),
      );
    });

  cardOptions(common(terminal.command('refund')), false)
    .description('退货 (0220 200000) of a sale by its reference number')
    .argument('<rrn>', 'the sale’s retrieval reference number (参考号, 12 characters)')
    .argument('<amount>', 'amount to refund, e.g. 5.00')
    .option('--date <mmdd>', 'the sale’s date, when the journal does not hold the sale')
    .option('--orig-batch <batch>', 'the sale’s batch (61.1), when the journal does not hold it')
    .option('--orig-trace <trace>', 'the sale’s trace (61.2), when the journal does not hold it')
    .action(
      async (
        rrn: string,
        amount: string,
        flags: CommonFlags & CardFlags & { date?: string; origBatch?: string; origTrace?: string },
      ) => {
        if (!/^[0-9A-Za-z]{12}$/.test(rrn)) throw invalid('the RRN is 12 letters or digits', 'rrn');
        const amountMinor = amountOf(amount);
        const card = cardOf(flags, false);
        const date = dateOf(flags.date);
        const originalBatchNo = batchOf(flags.origBatch, '--orig-batch');
        const originalTrace =
          flags.origTrace === undefined ? undefined : traceOf(flags.origTrace, '--orig-trace');
        await withTerminal(flags, async (t) =>
          report(
            await t.refund(rrn, amountMinor, {
              ...(card === undefined ? {} : { card }),
              pin: pinOf(flags),
              ...(date === undefined ? {} : { date }),
              ...(originalBatchNo === undefined ? {} : { originalBatchNo }),
              ...(originalTrace === undefined ? {} : { originalTrace }),
            }),
            flags.json,
          ),
        );
      },
    );

  cardOptions(common(terminal.command('preauth')), true)
    .description('预授权 (0100 030000)')
    .argument('<amount>', 'e.g. 500.00')
    .action(async (amount: string, flags: CommonFlags & CardFlags) => {
      const amountMinor = amountOf(amount);
      const card = cardOf(flags, true);
      await withTerminal(flags, async (t) => report(await t.preAuth(amountMinor, card), flags.json));
    });

  type PreAuthFlags = CommonFlags &
    CardFlags & { authCode?: string; date?: string; origBatch?: string; amount?: string };
  const preAuthRefOptions = (command: Command) =>
    command
      .option('--auth-code <code>', 'the pre-auth’s authorization code, when the journal does not hold it')
      .option('--date <mmdd>', 'the pre-auth’s date, when the journal does not hold it')
      .option('--orig-batch <batch>', 'the pre-auth’s batch, when the journal does not hold it');
  const preAuthRef = (flags: PreAuthFlags) => {
    if (flags.authCode !== undefined && !/^[0-9A-Za-z ]{6}$/.test(flags.authCode)) {
      throw invalid('--auth-code is 6 letters or digits', '--auth-code');
    }
    const card = cardOf(flags, false);
    const date = dateOf(flags.date);
    const originalBatchNo = batchOf(flags.origBatch, '--orig-batch');
    return {
      ...(card === undefined ? {} : { card }),
      pin: pinOf(flags),
      ...(flags.authCode === undefined ? {} : { authCode: flags.authCode }),
      ...(date === undefined ? {} : { date }),
      ...(originalBatchNo === undefined ? {} : { originalBatchNo }),
    };
  };

  preAuthRefOptions(cardOptions(common(terminal.command('preauth-void')), false))
    .description('预授权撤销 (0100 200000) of a pre-auth')
    .argument('<trace>', 'the pre-auth’s trace')
    .option('--amount <amount>', 'the pre-auth’s amount, when the journal does not hold it')
    .action(async (trace: string, flags: PreAuthFlags) => {
      const original = traceOf(trace, 'trace');
      const amountMinor = flags.amount === undefined ? undefined : amountOf(flags.amount, '--amount');
      const options = { ...preAuthRef(flags), ...(amountMinor === undefined ? {} : { amountMinor }) };
      await withTerminal(flags, async (t) => report(await t.voidPreAuth(original, options), flags.json));
    });

  preAuthRefOptions(cardOptions(common(terminal.command('complete')), false))
    .description('预授权完成 (0200 000000, 25 = 06) of a pre-auth')
    .argument('<preauth-trace>', 'the pre-auth’s trace')
    .argument('<amount>', 'amount to complete')
    .action(async (trace: string, amount: string, flags: PreAuthFlags) => {
      const original = traceOf(trace, 'preauth-trace');
      const amountMinor = amountOf(amount);
      const options = preAuthRef(flags);
      await withTerminal(flags, async (t) =>
        report(await t.complete(original, amountMinor, options), flags.json),
      );
    });

  cardOptions(common(terminal.command('complete-void')), false)
    .description('预授权完成撤销 (0200 200000, 25 = 06) of a completion of the open batch')
    .argument('<trace>', 'the completion’s trace')
    .action(async (trace: string, flags: CommonFlags & CardFlags) => {
      const original = traceOf(trace, 'trace');
      const card = cardOf(flags, false);
      const pin = pinOf(flags);
      await withTerminal(flags, async (t) =>
        report(
          await t.voidCompletion(original, { ...(card === undefined ? {} : { card }), pin }),
          flags.json,
        ),
      );
    });

  common(terminal.command('settle'))
    .description('批结算 (0500 with the totals); batch upload (0320) when the host says unbalanced')
    .action(async (flags: CommonFlags) => {
      await withTerminal(flags, async (t) => reportSettlement(await t.settle(), flags.json));
    });

  common(terminal.command('reverse'))
    .description('send the pending reversal (冲正) now instead of before the next transaction')
    .action(async (flags: CommonFlags) => {
      await withTerminal(flags, async (t) => {
        if (t.state.pendingReversal === null) {
          if (flags.json) {
            printJson({ pendingReversal: null });
            return;
          }
          return console.log(`terminal ${flags.tid} has no pending reversal`);
        }
        const result = await t.sendPendingReversal();
        if (!result.cleared) process.exitCode = 2;
        if (flags.json) {
          printJson(result);
          return;
        }
        console.log(
          `冲正 reversal of the ${result.type} of trace ${result.trace} (reason ${result.reason}): ${result.responseCode === null ? result.outcome : responseText(result.responseCode)}${result.cleared ? '' : '; still pending'}`,
        );
      });
    });
}
