import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase, type TestDatabase } from '../../db/testing.ts';
import type { NetworkOutcome, NetworkRequest } from '../../payments/index.ts';
import { Secret } from '../../shared/secret.ts';
import { createIso87CardNetwork, type Iso87CardNetwork } from './iso87-link.ts';
import { type CardNetworkSimulator, createCardNetworkSimulator } from './simulator.ts';
import { type SimulatorServer, startSimulatorServer } from './simulator-server.ts';
import {
  freshPan,
  originalOf,
  type RequestOptions,
  testPanHashKey,
  testPvk,
  testRequest,
  testZpk,
  waitFor,
} from './testing.ts';

// The link against the simulator's TCP server on loopback: the whole path of a message.

let t: TestDatabase;
let sim: CardNetworkSimulator;
let server: SimulatorServer;
let link: Iso87CardNetwork;
const zpk = testZpk();
const LATE_REPLY_MS = 400;
const TIMEOUT = { timeoutMs: 3_000 };

before(async () => {
  t = await createTestDatabase({ poolSize: 12 });
  sim = createCardNetworkSimulator({ db: t.db, panHashKey: testPanHashKey(), pvk: testPvk(), zpk });
  await sim.seedTestCards();
  server = await startSimulatorServer({ simulator: sim, lateReplyMs: LATE_REPLY_MS });
  link = createIso87CardNetwork({
    host: '127.0.0.1',
    port: server.port,
    connections: 2,
    echoIntervalMs: 100,
    reconnectMinMs: 20,
    reconnectMaxMs: 100,
  });
  assert.equal(await link.waitUntilConnected(5_000), true);
});

after(async () => {
  await link.close();
  await server.close();
  await sim.close();
  await t.drop();
});

const pan = (digits: string) => new Secret(digits);

function request(
  card: string,
  operation: NetworkRequest['operation'],
  options: RequestOptions = {},
): NetworkRequest {
  return testRequest(card, operation, { zpk, ...options });
}

async function newCard(balanceMinor = 100_000n): Promise<string> {
  const digits = freshPan();
  await sim.addCards([{ pan: pan(digits), pin: pan('123456'), kind: 'debit', balanceMinor }]);
  return digits;
}

async function available(card: string): Promise<bigint | undefined> {
  return (await sim.getCard(pan(card)))?.availableMinor;
}

function codeOf(outcome: NetworkOutcome): string {
  if (outcome.status === 'approved') return '00';
  if (outcome.status === 'declined') return outcome.responseCode;
  return outcome.cause;
}

describe('approvals and declines over the link', () => {
  it('a sale on 6222021000000013 approves with the issuer’s fields', async () => {
    const outcome = await link.send(
      request('6222021000000013', 'sale', { pin: '123456', amountMinor: 1_234n }),
      TIMEOUT,
    );
    assert.equal(outcome.status, 'approved');
    if (outcome.status !== 'approved') return;
    assert.match(outcome.authCode, /^[0-9]{6}$/);
    assert.equal(outcome.issuerCode, '01020000');
    assert.equal(outcome.cardOrganization, 'CUP');
    assert.equal(await available('6222021000000013'), 5_000_000n - 1_234n);
  });

  it('a balance inquiry answers the available balance (field 54)', async () => {
    const card = await newCard(12_345n);
    const outcome = await link.send(request(card, 'balance', { pin: '123456' }), TIMEOUT);
    assert.equal(outcome.status === 'approved' && outcome.balanceMinor, 12_345n);
  });

  const rows: Array<[string, string, RequestOptions, string]> = [
    ['6250001000000010', 'credit card approves', { pin: '123456' }, '00'],
    ['6222021000000021', '¥10.00 card, ¥10.01', { pin: '123456', amountMinor: 1_001n }, '51'],
    ['6222021000000039', 'expired', { pin: '123456' }, '54'],
    ['6222021000000047', 'lost', { pin: '123456' }, '41'],
    ['6222021000000013', 'wrong PIN', { pin: '999999' }, '55'],
    ['6222021000000013', 'amount zero', { pin: '123456', amountMinor: 0n }, '13'],
    [
      '6222021000000013',
      'above the per-transaction limit',
      { pin: '123456', amountMinor: 10_000_001n },
      '61',
    ],
  ];
  for (const [card, name, options, code] of rows) {
    it(`${card} ${name} → ${code}`, async () => {
      assert.equal(codeOf(await link.send(request(card, 'sale', options), TIMEOUT)), code);
    });
  }

  it('an unknown card → 14', async () => {
    assert.equal(codeOf(await link.send(request(freshPan(), 'sale'), TIMEOUT)), '14');
  });

  it('void, refund, pre-auth and completion go through with their originals', async () => {
    const card = await newCard(100_000n);
    const sale = request(card, 'sale', { amountMinor: 10_000n });
    assert.equal(codeOf(await link.send(sale, TIMEOUT)), '00');
    assert.equal(
      codeOf(
        await link.send(
          request(card, 'refund', { original: originalOf(sale), amountMinor: 4_000n }),
          TIMEOUT,
        ),
      ),
      '00',
    );
    assert.equal(
      codeOf(await link.send(request(card, 'void', { original: originalOf(sale) }), TIMEOUT)),
      '12',
    );
    assert.equal(await available(card), 94_000n);
    const preauth = request(card, 'preauth', { amountMinor: 20_000n });
    assert.equal(codeOf(await link.send(preauth, TIMEOUT)), '00');
    assert.equal(await available(card), 74_000n);
    const completion = request(card, 'completion', { original: originalOf(preauth), amountMinor: 15_000n });
    assert.equal(codeOf(await link.send(completion, TIMEOUT)), '00');
    assert.equal(await available(card), 79_000n);
    assert.equal(
      codeOf(
        await link.send(request(card, 'completion_void', { original: originalOf(completion) }), TIMEOUT),
      ),
      '00',
    );
    assert.equal(await available(card), 94_000n);
  });
});

describe('timeouts, late replies and reversals over the link', () => {
  it('6222021000000054 never answers: unknown/timeout at the timeout', async () => {
    const started = Date.now();
    const outcome = await link.send(request('6222021000000054', 'sale', { pin: '123456' }), {
      timeoutMs: 200,
    });
    assert.equal(codeOf(outcome), 'timeout');
    assert.ok(Date.now() - started >= 195);
    assert.equal(link.pendingCount, 0);
  });

  it('6222021000000062: timeout; the caller reverses; the late reply is ignored; no money moves', async () => {
    const card = '6222021000000062';
    const sale = request(card, 'sale', { pin: '123456', amountMinor: 3_000n });
    assert.equal(codeOf(await link.send(sale, { timeoutMs: 150 })), 'timeout');
    assert.deepEqual(await link.reverse({ original: sale, reason: 'timeout', attempt: 1 }, TIMEOUT), {
      status: 'acknowledged',
    });
    // The late original lands: refused (the reversal came first) or approved then undone (if the
    // reversal was slower); either way it ends reversed, and its reply is dropped by the link.
    await waitFor(
      async () =>
        (await sim.listAuthorizations(pan(card))).some(
          (a) => a.stan === sale.stan && a.status === 'reversed' && a.responseCode !== null,
        ),
      5_000,
      'the late original to land',
    );
    await sleep(50);
    assert.equal(await available(card), 5_000_000n);
    assert.equal(link.pendingCount, 0);
    assert.equal(codeOf(await link.send(request('6222021000000013', 'balance'), TIMEOUT)), '00');
  });

  it('6222021000000062: the late approval lands before the reversal; the reversal gives the money back', async () => {
    const card = '6222021000000062';
    const sale = request(card, 'sale', { pin: '123456', amountMinor: 4_000n });
    assert.equal(codeOf(await link.send(sale, { timeoutMs: 100 })), 'timeout');
    await waitFor(
      async () =>
        (await sim.listAuthorizations(pan(card))).some(
          (a) => a.stan === sale.stan && a.status === 'approved',
        ),
      5_000,
      'the late approval',
    );
    assert.equal(await available(card), 5_000_000n - 4_000n, 'the late approval debited the card');
    assert.deepEqual(await link.reverse({ original: sale, reason: 'timeout', attempt: 1 }, TIMEOUT), {
      status: 'acknowledged',
    });
    assert.equal(await available(card), 5_000_000n);
  });

  it('a dropped reply (fault) times out; the caller’s 0420 and 0421 reverse it once', async () => {
    const card = await newCard(10_000n);
    const sale = request(card, 'sale', { amountMinor: 2_500n });
    sim.faults.set({ dropReplyRate: 1, match: (m) => m.stan === sale.stan && m.kind === 'request' });
    try {
      assert.equal(codeOf(await link.send(sale, { timeoutMs: 200 })), 'timeout');
    } finally {
      sim.faults.clear();
    }
    await waitFor(async () => (await available(card)) === 7_500n, 5_000, 'the issuer to approve it');
    assert.deepEqual(await link.reverse({ original: sale, reason: 'timeout', attempt: 1 }, TIMEOUT), {
      status: 'acknowledged',
    });
    assert.deepEqual(await link.reverse({ original: sale, reason: 'timeout', attempt: 2 }, TIMEOUT), {
      status: 'acknowledged',
    });
    assert.equal(await available(card), 10_000n);
    assert.deepEqual(
      (await sim.listReversals(pan(card))).map((r) => [r.attempt, r.effect]),
      [
        [1, 'reversed'],
        [2, 'already_reversed'],
      ],
    );
  });

  it('a reply delayed past the timeout is ignored when it comes; the next requests match', async () => {
    const card = await newCard();
    const slow = request(card, 'sale', { amountMinor: 100n });
    sim.faults.set({ delayMs: 300, match: (m) => m.stan === slow.stan });
    try {
      assert.equal(codeOf(await link.send(slow, { timeoutMs: 100 })), 'timeout');
      const quick = await Promise.all(
        Array.from({ length: 5 }, () => link.send(request(card, 'sale', { amountMinor: 1n }), TIMEOUT)),
      );
      assert.deepEqual(quick.map(codeOf), ['00', '00', '00', '00', '00']);
      await sleep(300);
    } finally {
      sim.faults.clear();
    }
    assert.equal(link.pendingCount, 0);
    assert.equal(codeOf(await link.send(request(card, 'sale', { amountMinor: 1n }), TIMEOUT)), '00');
  });

  it('a garbled reply is malformed_reply (matched by the fields before the damage)', async () => {
    const card = await newCard();
    const sale = request(card, 'sale');
    sim.faults.set({ malformRate: 1, match: (m) => m.stan === sale.stan });
    try {
      const [garbled, fine] = await Promise.all([
        link.send(sale, TIMEOUT),
        link.send(request(card, 'sale'), TIMEOUT),
      ]);
      assert.equal(codeOf(garbled), 'malformed_reply');
      assert.equal(codeOf(fine), '00');
    } finally {
      sim.faults.clear();
    }
  });

  it('a reversal before its original (original lost on the way) is remembered; the original is refused later', async () => {
    const card = await newCard(10_000n);
    const sale = request(card, 'sale', { amountMinor: 1_000n });
    sim.faults.set({ dropRate: 1, match: (m) => m.stan === sale.stan && m.kind === 'request' });
    try {
      assert.equal(codeOf(await link.send(sale, { timeoutMs: 100 })), 'timeout');
    } finally {
      sim.faults.clear();
    }
    assert.deepEqual(await link.reverse({ original: sale, reason: 'timeout', attempt: 1 }, TIMEOUT), {
      status: 'acknowledged',
    });
    assert.equal(codeOf(await link.send(sale, TIMEOUT)), '12', 'a retransmission of the original is refused');
    assert.equal(await available(card), 10_000n);
  });
});

describe('the connection pool', () => {
  it('many concurrent requests are matched to their own replies', async () => {
    const cards = await Promise.all(Array.from({ length: 40 }, (_, i) => newCard(BigInt(1_000 + i))));
    const requests = cards.flatMap((card, i) =>
      Array.from({ length: 5 }, (_, k) =>
        request(card, 'balance', { terminalId: `T${((i * 5 + k) % 7).toString().padStart(7, '0')}` }),
      ),
    );
    const outcomes = await Promise.all(requests.map((r) => link.send(r, TIMEOUT)));
    outcomes.forEach((outcome, n) => {
      const card = Math.floor(n / 5);
      assert.equal(outcome.status === 'approved' && outcome.balanceMinor, BigInt(1_000 + card));
    });
  });

  it('keeps its connections alive with echo tests', async () => {
    await sleep(350);
    assert.equal(link.connectedCount, 2);
    assert.equal(codeOf(await link.send(request('6222021000000013', 'balance'), TIMEOUT)), '00');
  });

  it('link down: in-flight requests get link_down, new ones too; it reconnects when the switch is back', async () => {
    const card = await newCard();
    const slow = request(card, 'sale', { amountMinor: 100n });
    sim.faults.set({ delayMs: 1_000, match: (m) => m.stan === slow.stan });
    const port = server.port;
    try {
      const inFlight = link.send(slow, TIMEOUT);
      await sleep(100);
      await server.close();
      assert.equal(codeOf(await inFlight), 'link_down');
      await sleep(50);
      assert.equal(link.connectedCount, 0);
      assert.equal(codeOf(await link.send(request(card, 'sale'), TIMEOUT)), 'link_down');
    } finally {
      sim.faults.clear();
    }
    server = await startSimulatorServer({ simulator: sim, port, lateReplyMs: LATE_REPLY_MS });
    assert.equal(await link.waitUntilConnected(3_000), true);
    await waitFor(() => link.connectedCount === 2, 3_000, 'both connections back');
    assert.equal(codeOf(await link.send(request(card, 'sale'), TIMEOUT)), '00');
  });
});

describe('against a misbehaving switch', () => {
  async function rawServer(onData: (socket: net.Socket, chunk: Buffer) => void): Promise<{
    port: number;
    connections: () => number;
    close: () => Promise<void>;
  }> {
    let count = 0;
    const sockets = new Set<net.Socket>();
    const raw = net.createServer((socket) => {
      count++;
      sockets.add(socket);
      socket.on('data', (chunk) => onData(socket, chunk));
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const address = raw.address() as net.AddressInfo;
    return {
      port: address.port,
      connections: () => count,
      close: async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => raw.close(resolve));
      },
    };
  }

  it('an unanswered echo closes the connection, which is reopened', async () => {
    const silent = await rawServer(() => undefined);
    const other = createIso87CardNetwork({
      host: '127.0.0.1',
      port: silent.port,
      connections: 1,
      echoIntervalMs: 30,
      echoTimeoutMs: 30,
      reconnectMinMs: 10,
      reconnectMaxMs: 20,
    });
    try {
      assert.equal(await other.waitUntilConnected(2_000), true);
      await sleep(400);
      assert.ok(silent.connections() >= 2, `reconnected (${silent.connections()} connections)`);
    } finally {
      await other.close();
      await silent.close();
    }
  });

  it('a frame that lies about its length fails the request as malformed_reply', async () => {
    const liar = await rawServer((socket) => socket.write(Buffer.from([0x00, 0x00])));
    const other = createIso87CardNetwork({
      host: '127.0.0.1',
      port: liar.port,
      connections: 1,
      echoIntervalMs: 0,
    });
    try {
      assert.equal(await other.waitUntilConnected(2_000), true);
      assert.equal(codeOf(await other.send(request('6222021000000013', 'sale'), TIMEOUT)), 'malformed_reply');
    } finally {
      await other.close();
      await liar.close();
    }
  });

  it('a reply that is not ISO 8583 at all, with one request waiting, is that request’s malformed_reply', async () => {
    const noise = await rawServer((socket) =>
      socket.write(Buffer.from([0x00, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f])),
    );
    const other = createIso87CardNetwork({
      host: '127.0.0.1',
      port: noise.port,
      connections: 1,
      echoIntervalMs: 0,
    });
    try {
      assert.equal(await other.waitUntilConnected(2_000), true);
      assert.equal(codeOf(await other.send(request('6222021000000013', 'sale'), TIMEOUT)), 'malformed_reply');
    } finally {
      await other.close();
      await noise.close();
    }
  });

  it('with no switch listening: link_down at once, and close() ends the reconnect attempts', async () => {
    const gone = await rawServer(() => undefined);
    const port = gone.port;
    await gone.close();
    const other = createIso87CardNetwork({ host: '127.0.0.1', port, connections: 1, reconnectMinMs: 10 });
    try {
      assert.equal(await other.waitUntilConnected(100), false);
      assert.equal(codeOf(await other.send(request('6222021000000013', 'sale'), TIMEOUT)), 'link_down');
    } finally {
      await other.close();
    }
  });
});
