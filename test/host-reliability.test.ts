// The terminal host under concurrency and a crash.
// (a) The same sale sent on several connections at once, with its reversal, the reversal sometimes
//     first: exactly one outcome per key — one payment row, money moved at most once, a reversal
//     answered 00 leaves nothing moved — the ledger sound and the simulated issuer agreeing.
// (b) `tillpoint serve` killed with SIGKILL in the middle of a load from five terminals (their state
//     in files, so that pending reversals survive), started again, the terminals reversing what was
//     left unanswered and going on: no approved sale without its ledger entry, no entry twice, the
//     trial balance zero, the ledger sound, and each card at the simulated issuer moved by exactly
//     what the host recorded as approved for it.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { createTestDatabase, type TestDatabase } from '../src/db/testing.ts';
import { loadDemoData } from '../src/demo/index.ts';
import { createTerminalHost, type TerminalHost } from '../src/host/index.ts';
import { ACQUIRER_CODE, type Platform, startPlatform } from '../src/main.ts';
import type { CardNetwork } from '../src/payments/index.ts';
import { createLogger } from '../src/shared/logger.ts';
import { passesLuhn } from '../src/shared/redact.ts';
import { Secret } from '../src/shared/secret.ts';
import { type ServeProcess, startServe } from '../src/shared/testing.ts';
import {
  buildReversal,
  FileStateStore,
  isTerminalError,
  newTerminalState,
  reversalFieldsOf,
  Terminal,
} from '../src/terminal-sim/index.ts';
import {
  assertLedgerSound,
  CARDS,
  card,
  decodeReply,
  financialRequest,
  frameOf,
  type HostHarness,
  merchantOf,
  money,
  PIN,
  type RawConnection,
  type Reply,
  startHost,
} from './support/host.ts';

function luhnPan(prefix: string): string {
  for (let check = 0; check <= 9; check++) if (passesLuhn(`${prefix}${check}`)) return `${prefix}${check}`;
  throw new Error('no check digit');
}

/** A small seeded generator (mulberry32): the same run, the same mix. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Ledger checks on the card payments: every approved sale booked, no payment booked twice. */
async function assertPaymentsBooked(db: TestDatabase['db']): Promise<void> {
  const unbooked = await db.query<{ id: string; status: string }>(
    `SELECT p.id, p.status FROM card_payments p
      WHERE p.kind IN ('sale', 'completion') AND p.status IN ('approved', 'voided', 'reversed')
        AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.id = p.ledger_entry_id)`,
  );
  assert.deepEqual(unbooked.rows, [], 'every approved sale has its ledger entry');
  const unbookedApproved = await db.query<{ id: string }>(
    `SELECT p.id FROM card_payments p
      WHERE p.kind IN ('void', 'refund') AND p.status = 'approved' AND p.ledger_entry_id IS NULL`,
  );
  assert.deepEqual(unbookedApproved.rows, [], 'every approved void and refund has its ledger entry');
  const doubled = await db.query<{ reference_id: string; n: number }>(
    `SELECT reference_id, count(*)::int AS n FROM ledger_entries
      WHERE reference_type = 'card_payment' AND reverses_entry_id IS NULL AND kind = 'posted'
      GROUP BY reference_id HAVING count(*) > 1`,
  );
  assert.deepEqual(doubled.rows, [], 'no payment booked twice');
  const reversedTwice = await db.query<{ reverses_entry_id: string; n: number }>(
    `SELECT reverses_entry_id, count(*)::int AS n FROM ledger_entries WHERE reverses_entry_id IS NOT NULL
      GROUP BY reverses_entry_id HAVING count(*) > 1`,
  );
  assert.deepEqual(reversedTwice.rows, [], 'no entry reversed twice');
  // A sale still in force has its entry standing; a voided or reversed one has it reversed. A void
  // that was itself reversed (its terminal's reversal after a lost reply) puts the sale back in
  // force: the void's entry, the reversal of the sale's, is then reversed in turn.
  const wrong = await db.query<{ id: string; status: string; reversed: boolean }>(
    `SELECT id, status, reversed FROM (
       SELECT p.id, p.status,
              EXISTS (SELECT 1 FROM ledger_entries r
                       WHERE r.reverses_entry_id = p.ledger_entry_id
                         AND NOT EXISTS (SELECT 1 FROM ledger_entries rr WHERE rr.reverses_entry_id = r.id)) AS reversed
         FROM card_payments p
        WHERE p.kind = 'sale' AND p.ledger_entry_id IS NOT NULL) s
      WHERE (status = 'approved') = reversed`,
  );
  assert.deepEqual(wrong.rows, [], 'sales in force stand in the ledger, the others are reversed there');
}

/** Net debit of each card by the host's records: approved sales and completions less approved refunds. */
async function hostNetByPanHash(db: TestDatabase['db']): Promise<Map<string, bigint>> {
  const result = await db.query<{ pan_hash: string; net: string }>(
    `SELECT pan_hash, (coalesce(sum(amount_minor) FILTER (WHERE kind IN ('sale', 'completion')), 0)
                     - coalesce(sum(amount_minor) FILTER (WHERE kind = 'refund'), 0))::text AS net
       FROM card_payments WHERE status = 'approved' AND pan_hash IS NOT NULL GROUP BY pan_hash`,
  );
  return new Map(result.rows.map((r) => [r.pan_hash, BigInt(r.net)]));
}

describe('(a) concurrent duplicates and reversals of the same trace', () => {
  let h: HostHarness;
  const T1 = '10000001';
  const T3 = '20000001';

  before(async () => {
    h = await startHost();
    for (const id of [T1, T3])
      assert.equal((await h.terminal(id).signIn({ operator: '001' })).responseCode, '00');
  });

  after(async () => {
    await h?.close();
  });

  type Kind = 'duplicates' | 'sale_then_reversal' | 'reversal_then_sale';
  interface Round {
    kind: Kind;
    terminalId: string;
    pan: string;
    amount: bigint;
    trace: string;
    sales: Reply[];
    reversals: Reply[];
  }

  async function round(kind: Kind, terminalId: string, pan: string, amount: bigint): Promise<Round> {
    const t = h.terminal(terminalId);
    const sale = financialRequest(t, 'sale', { amountMinor: amount, card: card(pan) });
    const saleFrame = frameOf(t, sale);
    const reversalFrame = frameOf(t, buildReversal(t.spec, { fields: reversalFieldsOf(sale) }, '98'));
    const copies = kind === 'duplicates' ? 3 : 2;
    const reversals = kind === 'duplicates' ? 0 : 2;
    const connections: RawConnection[] = [];
    for (let i = 0; i < copies + reversals; i++) connections.push(await h.connect());
    const saleConnections = connections.slice(0, copies);
    const reversalConnections = connections.slice(copies);
    const send = (raws: RawConnection[], frame: Buffer) => raws.map((raw) => raw.write(frame));
    if (kind === 'reversal_then_sale') {
      send(reversalConnections, reversalFrame);
      send(saleConnections, saleFrame);
    } else {
      send(saleConnections, saleFrame);
      send(reversalConnections, reversalFrame);
    }
    const read = async (raw: RawConnection) => {
      const body = await raw.next(10_000);
      assert.ok(body, 'answered');
      raw.destroy();
      return decodeReply(body, t);
    };
    return {
      kind,
      terminalId,
      pan,
      amount,
      trace: String(sale.get(11)),
      sales: await Promise.all(saleConnections.map(read)),
      reversals: await Promise.all(reversalConnections.map(read)),
    };
  }

  it('one outcome per key; money moved at most once; a reversal answered 00 leaves nothing moved', async () => {
    const pans = [CARDS.debit, CARDS.credit];
    const mid = merchantOf(T1);
    assert.equal(merchantOf(T3) === mid, false);
    const start = new Map<string, Awaited<ReturnType<typeof money>>>();
    for (const pan of pans) start.set(pan, await money(h, mid, pan));
    const startT3 = await money(h, merchantOf(T3), CARDS.debit);
    const kinds: Kind[] = ['duplicates', 'sale_then_reversal', 'reversal_then_sale'];
    const rounds: Round[] = [];
    // Four rounds at a time, on two terminals, each round on its own trace.
    for (let batch = 0; batch < 6; batch++) {
      const work: Array<Promise<Round>> = [];
      for (let j = 0; j < 4; j++) {
        const n = batch * 4 + j;
        work.push(round(kinds[n % 3]!, n % 2 === 0 ? T1 : T3, pans[(n >> 1) % 2]!, BigInt(100 + n * 10)));
      }
      rounds.push(...(await Promise.all(work)));
    }
    await h.settle();

    const expected = new Map<string, bigint>(pans.map((pan) => [pan, 0n]));
    const expectedByMerchant = new Map<string, bigint>();
    const problems: string[] = [];
    for (const r of rounds) {
      const rows = await h.testDb.db.query<{ request_mti: string; status: string }>(
        'SELECT request_mti, status FROM card_payments WHERE terminal_id = $1 AND trace = $2 ORDER BY request_mti',
        [r.terminalId, r.trace],
      );
      const where = `${r.kind} ${r.terminalId}/${r.trace}`;
      const sales = rows.rows.filter((row) => row.request_mti === '0200');
      const reversalRows = rows.rows.filter((row) => row.request_mti === '0400');
      assert.equal(sales.length, 1, `${where}: one payment row for the sale's key`);
      assert.ok(reversalRows.length <= 1, `${where}: at most one reversal row`);
      for (const reply of [...r.sales, ...r.reversals]) {
        if (reply.code !== 'A0' && reply.code !== '77' && reply.code !== '97') {
          assert.equal(reply.macValid, true, `${where}: the reply's MAC`);
        }
      }
      const status = sales[0]!.status;
      if (r.kind === 'duplicates') {
        assert.equal(status, 'approved', where);
        const codes = new Set(r.sales.map((s) => s.code));
        if (codes.size !== 1 || !codes.has('00')) problems.push(`${where}: copies answered ${[...codes]}`);
        else {
          for (const s of r.sales.slice(1)) {
            assert.deepEqual(
              s.body.subarray(0, -8),
              r.sales[0]!.body.subarray(0, -8),
              `${where}: same reply`,
            );
          }
        }
      } else {
        for (const reply of r.reversals)
          assert.equal(reply.code, '00', `${where}: the reversal is answered 00`);
        assert.notEqual(status, 'approved', `${where}: reversed (or refused) once the reversal is answered`);
        assert.equal(reversalRows.length, 1, `${where}: one reversal row`);
        // A sale answered 00 must be the one the reversal then undid.
        if (r.sales.some((s) => s.code === '00')) assert.equal(status, 'reversed', where);
      }
      if (status === 'approved') {
        expected.set(r.pan, expected.get(r.pan)! + r.amount);
        const merchant = merchantOf(r.terminalId);
        expectedByMerchant.set(merchant, (expectedByMerchant.get(merchant) ?? 0n) + r.amount);
      }
    }
    for (const pan of pans) {
      const now = await money(h, mid, pan);
      assert.equal(start.get(pan)!.card - now.card, expected.get(pan), `the issuer's card ${pan.slice(-4)}`);
    }
    const endT1 = await money(h, mid, CARDS.debit);
    assert.equal(endT1.pending - start.get(CARDS.debit)!.pending, expectedByMerchant.get(mid) ?? 0n);
    const endT3 = await money(h, merchantOf(T3), CARDS.debit);
    assert.equal(endT3.pending - startT3.pending, expectedByMerchant.get(merchantOf(T3)) ?? 0n);
    const total = [...expected.values()].reduce((a, b) => a + b, 0n);
    assert.equal(endT3.receivable - startT3.receivable, total, 'the receivable');
    await assertPaymentsBooked(h.testDb.db);
    await assertLedgerSound(h);
    assert.deepEqual(problems, [], 'concurrent copies of a sale got the same answer');
  });
});

// ---- (b) SIGKILL ------------------------------------------------------------------------------------

const CLI = path.resolve(import.meta.dirname, '../src/cli/main.ts');
const TERMINALS = ['10000001', '10000002', '20000001', '30000001', '90000001'];
const EXTRA_TERMINAL = '90000001';
const SUPERMARKET = '102314054110001';
const LOAD_CARDS = Array.from({ length: 5 }, (_, i) => luhnPan(`62220299100000${i}`));

describe('(b) SIGKILL in the middle of a load, then a restart', () => {
  let testDb: TestDatabase;
  let scratch: string;
  let checker: Platform;
  let isoPort: number;
  let httpPort: number;
  let portsTaken = false;
  const masterKeyHex = randomBytes(32).toString('hex');
  let server: ServeProcess | undefined;

  function env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      DATABASE_URL: testDb.url,
      TILLPOINT_DATA_DIR: path.join(scratch, 'server'),
      TILLPOINT_MASTER_KEY: masterKeyHex,
      TILLPOINT_ISO_PORT: String(isoPort),
      TILLPOINT_HTTP_PORT: String(httpPort),
      LOG_LEVEL: 'warn',
    };
  }

  async function startServer(): Promise<ServeProcess> {
    // The first start takes free ports; a restart comes back on them, where the terminals expect it.
    const started = await startServe({
      cli: CLI,
      env: (ports) => {
        ({ isoPort, httpPort } = ports);
        return env();
      },
      ...(portsTaken ? { ports: { isoPort, httpPort } } : {}),
      timeoutMs: 60_000,
    });
    portsTaken = true;
    return started;
  }

  async function stopServer(signal: NodeJS.Signals): Promise<number | null> {
    const current = server;
    server = undefined;
    if (current === undefined || current.child.exitCode !== null) return current?.child.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) =>
      current.child.once('exit', (code) => resolve(code)),
    );
    current.child.kill(signal);
    const timer = setTimeout(() => current.child.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }

  before(async () => {
    testDb = await createTestDatabase();
    scratch = mkdtempSync(path.join(os.tmpdir(), 'tillpoint-sigkill-'));
    chmodSync(scratch, 0o755);
    const logger = createLogger({ level: 'fatal', format: 'json', destination: process.stderr });
    checker = await startPlatform({
      config: loadConfig({
        DATABASE_URL: testDb.url,
        TILLPOINT_DATA_DIR: path.join(scratch, 'checker'),
        TILLPOINT_MASTER_KEY: masterKeyHex,
        LOG_LEVEL: 'warn',
      }),
      logger,
      purpose: 'sigkill test',
      role: 'owner',
      migrate: false,
    });
    // Provisioning, as bench/host.ts does: the demo, a fifth terminal, the load's cards.
    await loadDemoData(checker);
    const actor = { type: 'system', id: 'test' } as const;
    const owner = { type: 'terminal', id: EXTRA_TERMINAL } as const;
    const tmk = await checker.keys.importClear(
      {
        usage: 'tmk',
        algorithm: '3des-2key',
        owner,
        material: new Secret(Buffer.from('0123456789ABCDEFFEDCBA9876543210', 'hex')),
      },
      actor,
    );
    await checker.terminals.provision(
      { id: EXTRA_TERMINAL, merchantId: SUPERMARKET, algorithm: '3des', tmkKeyId: tmk.id },
      actor,
    );
    await checker.simulator!.addCards(
      LOAD_CARDS.map((pan) => ({
        pan: new Secret(pan),
        pin: PIN,
        kind: 'debit' as const,
        balanceMinor: 100_000_000n,
      })),
    );
  });

  after(async () => {
    await stopServer('SIGKILL');
    await checker?.close();
    await testDb?.drop();
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  });

  it('no approved sale without its entry, no entry twice, trial balance zero, issuer and host agree', async () => {
    const startBalances = new Map<string, bigint>();
    for (const pan of LOAD_CARDS)
      startBalances.set(pan, (await checker.simulator!.getCard(new Secret(pan)))!.balanceMinor);
    const stateDir = path.join(scratch, 'terminals');
    const stores = new Map(
      TERMINALS.map((id) => [id, new FileStateStore(path.join(stateDir, `${id}.json`))]),
    );
    const open = (id: string): Terminal => {
      const store = stores.get(id)!;
      const state =
        store.load() ?? newTerminalState(id, id === EXTRA_TERMINAL ? { merchantId: SUPERMARKET } : {});
      return new Terminal({
        state,
        store,
        endpoint: { host: '127.0.0.1', port: isoPort },
        timeoutMs: 3000,
        connectTimeoutMs: 1000,
      });
    };

    server = await startServer();
    let terminals = TERMINALS.map(open);
    for (const t of terminals) assert.equal((await t.signIn({ operator: '001' })).responseCode, '00');

    const counts = { approved: 0, declined: 0, noReply: 0, errors: 0, reversalsCleared: 0 };
    let stop = false;
    const drive = async (t: Terminal, seed: number) => {
      const random = seeded(seed);
      while (!stop) {
        try {
          const r = random();
          const journal = t.state.journal.entries.filter(
            (e) => e.type === 'sale' && e.batchNo === t.state.batchNo && e.status === 'open',
          );
          let result: Awaited<ReturnType<Terminal['sale']>>;
          const target = journal[Math.floor(random() * journal.length)];
          if (r < 0.12 && target !== undefined && target.refundedMinor === 0n) {
            result = await t.voidSale(target.trace, { pin: PIN });
          } else if (r < 0.24 && target !== undefined && target.refundedMinor < target.amountMinor) {
            const left = target.amountMinor - target.refundedMinor;
            result = await t.refund(target.rrn!, left < 100n ? left : 100n);
          } else {
            const pan = LOAD_CARDS[Math.floor(random() * LOAD_CARDS.length)]!;
            result = await t.sale(BigInt(100 + Math.floor(random() * 900)), card(pan));
          }
          if (result.reversal?.cleared) counts.reversalsCleared++;
          if (result.outcome === 'approved') counts.approved++;
          else if (result.outcome === 'no_reply') counts.noReply++;
          else counts.declined++;
        } catch (error) {
          if (!isTerminalError(error)) throw error;
          counts.errors++;
          await sleep(50);
        }
      }
    };

    // Load, then SIGKILL in the middle of it.
    let load = Promise.all(terminals.map((t, i) => drive(t, i + 1)));
    await sleep(1500);
    const killed = server!;
    await stopServer('SIGKILL');
    assert.equal(killed.child.signalCode, 'SIGKILL');
    const approvedBeforeKill = counts.approved;
    await sleep(300); // the terminals find the host gone
    stop = true;
    await load;
    const pendingAfterKill = terminals.filter((t) => t.state.pendingReversal !== null).length;
    for (const t of terminals) t.close();

    // The host comes back; the terminals too, from their state files (pending reversals included).
    server = await startServer();
    terminals = TERMINALS.map(open);
    assert.equal(
      terminals.filter((t) => t.state.pendingReversal !== null).length,
      pendingAfterKill,
      'pending reversals survived in the state files',
    );
    stop = false;
    load = Promise.all(terminals.map((t, i) => drive(t, 100 + i)));
    await sleep(1500);
    stop = true;
    await load;
    for (const t of terminals) {
      for (let attempt = 0; t.state.pendingReversal !== null && attempt < 5; attempt++) {
        const result = await t.sendPendingReversal().catch(() => undefined);
        if (result?.cleared) counts.reversalsCleared++;
      }
      assert.equal(
        t.state.pendingReversal,
        null,
        `terminal ${t.state.terminalId}: its reversal was answered`,
      );
      t.close();
    }
    assert.ok(approvedBeforeKill > 20, `load before the kill: ${JSON.stringify(counts)}`);
    assert.ok(counts.approved > approvedBeforeKill, `load after the restart: ${JSON.stringify(counts)}`);

    // The reversals the host owes upstream are sent by the server itself.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const pending = await testDb.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM network_reversals WHERE status = 'pending'",
      );
      if (pending.rows[0]!.n === 0) break;
      assert.ok(Date.now() < deadline, `${pending.rows[0]!.n} reversals still owed upstream`);
      await sleep(200);
    }
    assert.equal(await stopServer('SIGTERM'), 0, 'a clean stop after the restart');

    await assertPaymentsBooked(testDb.db);
    await assertLedgerSound({ platform: checker });
    const hostNet = await hostNetByPanHash(testDb.db);
    const mismatches: string[] = [];
    for (const pan of LOAD_CARDS) {
      const view = (await checker.simulator!.getCard(new Secret(pan)))!;
      const issuerNet = startBalances.get(pan)! - view.balanceMinor;
      const recorded = hostNet.get(checker.cardVault.protectPan(new Secret(pan)).panHash) ?? 0n;
      if (issuerNet !== recorded || view.heldMinor !== 0n) {
        // What the issuer did that the host has no payment in force for (by the network reference).
        const panHash = checker.cardVault.protectPan(new Secret(pan)).panHash;
        const rows = await testDb.db.query<{ rrn: string | null; kind: string; status: string }>(
          'SELECT rrn, kind, status FROM card_payments WHERE pan_hash = $1',
          [panHash],
        );
        const hostByRrn = new Map(rows.rows.map((r) => [r.rrn?.trim() ?? '', r]));
        const auths = await checker.simulator!.listAuthorizations(new Secret(pan));
        const unmatched = auths
          .filter((a) => a.responseCode === '00' && a.status !== 'reversed')
          .filter((a) => {
            const row = hostByRrn.get(a.rrn);
            return row === undefined || (row.status !== 'approved' && row.status !== 'voided');
          })
          .map((a) => {
            const row = hostByRrn.get(a.rrn);
            return `${a.operation} ${a.amountMinor} (issuer ${a.status}, host ${row === undefined ? 'no payment' : `${row.kind} ${row.status}`})`;
          });
        mismatches.push(
          `card …${pan.slice(-4)}: the issuer moved ${issuerNet}, the host recorded ${recorded}, held ${view.heldMinor}; done at the issuer, not in force at the host: ${unmatched.join('; ')}`,
        );
      }
    }
    assert.deepEqual(mismatches, [], `the simulated issuer agrees with the host (${JSON.stringify(counts)})`);
  });
});

// ---- (c) the crash window of (b), made deterministic ------------------------------------------------

// The host asks the card network before anything of the request is durable. A host that dies between
// the issuer's answer and its own commit must still leave the issuer whole: the network references
// (STAN, RRN) are derived from the terminal's key, so the terminal's reversal of a transaction the
// host never recorded owes the same upstream reversal (src/payments/reversals.ts), and a refund the
// terminal never heard about is sent again as an advice before its next transaction.
// Here host A forwards to the simulated issuer and then never answers (it "died" after the issuer
// committed); host B, on the same database, takes the terminal's reversal or advice.
describe('(c) a host that dies after the issuer answered, before it recorded', () => {
  let h: HostHarness;
  let hostA: TerminalHost;
  let platformA: Platform;
  let portA: number;

  before(async () => {
    h = await startHost();
    const simulator = h.simulator;
    const dying: CardNetwork = {
      async send(request, options) {
        await simulator.send(request, options);
        return new Promise<never>(() => {}); // the host died: nobody hears the answer
      },
      reverse: (reversal, options) => simulator.reverse(reversal, options),
      async close() {},
    };
    const logger = createLogger({ level: 'fatal', format: 'json', destination: process.stderr });
    platformA = await startPlatform({
      config: loadConfig({ DATABASE_URL: h.testDb.url, TILLPOINT_DATA_DIR: h.dataDir, LOG_LEVEL: 'warn' }),
      logger,
      purpose: 'dying host',
      role: 'owner',
      migrate: false,
      network: dying,
      paymentSettings: { networkTimeoutMs: 300 },
    });
    hostA = createTerminalHost({
      db: platformA.db,
      terminals: platformA.terminals,
      merchants: platformA.merchants,
      payments: platformA.payments,
      logger,
      acquirerCode: ACQUIRER_CODE,
      now: () => platformA.now(),
    });
    portA = await hostA.listen(0, '127.0.0.1');
    assert.equal((await h.terminal('10000001').signIn({ operator: '001' })).responseCode, '00');
  });

  after(async () => {
    await hostA?.close(100);
    await platformA?.close();
    await h?.close();
  });

  it('a sale approved upstream, never recorded: the terminal’s reversal (00) must take the money back upstream', async () => {
    const onB = h.terminal('10000001');
    const onA = new Terminal({
      state: onB.state,
      endpoint: { host: '127.0.0.1', port: portA },
      timeoutMs: 500,
    });
    const mid = merchantOf('10000001');
    const before = await money(h, mid, CARDS.debit);
    const lost = await onA.sale(4700n, card(CARDS.debit));
    onA.close();
    assert.equal(lost.outcome, 'no_reply');
    assert.equal(onB.state.pendingReversal?.reason, '98');
    const next = await onB.balance(card(CARDS.debit));
    assert.equal(next.reversal?.responseCode, '00', 'the reversal is answered 00');
    assert.equal(onB.state.pendingReversal, null);
    await h.settle();
    const after = await money(h, mid, CARDS.debit);
    assert.equal(after.pending - before.pending, 0n, 'nothing in the ledger');
    assert.equal(
      before.card - after.card,
      0n,
      'BUG: the issuer keeps the sale: the host owed no reversal for a request it never recorded',
    );
  });

  it('a refund approved upstream, never recorded: the terminal repeats its advice, recorded once, issuer and host agree', async () => {
    const onB = h.terminal('10000001');
    const sale = await onB.sale(3000n, card(CARDS.credit));
    assert.equal(sale.responseCode, '00');
    const onA = new Terminal({
      state: onB.state,
      endpoint: { host: '127.0.0.1', port: portA },
      timeoutMs: 500,
    });
    const before = await money(h, merchantOf('10000001'), CARDS.credit);
    const refund = await onA.refund(sale.rrn!, 1000n);
    onA.close();
    assert.equal(refund.outcome, 'no_reply');
    assert.equal(onB.state.pendingReversal, null, 'refunds are not reversed by terminals');
    assert.notEqual(onB.state.pendingAdvice, null, 'an unanswered refund (an advice) is sent again');
    // The next transaction (here a balance inquiry) sends the advice again first: the same message,
    // so the same references upstream: the network answers it as before and moves nothing again.
    const next = await onB.balance(card(CARDS.debit));
    assert.equal(next.responseCode, '00');
    assert.equal(onB.state.pendingAdvice, null);
    await h.settle();
    const after = await money(h, merchantOf('10000001'), CARDS.credit);
    assert.equal(after.pending - before.pending, -1000n, 'the refund is in the ledger, once');
    assert.equal(after.card - before.card, 1000n, 'the issuer refunded it once');
  });
});
