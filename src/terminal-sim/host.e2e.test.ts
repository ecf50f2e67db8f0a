// End to end, across processes: `tillpoint serve` (the real terminal host, its card-network
// simulator and an embedded PostgreSQL in a fresh data directory, demo data loaded) and this module's
// terminals talking ISO 8583 to it: the demo terminals, the test cards, reversals and settlement.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Secret } from '../shared/secret.ts';
import { type ServeProcess, startServe } from '../shared/testing.ts';
import { newTerminalState } from './state.ts';
import { Terminal } from './terminal.ts';

const CLI = path.resolve(import.meta.dirname, '../cli/main.ts');
const pin = new Secret('123456');
const debit = { pan: '6222021000000013', expiry: '3012', entry: 'swipe' as const, pin };
const credit = { pan: '6250001000000010', expiry: '3012', entry: 'swipe' as const, pin };

let dataDir: string;
let isoPort: number;
let serve: ServeProcess;
let server: ChildProcess;
const terminals: Terminal[] = [];

function terminal(terminalId: string, timeoutMs = 15_000): Terminal {
  const t = new Terminal({
    state: newTerminalState(terminalId),
    endpoint: { host: '127.0.0.1', port: isoPort },
    timeoutMs,
  });
  terminals.push(t);
  return t;
}

before(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'tillpoint-terminal-e2e-'));
  chmodSync(dataDir, 0o755);
  const { DATABASE_URL: _unused, ...env } = process.env;
  serve = await startServe({
    cli: CLI,
    env: (ports) => ({
      ...env,
      TILLPOINT_DATA_DIR: dataDir,
      TILLPOINT_HTTP_PORT: String(ports.httpPort),
      TILLPOINT_ISO_PORT: String(ports.isoPort),
      LOG_LEVEL: 'warn',
    }),
  });
  server = serve.child;
  isoPort = serve.isoPort;
});

after(async () => {
  for (const t of terminals) t.close();
  if (server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((resolve) => {
      const timer = setTimeout(() => {
        server.kill('SIGKILL');
        resolve(undefined);
      }, 15_000);
      server.once('exit', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('terminal simulator ↔ terminal host', () => {
  it('3DES terminal 10000001: sign-in, sale, balance, void, declines, refund, pre-auth, settlement', async () => {
    const t = terminal('10000001');
    const signIn = await t.signIn({ operator: '001' });
    assert.equal(signIn.responseCode, '00', signIn.responseText);
    assert.ok(signIn.keyCheckValues?.pin);

    const sale = await t.sale(1234n, debit);
    assert.equal(sale.responseCode, '00', `${sale.responseText}\n${serve.output()}`);
    assert.match(sale.rrn ?? '', /^[0-9A-Za-z]{12}$/);
    assert.ok(sale.authCode);

    const balance = await t.balance(debit);
    assert.equal(balance.responseCode, '00', balance.responseText);
    assert.ok(balance.balance !== null && balance.balance.amountMinor > 0n);

    const voided = await t.voidSale(sale.trace, { pin });
    assert.equal(voided.responseCode, '00', voided.responseText);

    const wrongPin = await t.sale(100n, { ...debit, pin: new Secret('654321') });
    assert.equal(wrongPin.responseCode, '55');
    const poor = await t.sale(2000n, { pan: '6222021000000021', expiry: '3012', entry: 'swipe', pin });
    assert.equal(poor.responseCode, '51');
    const lost = await t.sale(100n, { pan: '6222021000000047', expiry: '3012', entry: 'swipe', pin });
    assert.equal(lost.responseCode, '41');

    const second = await t.sale(1000n, credit);
    assert.equal(second.responseCode, '00', second.responseText);
    const refund = await t.refund(second.rrn!, 400n);
    assert.equal(refund.responseCode, '00', refund.responseText);

    const preauth = await t.preAuth(50_000n, credit);
    assert.equal(preauth.responseCode, '00', preauth.responseText);
    const completion = await t.complete(preauth.trace, 45_000n, { pin });
    assert.equal(completion.responseCode, '00', completion.responseText);

    const settlement = await t.settle();
    assert.equal(settlement.responseCode, '00', settlement.responseText);
    assert.equal(
      settlement.result,
      'balanced',
      JSON.stringify(settlement.hostTotals, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
    );
    assert.equal(t.state.batchNo, '000002');
    assert.equal(t.discarded, 0);
  });

  it('SM4 terminal 10000002: sign-in and sale', async () => {
    const t = terminal('10000002');
    assert.equal((await t.signIn({ operator: '001' })).responseCode, '00');
    const sale = await t.sale(1234n, debit);
    assert.equal(sale.responseCode, '00', sale.responseText);
  });

  it('a sale the terminal gave up on is reversed before the next one', async () => {
    const patient = terminal('20000001');
    assert.equal((await patient.signIn({ operator: '001' })).responseCode, '00');
    const hasty = new Terminal({
      state: patient.state,
      endpoint: { host: '127.0.0.1', port: isoPort },
      timeoutMs: 1,
    });
    terminals.push(hasty);
    const lost = await hasty.sale(500n, debit);
    assert.equal(lost.outcome, 'no_reply');
    assert.equal(patient.state.pendingReversal?.reason, '98');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const next = await patient.sale(600n, debit);
    assert.equal(next.reversal?.cleared, true, JSON.stringify(next.reversal));
    assert.equal(next.reversal?.responseCode, '00');
    assert.equal(next.responseCode, '00', next.responseText);
    assert.equal(patient.state.pendingReversal, null);
  });

  it('the card network never answers: the host answers 98', async () => {
    const t = terminal('30000001');
    assert.equal((await t.signIn({ operator: '001' })).responseCode, '00');
    const silent = await t.sale(100n, { pan: '6222021000000054', expiry: '3012', entry: 'swipe', pin });
    assert.equal(silent.responseCode, '98', silent.responseText);
    assert.equal(t.state.pendingReversal, null, 'answered: nothing to reverse');
  });
});
