// The terminal host when things go wrong on the wire: framing errors (garbage, an oversized length,
// a length that lies, a wrong TPDU, a frame cut off) close that connection only — a connection
// signed in before goes on — and are journalled; a terminal that hangs up in the middle of a
// transaction leaves a consistent state that its reversal, or its retransmission, resolves once;
// a late approval upstream is reversed there and the card is as it was.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Secret } from '../src/shared/secret.ts';
import { buildReversal, reversalFieldsOf, type Terminal } from '../src/terminal-sim/index.ts';
import {
  assertLedgerSound,
  CARDS,
  card,
  delta,
  exchange,
  financialRequest,
  frameOf,
  type HostHarness,
  type Money,
  merchantOf,
  money,
  type RawConnection,
  startHost,
  tablesContaining,
} from './support/host.ts';

let h: HostHarness;
let t1: Terminal;
/** A connection signed in before the faults: it must keep working after each of them. */
let keeper: RawConnection;
const T1 = '10000001';
const MID = merchantOf(T1);

before(async () => {
  h = await startHost();
  t1 = h.terminal(T1);
  assert.equal((await t1.signIn({ operator: '001' })).responseCode, '00');
  keeper = await h.connect();
  const reply = await exchange(keeper, frameOf(t1, financialRequest(t1, 'balance')), t1);
  assert.equal(reply.code, '00');
});

beforeEach(async () => {
  await h.settle();
});

after(async () => {
  await h?.close();
});

async function framingErrors(remote?: string): Promise<Array<{ remote: string | null; dump: string }>> {
  await h.host.journal.flush();
  const rows = await h.testDb.db.query<{ remote: string | null; dump: string }>(
    `SELECT remote, dump FROM host_messages WHERE outcome = 'framing_error'
       AND ($1::text IS NULL OR remote = $1) ORDER BY id`,
    [remote ?? null],
  );
  return rows.rows;
}

/** The connection signed in before still answers, with a good MAC. */
async function keeperStillWorks(): Promise<void> {
  assert.equal(keeper.isClosed, false, 'the other connection is still open');
  const reply = await exchange(keeper, frameOf(t1, financialRequest(t1, 'balance')), t1);
  assert.equal(reply.code, '00');
  assert.equal(reply.macValid, true);
}

function remoteOf(raw: RawConnection): string {
  return `${raw.socket.localAddress}:${raw.socket.localPort}`;
}

/** A valid sale frame of T1 (length included). */
function saleFrame(amountMinor = 100n): Buffer {
  return frameOf(t1, financialRequest(t1, 'sale', { amountMinor }));
}

/** Sends `bytes`, expects the host to close that connection and journal a framing error. */
async function expectFramingError(
  bytes: Buffer,
  what: string,
  options: { end?: boolean } = {},
): Promise<void> {
  const raw = await h.connect();
  const remote = remoteOf(raw);
  raw.write(bytes);
  if (options.end === true) raw.socket.end();
  assert.equal(await raw.closesWithin(2000), true, `${what}: the host closed the connection`);
  const errors = await framingErrors(remote);
  assert.equal(errors.length, 1, `${what}: one framing error journalled for ${remote}`);
  await keeperStillWorks();
}

describe('framing errors close that connection only', () => {
  it('garbage bytes (an HTTP request: a length far above 2048)', async () => {
    await expectFramingError(Buffer.from('GET / HTTP/1.1\r\nHost: tillpoint\r\n\r\n', 'latin1'), 'garbage');
  });

  it('garbage bytes in a frame of a sane length (no TPDU)', async () => {
    const body = Buffer.alloc(40, 0xab);
    await expectFramingError(Buffer.concat([Buffer.from([0, body.length]), body]), 'garbage frame');
  });

  it('an oversized length (2049 bytes announced and sent)', async () => {
    const body = Buffer.alloc(2049, 0x30);
    body[0] = 0x60;
    await expectFramingError(Buffer.concat([Buffer.from([0x08, 0x01]), body]), 'oversized');
  });

  it('a length of zero', async () => {
    await expectFramingError(Buffer.from([0, 0, 0x60, 0, 3, 0, 0]), 'zero length');
  });

  it('a wrong TPDU (not 60)', async () => {
    const frame = saleFrame();
    frame[2] = 0x70;
    await expectFramingError(frame, 'wrong TPDU');
  });

  // A frame whose length is shorter than its message would leave the rest of the message to be read
  // as the start of another frame: the stream is out of step. A length that does not match the bytes
  // is a framing error, journalled, and the connection is closed.
  it('a length that lies: shorter than the message', async () => {
    const frame = saleFrame();
    const length = frame.readUInt16BE(0);
    frame.writeUInt16BE(length - 12, 0);
    await expectFramingError(frame, 'length too short');
  });

  it('a length that lies: longer than the message (the next frame completes it)', async () => {
    const first = saleFrame();
    first.writeUInt16BE(first.readUInt16BE(0) + 12, 0);
    await expectFramingError(Buffer.concat([first, saleFrame()]), 'length too long');
  });

  // A connection that closes with part of a frame read is a framing error, journalled.
  it('a frame cut off, then the terminal closes', async () => {
    const frame = saleFrame();
    await expectFramingError(frame.subarray(0, 40), 'truncated', { end: true });
  });

  it('the journal of framing errors shows no card data', async () => {
    const errors = await framingErrors();
    assert.ok(errors.length >= 6, `${errors.length} framing errors`);
    for (const pan of Object.values(CARDS)) {
      assert.deepEqual(await tablesContaining(h.testDb.db, pan), [], `card ${pan.slice(0, 6)}…`);
    }
  });
});

async function payment(trace: string, mti: string) {
  const rows = await h.testDb.db.query<{ id: string; status: string; response_code: string; rrn: string }>(
    `SELECT id, status, response_code, rrn FROM card_payments
      WHERE terminal_id = $1 AND trace = $2 AND request_mti = $3`,
    [T1, trace, mti],
  );
  return rows.rows;
}

async function reversalsOwed(paymentIds: readonly string[]) {
  const rows = await h.testDb.db.query<{ payment_id: string; reason: string; status: string }>(
    'SELECT payment_id, reason, status FROM network_reversals WHERE payment_id = ANY($1::uuid[]) ORDER BY created_at',
    [paymentIds],
  );
  return rows.rows;
}

async function moneyOf(pan: string): Promise<Money> {
  return money(h, MID, pan);
}

describe('a terminal that hangs up in the middle of a transaction', () => {
  it('a sale to the card whose network never answers, the socket closed before the reply: consistent, then its reversal resolves it once', async () => {
    const startMoney = await moneyOf(CARDS.silent);
    const raw = await h.connect();
    const sale = financialRequest(t1, 'sale', { amountMinor: 2300n, card: card(CARDS.silent) });
    const trace = String(sale.get(11));
    raw.write(frameOf(t1, sale));
    await new Promise((resolve) => setTimeout(resolve, 50));
    raw.destroy();
    // The host finishes the request on its own (its network timeout is 300 ms).
    const deadline = Date.now() + 5000;
    while ((await payment(trace, '0200')).length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await h.settle();
    const [row] = await payment(trace, '0200');
    assert.equal(row?.status, 'failed');
    assert.equal(row?.response_code, '98');
    assert.deepEqual(
      (await reversalsOwed([row!.id])).map((r) => `${r.reason}/${r.status}`),
      ['timeout/acknowledged'],
    );
    const journal = await h.testDb.db.query<{ direction: string; response_code: string | null }>(
      "SELECT direction, response_code FROM host_messages WHERE terminal_id = $1 AND trace = $2 AND mti IN ('0200', '0210') ORDER BY at, direction",
      [T1, trace],
    );
    assert.deepEqual(
      journal.rows.map((r) => `${r.direction}:${r.response_code ?? ''}`),
      ['in:', 'out:98'],
    );

    // The terminal comes back and reverses it (twice: the second gets the same answer).
    const again = await h.connect();
    const first = await exchange(
      again,
      frameOf(t1, buildReversal(t1.spec, { fields: reversalFieldsOf(sale) }, '98')),
      t1,
    );
    assert.equal(first.code, '00');
    assert.equal(first.macValid, true);
    const second = await exchange(
      again,
      frameOf(t1, buildReversal(t1.spec, { fields: reversalFieldsOf(sale) }, '98')),
      t1,
    );
    assert.deepEqual(second.body.subarray(0, -8), first.body.subarray(0, -8));
    await h.settle();
    assert.equal((await payment(trace, '0400')).length, 1, 'one reversal recorded');
    const reversal = (await payment(trace, '0400'))[0]!;
    assert.deepEqual(
      (await reversalsOwed([row!.id, reversal.id])).map((r) => r.reason),
      ['timeout'],
      'one reversal owed upstream, not two',
    );
    const after = await moneyOf(CARDS.silent);
    assert.deepEqual(delta(startMoney, after), {
      pending: 0n,
      pendingHeld: 0n,
      receivable: 0n,
      card: 0n,
      held: 0n,
    });
    await assertLedgerSound(h);
  });

  it('the Terminal gives up (no reply in time), hangs up, and sends its pending reversal before the next sale', async () => {
    const patient = h.terminal(T1);
    const hasty = h.client(patient.state, 40);
    const startMoney = await moneyOf(CARDS.silent);
    const lost = await hasty.sale(1300n, card(CARDS.silent));
    assert.equal(lost.outcome, 'no_reply');
    assert.equal(patient.state.pendingReversal?.reason, '98');
    hasty.close();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const next = await patient.sale(200n, card(CARDS.debit));
    assert.equal(next.reversal?.cleared, true, JSON.stringify(next.reversal));
    assert.equal(next.reversal?.responseCode, '00');
    assert.equal(next.responseCode, '00', next.responseText);
    assert.equal(patient.state.pendingReversal, null);
    await h.settle();
    const [row] = await payment(lost.trace, '0200');
    assert.equal(row?.status, 'failed');
    assert.equal((await payment(lost.trace, '0400')).length, 1);
    // The merchant's pending and the receivable moved by the 200 of the debit sale only.
    assert.deepEqual(delta(startMoney, await moneyOf(CARDS.silent)), {
      pending: 200n,
      pendingHeld: 0n,
      receivable: 200n,
      card: 0n,
      held: 0n,
    });
  });

  it('an approved sale whose reply the terminal never read, then its reversal: the money comes back once', async () => {
    const startMoney = await moneyOf(CARDS.debit);
    const raw = await h.connect();
    const sale = financialRequest(t1, 'sale', { amountMinor: 2700n });
    const trace = String(sale.get(11));
    raw.write(frameOf(t1, sale));
    raw.socket.end();
    await raw.closesWithin(3000);
    const deadline = Date.now() + 5000;
    while ((await payment(trace, '0200')).length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal((await payment(trace, '0200'))[0]?.status, 'approved');
    const again = await h.connect();
    const reply = await exchange(
      again,
      frameOf(t1, buildReversal(t1.spec, { fields: reversalFieldsOf(sale) }, '98')),
      t1,
    );
    assert.equal(reply.code, '00');
    await h.settle();
    assert.equal((await payment(trace, '0200'))[0]?.status, 'reversed');
    const rrn = (await payment(trace, '0200'))[0]!.rrn.trim();
    const upstream = (await h.simulator.listReversals(new Secret(CARDS.debit))).filter((r) => r.rrn === rrn);
    assert.deepEqual(
      upstream.map((r) => r.effect),
      ['reversed'],
    );
    assert.deepEqual(delta(startMoney, await moneyOf(CARDS.debit)), {
      pending: 0n,
      pendingHeld: 0n,
      receivable: 0n,
      card: 0n,
      held: 0n,
    });
  });

  it('the late-approval card: 98, a reversal owed and acknowledged upstream, the card as before', async () => {
    const startMoney = await moneyOf(CARDS.late);
    const result = await t1.sale(3100n, card(CARDS.late));
    assert.equal(result.responseCode, '98', result.responseText);
    const [row] = await payment(result.trace, '0200');
    assert.equal(row?.status, 'failed');
    await new Promise((resolve) => setTimeout(resolve, 300)); // the approval lands upstream
    await h.settle();
    assert.deepEqual(
      (await reversalsOwed([row!.id])).map((r) => `${r.reason}/${r.status}`),
      ['timeout/acknowledged'],
    );
    const authorizations = (await h.simulator.listAuthorizations(new Secret(CARDS.late))).filter(
      (a) => a.rrn === row!.rrn.trim(),
    );
    assert.equal(authorizations.length, 1);
    assert.notEqual(authorizations[0]!.status, 'approved', 'not left approved at the issuer');
    assert.deepEqual(delta(startMoney, await moneyOf(CARDS.late)), {
      pending: 0n,
      pendingHeld: 0n,
      receivable: 0n,
      card: 0n,
      held: 0n,
    });
  });

  // A retransmission of a request whose first answer was 98 must not leave a second, unreversed
  // authorization at the issuer: the late approval of either is reversed upstream.
  it('a 98 sale to the late-approval card, the terminal hangs up and sends it again: the card ends as before', async () => {
    const startMoney = await moneyOf(CARDS.late);
    const sale = financialRequest(t1, 'sale', { amountMinor: 3500n, card: card(CARDS.late) });
    const trace = String(sale.get(11));
    const frame = frameOf(t1, sale);
    const raw = await h.connect();
    raw.write(frame);
    await new Promise((resolve) => setTimeout(resolve, 50));
    raw.destroy();
    await new Promise((resolve) => setTimeout(resolve, 400));
    const again = await h.connect();
    const reply = await exchange(again, frame, t1);
    assert.equal(reply.code, '98');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await h.settle();
    assert.equal((await payment(trace, '0200')).length, 1, 'one payment for the key');
    const upstream = (await h.simulator.listAuthorizations(new Secret(CARDS.late))).filter(
      (a) => a.terminalId === T1 && a.amountMinor === 3500n,
    );
    assert.deepEqual(
      delta(startMoney, await moneyOf(CARDS.late)),
      { pending: 0n, pendingHeld: 0n, receivable: 0n, card: 0n, held: 0n },
      `BUG: the retransmission was approved late upstream and never reversed (issuer: ${upstream
        .map((a) => `${a.operation} ${a.amountMinor} ${a.status}`)
        .join(', ')})`,
    );
  });

  it('afterwards: the ledger is sound and no card number is stored', async () => {
    await h.settle();
    await assertLedgerSound(h);
    for (const pan of Object.values(CARDS)) {
      assert.deepEqual(await tablesContaining(h.testDb.db, pan), [], `card ${pan.slice(0, 6)}…`);
    }
  });
});
