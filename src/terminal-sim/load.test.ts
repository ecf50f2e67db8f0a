import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { isTerminalError } from './errors.ts';
import { parseCards, parseMix, parseTerminalIds, runLoad, terminalIdsFromPrefix } from './load.ts';
import { FileStateStore, stateFileOf } from './state.ts';
import { FakeHost } from './testing.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'tillpoint-load-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('load generator', () => {
  it('parses the mix, terminal ids and cards', () => {
    assert.deepEqual(parseMix('sale=80,balance=10,void=10,echo=0'), [
      { type: 'sale', weight: 80 },
      { type: 'balance', weight: 10 },
      { type: 'void', weight: 10 },
    ]);
    assert.throws(
      () => parseMix('sale=80,teleport=1'),
      (error) => isTerminalError(error, 'invalid_input'),
    );
    assert.throws(() => parseMix('sale=0'), /no type with a weight/);
    assert.deepEqual(terminalIdsFromPrefix('9', 3), ['90000001', '90000002', '90000003']);
    assert.deepEqual(terminalIdsFromPrefix('9100', 2), ['91000001', '91000002']);
    assert.throws(() => terminalIdsFromPrefix('9999999', 10), /room for 9 terminals/);
    assert.deepEqual(parseTerminalIds('90000001-90000003,A0000001'), [
      '90000001',
      '90000002',
      '90000003',
      'A0000001',
    ]);
    assert.throws(() => parseTerminalIds('90000001,90000001'), /twice/);
    assert.deepEqual(parseCards('6222021000000013,6250001000000010:2912'), [
      { pan: '6222021000000013', expiry: '3012', entry: 'swipe' },
      { pan: '6250001000000010', expiry: '2912', entry: 'swipe' },
    ]);
    assert.equal(parseCards('6222021000000013-6222021000000022').length, 10);
    assert.throws(
      () => parseCards('62220'),
      (error) => isTerminalError(error, 'invalid_input'),
    );
  });

  it('runs terminals against a host, voids its own sales, reports per type, keeps state between runs', async () => {
    const host = await FakeHost.start();
    try {
      const options = {
        endpoint: host.endpoint,
        terminalIds: ['90000001', '90000002', '90000003'],
        merchantId: '102314059990001',
        operator: '001',
        mix: parseMix('sale=60,balance=10,void=20,refund=5,echo=5'),
        cards: parseCards('6222021000000013,6250001000000010'),
        pin: '123456',
        amountMinor: 1n,
        durationMs: 300,
        warmupMs: 50,
        timeoutMs: 2000,
        stateDir: dir,
        settle: false,
      };
      const report = await runLoad(options);
      assert.equal(report.terminals, 3);
      assert.equal(report.signIn.approved, 3);
      assert.ok(report.total.count > 50, `${report.total.count} transactions`);
      assert.deepEqual(Object.keys(report.total.responseCodes), ['00']);
      assert.deepEqual(
        report.byType.map((row) => row.type),
        ['sale', 'balance', 'void', 'refund', 'echo'],
      );
      const sum = report.byType.reduce((total, row) => total + row.count, 0);
      assert.equal(sum, report.total.count);
      assert.ok(report.total.latency.p50Ms > 0 && report.total.latency.p50Ms <= report.total.latency.maxMs);
      assert.ok(report.client.eventLoopUtilization > 0);

      // Every void names a sale of the same terminal that was approved before it.
      const approvedSales = new Set<string>();
      for (const request of host.requests) {
        const key = `${request.terminalId}:${request.fields['11']}`;
        if (request.mti === '0200' && request.fields['3'] === '000000') approvedSales.add(key);
        if (request.mti === '0200' && request.fields['3'] === '200000') {
          assert.ok(approvedSales.has(`${request.terminalId}:${request.fields['61']!.slice(6, 12)}`));
        }
      }

      // The second run continues the traces of the first: no trace twice in the batch.
      const traceAfterFirst = new FileStateStore(stateFileOf(dir, '90000001')).load()!.trace;
      await runLoad({ ...options, settle: true, durationMs: 100 });
      const seen = new Set<string>();
      for (const request of host.requests) {
        if (request.mti === '0400' || request.fields['60']?.slice(8, 11) === '202') continue;
        const key = `${request.terminalId}:${request.fields['60']?.slice(2, 8)}:${request.fields['11']}`;
        assert.ok(!seen.has(key), `trace repeated: ${key}`);
        seen.add(key);
      }
      const state = new FileStateStore(stateFileOf(dir, '90000001')).load()!;
      assert.ok(state.trace > traceAfterFirst);
      assert.equal(state.batchNo, '000002', 'settled after the second run');
    } finally {
      await host.close();
    }
  });

  it('no terminal signs in: one clear error', async () => {
    const host = await FakeHost.start({
      respond: (request) => (request.mti === '0800' ? { kind: 'reply', code: '97' } : undefined),
    });
    try {
      await assert.rejects(
        runLoad({
          endpoint: host.endpoint,
          terminalIds: ['90000001'],
          merchantId: '102314059990001',
          operator: '001',
          mix: parseMix('sale=1'),
          cards: parseCards('6222021000000013'),
          pin: null,
          amountMinor: 1n,
          durationMs: 100,
          warmupMs: 0,
          timeoutMs: 500,
          stateDir: null,
          settle: false,
        }),
        (error) => isTerminalError(error, 'sign_in_failed') && /97 × 1/.test(error.message),
      );
    } finally {
      await host.close();
    }
  });
});
