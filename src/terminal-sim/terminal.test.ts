// The terminal against a fake host (testing.ts) on a local port: the worked examples through the
// real sign-in, reply checks, pending reversals, sign-in on request, the journal and settlement.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { decodeBatchEnd, decodeBatchUploadDetails } from '../protocols/iso8583/index.ts';
import { ManualClock } from '../shared/clock.ts';
import { Secret } from '../shared/secret.ts';
import { isTerminalError } from './errors.ts';
import type { CardData } from './journal.ts';
import { newTerminalState } from './state.ts';
import { Terminal, type TerminalOptions } from './terminal.ts';
import { type FakeAction, FakeHost, type FakeHostOptions, type FakeRequest } from './testing.ts';

const golden = (name: string): string =>
  readFileSync(new URL(`../protocols/iso8583/testdata/${name}.hex`, import.meta.url), 'utf8')
    .trim()
    .slice(4);
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();

const card: CardData = { pan: '6222021000000013', expiry: '3012', entry: 'swipe' };
const pin = new Secret('123456');
const withPin = { ...card, pin };
const WORKED_3DES = { pinHex: '22222222222222223333333333333333', macHex: '4444444444444444' };
const WORKED_SM4 = { pinHex: '22222222222222223333333333333333', macHex: '44444444444444445555555555555555' };

const hosts: FakeHost[] = [];
const terminals: Terminal[] = [];

async function setup(
  hostOptions: FakeHostOptions = {},
  terminalId = '10000001',
  options: Partial<TerminalOptions> = {},
): Promise<{ host: FakeHost; terminal: Terminal }> {
  const host = await FakeHost.start(hostOptions);
  hosts.push(host);
  const terminal = new Terminal({
    state: newTerminalState(terminalId),
    endpoint: host.endpoint,
    timeoutMs: 300,
    clock: new ManualClock('2026-11-26T01:31:20Z'),
    ...options,
  });
  terminals.push(terminal);
  return { host, terminal };
}

/** A respond hook that applies `actions` to the requests of one MTI in turn, then approves. */
function script(mti: string, ...actions: FakeAction[]): (request: FakeRequest) => FakeAction | undefined {
  return (request) => (request.mti === mti ? actions.shift() : undefined);
}

const mtis = (host: FakeHost): string[] => host.requests.map((r) => r.mti);

after(async () => {
  for (const terminal of terminals) terminal.close();
  for (const host of hosts) await host.close();
});

describe('worked examples through the terminal', () => {
  it('3DES terminal 10000001: sign-in and sale frames are the worked examples byte for byte', async () => {
    const { host, terminal } = await setup({ workingKeys: WORKED_3DES });
    const signIn = await terminal.signIn({ operator: '001' });
    assert.equal(signIn.outcome, 'approved');
    assert.deepEqual(signIn.keyCheckValues, { pin: 'C5961E62', mac: 'E2F24340', track: null });
    assert.equal(hex(host.requests[0]!.frame), golden('01-sign-in-request'));
    assert.equal(terminal.state.workingKeys?.field62Hex.slice(0, 32), 'B4ABA2BB791C50E75ADC39F46164960E');

    const sale = await terminal.sale(1234n, withPin);
    assert.equal(hex(host.requests[1]!.frame), golden('03-sale-request'));
    assert.equal(sale.outcome, 'approved');
    assert.equal(sale.trace, '000002');
    assert.equal(sale.cardMasked, '622202******0013');
    assert.equal(sale.cardOrganization, 'CUP');
    assert.equal(sale.reversalPending, null);
    assert.equal(terminal.state.pendingReversal, null);
    assert.equal(terminal.state.journal.get('000001', '000002')?.amountMinor, 1234n);
  });

  it('SM4 terminal 10000002: the SM4 worked example sale', async () => {
    const { host, terminal } = await setup({ workingKeys: WORKED_SM4 }, '10000002');
    const signIn = await terminal.signIn({ operator: '001' });
    assert.deepEqual(signIn.keyCheckValues, { pin: 'A3679FEA', mac: 'CE974463', track: null });
    await terminal.sale(1234n, withPin);
    assert.equal(hex(host.requests[1]!.frame), golden('12-sm4-sale-request'));
  });

  it('60.3 004 brings a track key too', async () => {
    const { terminal } = await setup();
    const signIn = await terminal.signIn({ operator: '001', keySet: '004' });
    assert.ok(signIn.keyCheckValues?.track);
    assert.equal(terminal.state.workingKeys?.keySet, '004');
  });
});

describe('pending reversal', () => {
  it('a timeout leaves a reversal (98) that goes out before the next sale', async () => {
    const { host, terminal } = await setup({ respond: script('0200', { kind: 'drop' }) });
    await terminal.signIn({ operator: '001' });
    const lost = await terminal.sale(1000n, withPin);
    assert.equal(lost.outcome, 'no_reply');
    assert.equal(lost.reversalPending, '98');
    assert.equal(terminal.state.pendingReversal?.reason, '98');
    assert.equal(terminal.state.journal.size, 0);

    const next = await terminal.sale(2000n, withPin);
    assert.deepEqual(mtis(host), ['0800', '0200', '0400', '0200']);
    const reversal = host.requests[2]!.fields;
    assert.equal(reversal['39'], '98');
    assert.equal(reversal['11'], lost.trace);
    assert.equal(reversal['4'], '000000001000');
    assert.equal(reversal['35'], undefined);
    assert.equal(reversal['52'], undefined);
    assert.equal(next.reversal?.cleared, true);
    assert.equal(next.outcome, 'approved');
    assert.equal(terminal.state.pendingReversal, null);
  });

  it('a reply whose MAC fails is no reply: reversal with reason A0', async () => {
    const { host, terminal } = await setup({ respond: script('0200', { kind: 'reply', badMac: true }) });
    await terminal.signIn({ operator: '001' });
    const first = await terminal.sale(1000n, withPin);
    assert.equal(first.outcome, 'mac_failed');
    assert.equal(first.reversalPending, 'A0');
    assert.equal(terminal.state.journal.size, 0);
    await terminal.sale(1000n, withPin);
    assert.equal(host.requests[2]!.mti, '0400');
    assert.equal(host.requests[2]!.fields['39'], 'A0');
  });

  it('an approved reply for another amount is reversed with reason 06', async () => {
    const { host, terminal } = await setup({
      respond: script('0200', { kind: 'reply', edit: (reply) => reply.set(4, '000000009999') }),
    });
    await terminal.signIn({ operator: '001' });
    const odd = await terminal.sale(1000n, withPin);
    assert.equal(odd.outcome, 'bad_reply');
    assert.equal(odd.reversalPending, '06');
    await terminal.echo();
    assert.equal(terminal.state.pendingReversal?.reason, '06', 'an echo does not send it');
    await terminal.sale(1000n, withPin);
    assert.equal(host.requests.find((r) => r.mti === '0400')?.fields['39'], '06');
  });

  it('a declined reply clears it: the host answered', async () => {
    const { terminal } = await setup({ respond: script('0200', { kind: 'reply', code: '51' }) });
    await terminal.signIn({ operator: '001' });
    const declined = await terminal.sale(1000n, withPin);
    assert.equal(declined.outcome, 'declined');
    assert.equal(declined.responseCode, '51');
    assert.equal(terminal.state.pendingReversal, null);
  });

  it('an unanswered reversal stops the next transaction and stays pending', async () => {
    const { host, terminal } = await setup({
      respond: (request) => (request.mti === '0200' || request.mti === '0400' ? { kind: 'drop' } : undefined),
    });
    await terminal.signIn({ operator: '001' });
    await terminal.sale(1000n, withPin);
    await assert.rejects(terminal.sale(1000n, withPin), (error) =>
      isTerminalError(error, 'reversal_unanswered'),
    );
    assert.deepEqual(mtis(host), ['0800', '0200', '0400']);
    assert.equal(terminal.state.pendingReversal?.attempts, 1);
  });

  it('refunds are not reversible: a lost refund leaves nothing pending', async () => {
    const { terminal } = await setup({ respond: script('0220', { kind: 'drop' }) });
    await terminal.signIn({ operator: '001' });
    const sale = await terminal.sale(1000n, card);
    const refund = await terminal.refund(sale.rrn!, 500n);
    assert.equal(refund.outcome, 'no_reply');
    assert.equal(refund.reversalPending, null);
    assert.equal(terminal.state.pendingReversal, null);
  });

  it('a reply with another trace is discarded: the wait ends in a timeout', async () => {
    const { terminal } = await setup({
      respond: script('0200', { kind: 'reply', edit: (reply) => reply.set(11, '999999') }),
    });
    await terminal.signIn({ operator: '001' });
    const result = await terminal.sale(1000n, withPin);
    assert.equal(result.outcome, 'no_reply');
    assert.equal(terminal.discarded, 1);
  });

  it('the host out of reach: nothing was sent, nothing to reverse', async () => {
    const { terminal: signedIn } = await setup();
    await signedIn.signIn({ operator: '001' });
    const closed = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const terminal = new Terminal({ state: signedIn.state, endpoint: { host: '127.0.0.1', port: closed } });
    terminals.push(terminal);
    await assert.rejects(terminal.sale(1000n, withPin), (error) => isTerminalError(error, 'connect_failed'));
    assert.equal(terminal.state.pendingReversal, null);
  });
});

describe('signing in again', () => {
  it('header processing requirement 3: the next transaction signs in first', async () => {
    const { host, terminal } = await setup({
      respond: script('0200', { kind: 'reply', processingRequirement: 3 }),
    });
    await terminal.signIn({ operator: '001' });
    const first = await terminal.sale(1000n, withPin);
    assert.equal(first.outcome, 'approved');
    assert.equal(first.signInRequired, true);
    const second = await terminal.sale(1000n, withPin);
    assert.equal(second.signedInAgain, true);
    assert.deepEqual(mtis(host), ['0800', '0200', '0800', '0200']);
    assert.equal(host.requests[2]!.fields['63'], '001');
  });

  it('77 answers without a MAC and asks for a sign-in; without autoSignIn the next one refuses', async () => {
    const { terminal } = await setup({ respond: script('0200', { kind: 'reply', code: '77' }) }, '10000001', {
      autoSignIn: false,
    });
    await terminal.signIn({ operator: '001' });
    const refused = await terminal.sale(1000n, withPin);
    assert.equal(refused.outcome, 'declined');
    assert.equal(refused.responseCode, '77');
    await assert.rejects(terminal.sale(1000n, withPin), (error) => isTerminalError(error, 'not_signed_in'));
  });

  it('a MAC’d transaction before any sign-in is refused locally', async () => {
    const { host, terminal } = await setup();
    await assert.rejects(terminal.sale(1000n, withPin), (error) => isTerminalError(error, 'not_signed_in'));
    assert.equal(host.requests.length, 0);
  });

  it('the batch the host gives at sign-in is adopted', async () => {
    const { terminal } = await setup({ batchNo: '000005' });
    const signIn = await terminal.signIn({ operator: '001' });
    assert.equal(signIn.batchChanged, true);
    assert.equal(terminal.state.batchNo, '000005');
  });

  it('keys that do not check out under the TMK fail the sign-in', async () => {
    const { terminal } = await setup({
      terminals: { '10000001': { algorithm: '3des', tmkHex: 'FEDCBA98765432100123456789ABCDEF' } },
    });
    await assert.rejects(terminal.signIn({ operator: '001' }), (error) =>
      isTerminalError(error, 'sign_in_failed'),
    );
    assert.equal(terminal.state.workingKeys, null);
  });
});

describe('transactions and the journal', () => {
  let host: FakeHost;
  let terminal: Terminal;

  before(async () => {
    ({ host, terminal } = await setup({
      parameters: [
        { tag: '01', value: '镇江万家福超市(测试)' },
        { tag: '02', value: '60' },
      ],
    }));
    await terminal.signIn({ operator: '001' });
  });

  it('void: 37/38 and 61.1–61.2 of the sale; the sale is voided', async () => {
    const sale = await terminal.sale(1234n, withPin);
    const voided = await terminal.voidSale(sale.trace, { pin });
    assert.equal(voided.outcome, 'approved');
    const request = host.requests.at(-1)!.fields;
    assert.equal(request['3'], '200000');
    assert.equal(request['37'], sale.rrn);
    assert.equal(request['38'], sale.authCode);
    assert.equal(request['61'], `000001${sale.trace}`);
    assert.equal(request['60']?.slice(0, 2), '23');
    assert.equal(terminal.state.journal.get('000001', sale.trace)?.status, 'voided');
    await assert.rejects(terminal.voidSale(sale.trace), (error) =>
      isTerminalError(error, 'original_not_eligible'),
    );
    await assert.rejects(terminal.voidSale('424242'), (error) =>
      isTerminalError(error, 'original_not_found'),
    );
  });

  it('refund by RRN: 0220 with 61.1–61.3; partial refunds up to the sale amount', async () => {
    const sale = await terminal.sale(1000n, card);
    const refund = await terminal.refund(sale.rrn!, 600n);
    assert.equal(refund.outcome, 'approved');
    const request = host.requests.at(-1)!;
    assert.equal(request.mti, '0220');
    assert.equal(request.fields['61'], `000001${sale.trace}1126`);
    assert.equal(request.fields['63'], '001');
    await assert.rejects(terminal.refund(sale.rrn!, 500n), (error) =>
      isTerminalError(error, 'original_not_eligible'),
    );
    await assert.rejects(terminal.refund('261126999999', 100n), (error) =>
      isTerminalError(error, 'original_not_found'),
    );
    const older = await terminal.refund('261126999999', 100n, { date: '1120', card });
    assert.equal(host.requests.at(-1)!.fields['61'], '0000000000001120');
    assert.equal(older.outcome, 'approved');
  });

  it('pre-auth, completion and completion void; pre-auth void', async () => {
    const preauth = await terminal.preAuth(50_000n, withPin);
    assert.equal(host.requests.at(-1)!.mti, '0100');
    assert.equal(host.requests.at(-1)!.fields['25'], '06');
    const completion = await terminal.complete(preauth.trace, 45_000n, { pin });
    const request = host.requests.at(-1)!.fields;
    assert.equal(request['38'], preauth.authCode);
    assert.equal(request['61'], `000001${preauth.trace}1126`);
    assert.equal(request['60']?.slice(0, 2), '20');
    assert.equal(terminal.state.journal.get('000001', preauth.trace)?.status, 'completed');
    await terminal.voidCompletion(completion.trace);
    assert.equal(host.requests.at(-1)!.fields['60']?.slice(0, 2), '21');
    assert.equal(terminal.state.journal.get('000001', completion.trace)?.status, 'voided');

    const second = await terminal.preAuth(20_000n, withPin);
    await terminal.voidPreAuth(second.trace);
    assert.equal(host.requests.at(-1)!.fields['4'], '000000020000');
    assert.equal(host.requests.at(-1)!.fields['60']?.slice(0, 2), '11');
  });

  it('balance inquiry reads field 54', async () => {
    const balance = await terminal.balance(withPin);
    assert.equal(balance.balance?.amountMinor, 5_000_000n);
    assert.equal(host.requests.at(-1)!.fields['4'], undefined);
  });

  it('parameter download: tag + length + value, the merchant name kept', async () => {
    const params = await terminal.downloadParameters();
    assert.deepEqual(params.parameters, [
      { tag: '01', value: '镇江万家福超市(测试)' },
      { tag: '02', value: '60' },
    ]);
    assert.equal(terminal.merchantName, '镇江万家福超市(测试)');
  });

  it('settlement: balanced closes the batch and keeps open pre-auths', async () => {
    const open = await terminal.preAuth(10_000n, withPin);
    const before = terminal.state.journal.totals('000001');
    const result = await terminal.settle();
    assert.equal(result.result, 'balanced');
    assert.deepEqual(result.totals, before);
    assert.equal(result.closedBatchNo, '000001');
    assert.equal(terminal.state.batchNo, '000002');
    assert.deepEqual(
      terminal.state.journal.entries.map((e) => e.trace),
      [open.trace],
    );
    const completion = await terminal.complete(open.trace, 10_000n);
    assert.equal(host.requests.at(-1)!.fields['61'], `000001${open.trace}1126`);
    assert.equal(host.requests.at(-1)!.fields['60']?.slice(2, 8), '000002');
    assert.equal(completion.outcome, 'approved');
  });

  it('echo and sign-out; sign-out drops the keys', async () => {
    assert.equal((await terminal.echo()).outcome, 'approved');
    assert.equal((await terminal.signOut()).outcome, 'approved');
    assert.equal(terminal.state.workingKeys, null);
  });
});

describe('settlement with batch upload', () => {
  it('result 2: uploads 8 details a message, then the end with the count', async () => {
    const { host, terminal } = await setup({ settlementResult: 2 });
    await terminal.signIn({ operator: '001' });
    const traces: string[] = [];
    for (let i = 0; i < 10; i++) traces.push((await terminal.sale(100n + BigInt(i), withPin)).trace);
    await terminal.voidSale(traces[9]!);
    const result = await terminal.settle();
    assert.equal(result.result, 'unbalanced');
    assert.equal(result.uploaded, 9);
    const uploads = host.requests.filter((r) => r.mti === '0320');
    assert.equal(uploads.length, 3);
    assert.deepEqual(
      uploads.map((r) => r.fields['60']?.slice(8, 11)),
      ['201', '201', '202'],
    );
    assert.equal(decodeBatchUploadDetails(uploads[0]!.fields['48']!).length, 8);
    assert.deepEqual(
      decodeBatchUploadDetails(uploads[1]!.fields['48']!).map((d) => d.trace),
      [traces[8]],
    );
    assert.equal(decodeBatchEnd(uploads[2]!.fields['48']!), 9);
    assert.equal(terminal.state.batchNo, '000002');
    assert.equal(terminal.state.lastSettlement?.result, 'unbalanced');
  });

  it('result 3: the batch stays open', async () => {
    const { terminal } = await setup({ settlementResult: 3 });
    await terminal.signIn({ operator: '001' });
    await terminal.sale(100n, withPin);
    const result = await terminal.settle();
    assert.equal(result.result, 'error');
    assert.equal(terminal.state.batchNo, '000001');
    assert.equal(terminal.state.journal.size, 1);
  });
});
