import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../../db/testing.ts';
import type { NetworkOutcome, NetworkRequest } from '../../payments/index.ts';
import { ManualClock } from '../../shared/clock.ts';
import { Secret } from '../../shared/secret.ts';
import { type CardNetworkSimulator, createCardNetworkSimulator, type NewSimCard } from './simulator.ts';
import { TEST_CARDS } from './test-cards.ts';
import {
  freshPan,
  originalOf,
  type RequestOptions,
  testPanHashKey,
  testPvk,
  testRequest,
  testZpk,
} from './testing.ts';

let t: TestDatabase;
let sim: CardNetworkSimulator;
const clock = new ManualClock('2026-11-26T02:00:00Z');
const zpk = testZpk();
const pvk = testPvk();
const TIMEOUT = { timeoutMs: 2_000 };

before(async () => {
  t = await createTestDatabase({ poolSize: 12 });
  sim = createCardNetworkSimulator({
    db: t.db,
    panHashKey: testPanHashKey(),
    pvk,
    zpk,
    clock,
    lateApprovalDelayMs: 50,
  });
  assert.equal(await sim.seedTestCards(), TEST_CARDS.length);
});

after(async () => {
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

async function newCard(card: Partial<NewSimCard> = {}): Promise<string> {
  const digits = freshPan();
  const added = await sim.addCards([
    { pan: pan(digits), pin: pan('123456'), kind: 'debit', balanceMinor: 100_000n, ...card },
  ]);
  assert.equal(added, 1);
  return digits;
}

async function available(card: string): Promise<bigint> {
  const view = await sim.getCard(pan(card));
  assert.ok(view !== undefined);
  return view.availableMinor;
}

function approved(outcome: NetworkOutcome): string {
  assert.equal(
    outcome.status,
    'approved',
    JSON.stringify(outcome, (_, v) => (typeof v === 'bigint' ? `${v}` : v)),
  );
  return outcome.status === 'approved' ? outcome.authCode : '';
}

function declined(outcome: NetworkOutcome, code: string): void {
  assert.deepEqual(
    outcome.status === 'declined' ? outcome.responseCode : outcome.status,
    code,
    JSON.stringify(outcome, (_, v) => (typeof v === 'bigint' ? `${v}` : v)),
  );
}

describe('test cards of docs/terminal-protocol.md', () => {
  it('seeding again changes nothing', async () => {
    const before = await Promise.all(TEST_CARDS.map((card) => sim.getCard(pan(card.pan))));
    assert.equal(await sim.seedTestCards(), 0);
    const again = await Promise.all(TEST_CARDS.map((card) => sim.getCard(pan(card.pan))));
    assert.deepEqual(again, before);
    const lucky = before[0];
    assert.ok(lucky !== undefined);
    assert.equal(lucky.panMasked, '622202******0013');
    assert.equal(lucky.balanceMinor, 5_000_000n);
  });

  it('stores no PAN in clear and no PIN', async () => {
    const rows = await t.db.query('SELECT * FROM card_network_sim_cards');
    const text = JSON.stringify(rows.rows, (_, v) => (typeof v === 'bigint' ? `${v}` : v));
    for (const card of TEST_CARDS) assert.ok(!text.includes(card.pan), 'no clear PAN at rest');
    assert.ok(!text.includes('123456'), 'no clear PIN at rest');
  });

  const rows: Array<{
    pan: string;
    amountMinor: bigint;
    expect: 'approved' | string;
    balanceAfter?: bigint;
  }> = [
    { pan: '6222021000000013', amountMinor: 1_234n, expect: 'approved', balanceAfter: 5_000_000n - 1_234n },
    { pan: '6250001000000010', amountMinor: 1_234n, expect: 'approved', balanceAfter: 10_000_000n - 1_234n },
    { pan: '6222021000000021', amountMinor: 1_001n, expect: '51', balanceAfter: 1_000n },
    { pan: '6222021000000039', amountMinor: 1_234n, expect: '54', balanceAfter: 5_000_000n },
    { pan: '6222021000000047', amountMinor: 1_234n, expect: '41', balanceAfter: 5_000_000n },
  ];
  for (const row of rows) {
    it(`${row.pan}: sale of ${row.amountMinor} → ${row.expect}`, async () => {
      const outcome = await sim.send(
        request(row.pan, 'sale', { amountMinor: row.amountMinor, pin: '123456' }),
        TIMEOUT,
      );
      if (row.expect === 'approved') {
        approved(outcome);
        assert.equal(outcome.status === 'approved' && outcome.cardOrganization, 'CUP');
      } else declined(outcome, row.expect);
      assert.equal(await available(row.pan), row.balanceAfter);
    });
  }

  it('6222021000000021: ¥10.00 exactly approves, then one fen more is 51', async () => {
    const card = '6222021000000021';
    approved(await sim.send(request(card, 'sale', { amountMinor: 1_000n, pin: '123456' }), TIMEOUT));
    declined(await sim.send(request(card, 'sale', { amountMinor: 1n, pin: '123456' }), TIMEOUT), '51');
    assert.equal(await available(card), 0n);
  });

  it('6222021000000054 never answers: unknown/timeout when the timeout passes, nothing recorded', async () => {
    const card = '6222021000000054';
    const started = Date.now();
    const outcome = await sim.send(request(card, 'sale', { pin: '123456' }), { timeoutMs: 150 });
    assert.equal(outcome.status, 'unknown');
    assert.equal(outcome.status === 'unknown' && outcome.cause, 'timeout');
    assert.ok(Date.now() - started >= 145, 'resolves at the timeout, not before');
    await sim.idle();
    assert.equal(await available(card), 5_000_000n);
    assert.deepEqual(await sim.listAuthorizations(pan(card)), []);
    // Reversed (remembered), and retransmitted: still no answer, still nothing moved.
    const sale = request(card, 'sale', { pin: '123456' });
    await sim.reverse({ original: sale, reason: 'timeout', attempt: 1 }, TIMEOUT);
    const again = await sim.send(sale, { timeoutMs: 50 });
    assert.equal(again.status === 'unknown' && again.cause, 'timeout');
    assert.equal(await available(card), 5_000_000n);
  });

  it('6222021000000062 approves after the timeout: unknown/timeout, then the debit lands', async () => {
    const card = '6222021000000062';
    const sale = request(card, 'sale', { amountMinor: 5_000n, pin: '123456' });
    const started = Date.now();
    const outcome = await sim.send(sale, { timeoutMs: 100 });
    assert.equal(outcome.status === 'unknown' && outcome.cause, 'timeout');
    assert.ok(Date.now() - started >= 95);
    assert.equal(await available(card), 5_000_000n, 'nothing yet at the timeout');
    await sim.idle();
    assert.equal(await available(card), 5_000_000n - 5_000n, 'the late approval debited the card');
    const [row] = await sim.listAuthorizations(pan(card));
    assert.equal(row?.status, 'approved');
    // A retransmission is answered late again, and debits nothing more.
    const again = await sim.send(sale, { timeoutMs: 50 });
    assert.equal(again.status === 'unknown' && again.cause, 'timeout');
    await sim.idle();
    assert.equal(await available(card), 5_000_000n - 5_000n);
    assert.equal((await sim.listAuthorizations(pan(card))).length, 1);
    // The caller reverses it: the money comes back.
    assert.deepEqual(await sim.reverse({ original: sale, reason: 'timeout', attempt: 1 }, TIMEOUT), {
      status: 'acknowledged',
    });
    assert.equal(await available(card), 5_000_000n);
  });

  it('6222021000000062 reversed before its late approval lands: the approval is refused, no money moves', async () => {
    const card = '6222021000000062';
    const sale = request(card, 'sale', { amountMinor: 7_000n, pin: '123456' });
    const outcome = await sim.send(sale, { timeoutMs: 50 });
    assert.equal(outcome.status, 'unknown');
    assert.deepEqual(await sim.reverse({ original: sale, reason: 'timeout', attempt: 1 }, TIMEOUT), {
      status: 'acknowledged',
    });
    await sim.idle();
    assert.equal(await available(card), 5_000_000n);
    const rows = await sim.listAuthorizations(pan(card));
    const row = rows.find((r) => r.stan === sale.stan);
    assert.equal(row?.status, 'reversed');
    assert.equal(row?.responseCode, '12', 'the late original was answered with a refusal');
    const reversals = await sim.listReversals(pan(card));
    assert.equal(reversals.find((r) => r.stan === sale.stan)?.effect, 'remembered');
  });
});

describe('response codes', () => {
  const cases: Array<{ code: string; name: string; run: () => Promise<NetworkOutcome> }> = [
    {
      code: '94',
      name: 'a reference already used by another message',
      run: async () => {
        const card = await newCard();
        const sale = request(card, 'sale', { pin: '123456' });
        approved(await sim.send(sale, TIMEOUT));
        return sim.send({ ...sale, amountMinor: sale.amountMinor + 1n }, TIMEOUT);
      },
    },
    {
      code: '12',
      name: 'void of a sale already voided',
      run: async () => {
        const card = await newCard();
        const sale = request(card, 'sale', { pin: '123456' });
        approved(await sim.send(sale, TIMEOUT));
        approved(await sim.send(request(card, 'void', { original: originalOf(sale) }), TIMEOUT));
        return sim.send(request(card, 'void', { original: originalOf(sale) }), TIMEOUT);
      },
    },
    {
      code: '14',
      name: 'unknown card',
      run: () => sim.send(request(freshPan(), 'sale', { pin: '123456' }), TIMEOUT),
    },
    {
      code: '41',
      name: 'lost card',
      run: async () =>
        sim.send(request(await newCard({ status: 'lost' }), 'sale', { pin: '123456' }), TIMEOUT),
    },
    {
      code: '43',
      name: 'stolen card (status set by the admin method)',
      run: async () => {
        const card = await newCard();
        assert.equal(await sim.setCardStatus(pan(card), 'stolen'), true);
        return sim.send(request(card, 'sale', { pin: '123456' }), TIMEOUT);
      },
    },
    {
      code: '54',
      name: 'expired card on file',
      run: async () =>
        sim.send(request(await newCard({ expiry: '2610' }), 'sale', { pin: '123456' }), TIMEOUT),
    },
    {
      code: '54',
      name: 'expired expiry presented',
      run: async () => sim.send(request(await newCard(), 'sale', { pin: '123456', expiry: '2510' }), TIMEOUT),
    },
    {
      code: '75',
      name: 'third wrong PIN of the day',
      run: async () => {
        const card = await newCard();
        declined(await sim.send(request(card, 'sale', { pin: '654321' }), TIMEOUT), '55');
        declined(await sim.send(request(card, 'sale', { pin: '654321' }), TIMEOUT), '55');
        return sim.send(request(card, 'sale', { pin: '654321' }), TIMEOUT);
      },
    },
    {
      code: '99',
      name: 'PIN block that is not format 0 under the zone key',
      run: async () =>
        sim.send(
          request(await newCard(), 'sale', { pinBlock: Buffer.from('0011223344556677', 'hex') }),
          TIMEOUT,
        ),
    },
    {
      code: '55',
      name: 'wrong PIN',
      run: async () => sim.send(request(await newCard(), 'sale', { pin: '111111' }), TIMEOUT),
    },
    {
      code: '13',
      name: 'amount zero',
      run: async () =>
        sim.send(request(await newCard(), 'sale', { pin: '123456', amountMinor: 0n }), TIMEOUT),
    },
    {
      code: '13',
      name: 'another currency than the card’s',
      run: async () =>
        sim.send(request(await newCard(), 'sale', { pin: '123456', currencyNumeric: '840' }), TIMEOUT),
    },
    {
      code: '61',
      name: 'above the per-transaction limit',
      run: async () =>
        sim.send(
          request(await newCard({ balanceMinor: 1_000_000_000n }), 'sale', {
            pin: '123456',
            amountMinor: 10_000_001n,
          }),
          TIMEOUT,
        ),
    },
    {
      code: '25',
      name: 'void of a sale never seen',
      run: async () => {
        const card = await newCard();
        const ghost = request(card, 'sale');
        return sim.send(request(card, 'void', { original: originalOf(ghost) }), TIMEOUT);
      },
    },
    {
      code: '25',
      name: 'refund of another card’s sale',
      run: async () => {
        const sale = request(await newCard(), 'sale', { pin: '123456' });
        approved(await sim.send(sale, TIMEOUT));
        return sim.send(request(await newCard(), 'refund', { original: originalOf(sale) }), TIMEOUT);
      },
    },
    {
      code: '64',
      name: 'refund above what is left',
      run: async () => {
        const card = await newCard();
        const sale = request(card, 'sale', { pin: '123456', amountMinor: 1_000n });
        approved(await sim.send(sale, TIMEOUT));
        approved(
          await sim.send(request(card, 'refund', { original: originalOf(sale), amountMinor: 600n }), TIMEOUT),
        );
        return sim.send(request(card, 'refund', { original: originalOf(sale), amountMinor: 401n }), TIMEOUT);
      },
    },
    {
      code: '64',
      name: 'void of another amount than the sale',
      run: async () => {
        const card = await newCard();
        const sale = request(card, 'sale', { pin: '123456', amountMinor: 1_000n });
        approved(await sim.send(sale, TIMEOUT));
        return sim.send(request(card, 'void', { original: originalOf(sale), amountMinor: 999n }), TIMEOUT);
      },
    },
    {
      code: '51',
      name: 'insufficient funds',
      run: async () =>
        sim.send(
          request(await newCard({ balanceMinor: 500n }), 'sale', { pin: '123456', amountMinor: 501n }),
          TIMEOUT,
        ),
    },
  ];
  for (const c of cases) {
    it(`${c.code}: ${c.name}`, async () => {
      declined(await c.run(), c.code);
    });
  }
});

describe('when the issuer cannot record', () => {
  it('96: the database is gone, nothing moved; a reversal is unknown (to be repeated)', async () => {
    const broken = await createTestDatabase({ poolSize: 2 });
    const lonely = createCardNetworkSimulator({
      db: broken.db,
      panHashKey: testPanHashKey(),
      pvk,
      zpk,
      clock,
    });
    await broken.drop();
    try {
      const sale = request('6222021000000013', 'sale');
      declined(await lonely.send(sale, TIMEOUT), '96');
      const outcome = await lonely.reverse({ original: sale, reason: 'timeout', attempt: 1 }, TIMEOUT);
      assert.equal(outcome.status, 'unknown');
    } finally {
      await lonely.close();
    }
  });
});

describe('money', () => {
  it('sale, void, refund: balances move and come back, never more than the sale', async () => {
    const card = await newCard({ balanceMinor: 10_000n });
    const sale = request(card, 'sale', { pin: '123456', amountMinor: 3_000n });
    approved(await sim.send(sale, TIMEOUT));
    assert.equal(await available(card), 7_000n);
    approved(
      await sim.send(request(card, 'refund', { original: originalOf(sale), amountMinor: 1_000n }), TIMEOUT),
    );
    assert.equal(await available(card), 8_000n);
    declined(
      await sim.send(request(card, 'void', { original: originalOf(sale), amountMinor: 3_000n }), TIMEOUT),
      '12',
    );
    approved(
      await sim.send(request(card, 'refund', { original: originalOf(sale), amountMinor: 2_000n }), TIMEOUT),
    );
    assert.equal(await available(card), 10_000n);
    declined(
      await sim.send(request(card, 'refund', { original: originalOf(sale), amountMinor: 1n }), TIMEOUT),
      '64',
    );
    const rows = await sim.listAuthorizations(pan(card));
    assert.equal(rows.find((r) => r.stan === sale.stan)?.status, 'refunded');
    assert.equal(rows.find((r) => r.stan === sale.stan)?.refundedMinor, 3_000n);

    const second = request(card, 'sale', { pin: '123456', amountMinor: 2_500n });
    approved(await sim.send(second, TIMEOUT));
    approved(await sim.send(request(card, 'void', { original: originalOf(second) }), TIMEOUT));
    assert.equal(await available(card), 10_000n);
    declined(
      await sim.send(request(card, 'refund', { original: originalOf(second), amountMinor: 1n }), TIMEOUT),
      '12',
    );
  });

  it('credit card: sales use the limit, refunds give it back', async () => {
    const card = await newCard({ kind: 'credit', balanceMinor: 0n, creditLimitMinor: 50_000n });
    const sale = request(card, 'sale', { pin: '123456', amountMinor: 20_000n });
    approved(await sim.send(sale, TIMEOUT));
    let view = await sim.getCard(pan(card));
    assert.equal(view?.usedMinor, 20_000n);
    assert.equal(view?.availableMinor, 30_000n);
    declined(await sim.send(request(card, 'sale', { pin: '123456', amountMinor: 30_001n }), TIMEOUT), '51');
    approved(
      await sim.send(request(card, 'refund', { original: originalOf(sale), amountMinor: 5_000n }), TIMEOUT),
    );
    view = await sim.getCard(pan(card));
    assert.equal(view?.usedMinor, 15_000n);
  });

  it('pre-authorization holds; completion captures within the hold + 15% and releases the rest', async () => {
    const card = await newCard({ balanceMinor: 100_000n });
    const preauth = request(card, 'preauth', { pin: '123456', amountMinor: 10_000n });
    approved(await sim.send(preauth, TIMEOUT));
    let view = await sim.getCard(pan(card));
    assert.equal(view?.heldMinor, 10_000n);
    assert.equal(view?.availableMinor, 90_000n);
    assert.equal(view?.balanceMinor, 100_000n);
    declined(
      await sim.send(
        request(card, 'completion', { original: originalOf(preauth), amountMinor: 11_501n }),
        TIMEOUT,
      ),
      '64',
    );
    const completion = request(card, 'completion', { original: originalOf(preauth), amountMinor: 11_500n });
    approved(await sim.send(completion, TIMEOUT));
    view = await sim.getCard(pan(card));
    assert.equal(view?.heldMinor, 0n);
    assert.equal(view?.balanceMinor, 88_500n);
    declined(
      await sim.send(
        request(card, 'completion', { original: originalOf(preauth), amountMinor: 100n }),
        TIMEOUT,
      ),
      '12',
    );
    // A completion void gives the capture back (the hold is not restored).
    approved(await sim.send(request(card, 'completion_void', { original: originalOf(completion) }), TIMEOUT));
    view = await sim.getCard(pan(card));
    assert.equal(view?.balanceMinor, 100_000n);
    assert.equal(view?.heldMinor, 0n);
    declined(
      await sim.send(request(card, 'completion_void', { original: originalOf(completion) }), TIMEOUT),
      '12',
    );
  });

  it('a smaller completion releases the rest of the hold; a pre-auth void releases all of it', async () => {
    const card = await newCard({ balanceMinor: 50_000n });
    const preauth = request(card, 'preauth', { amountMinor: 20_000n });
    approved(await sim.send(preauth, TIMEOUT));
    approved(
      await sim.send(
        request(card, 'completion', { original: originalOf(preauth), amountMinor: 5_000n }),
        TIMEOUT,
      ),
    );
    let view = await sim.getCard(pan(card));
    assert.equal(view?.heldMinor, 0n);
    assert.equal(view?.availableMinor, 45_000n);

    const second = request(card, 'preauth', { amountMinor: 40_000n });
    approved(await sim.send(second, TIMEOUT));
    declined(await sim.send(request(card, 'sale', { amountMinor: 5_001n }), TIMEOUT), '51');
    declined(
      await sim.send(
        request(card, 'preauth_void', { original: originalOf(second), amountMinor: 1n }),
        TIMEOUT,
      ),
      '64',
    );
    approved(await sim.send(request(card, 'preauth_void', { original: originalOf(second) }), TIMEOUT));
    view = await sim.getCard(pan(card));
    assert.equal(view?.heldMinor, 0n);
    assert.equal(view?.availableMinor, 45_000n);
    declined(await sim.send(request(card, 'completion', { original: originalOf(second) }), TIMEOUT), '12');
  });

  it('a completion above the hold needs the difference available', async () => {
    const card = await newCard({ balanceMinor: 10_500n });
    const preauth = request(card, 'preauth', { amountMinor: 10_000n });
    approved(await sim.send(preauth, TIMEOUT));
    declined(
      await sim.send(
        request(card, 'completion', { original: originalOf(preauth), amountMinor: 11_000n }),
        TIMEOUT,
      ),
      '51',
    );
    approved(
      await sim.send(
        request(card, 'completion', { original: originalOf(preauth), amountMinor: 10_500n }),
        TIMEOUT,
      ),
    );
    assert.equal(await available(card), 0n);
  });

  it('balance inquiry answers the available balance', async () => {
    const card = await newCard({ balanceMinor: 7_777n });
    approved(await sim.send(request(card, 'preauth', { amountMinor: 777n }), TIMEOUT));
    const outcome = await sim.send(request(card, 'balance', { pin: '123456' }), TIMEOUT);
    approved(outcome);
    assert.equal(outcome.status === 'approved' && outcome.balanceMinor, 7_000n);
  });

  it('a retransmission gets the same answer and moves no money twice', async () => {
    const card = await newCard({ balanceMinor: 10_000n });
    const sale = request(card, 'sale', { pin: '123456', amountMinor: 4_000n });
    const first = approved(await sim.send(sale, TIMEOUT));
    const carefulBefore = sim.stats.carefulAgain;
    const again = approved(await sim.send(sale, TIMEOUT));
    assert.equal(again, first);
    assert.equal(
      sim.stats.carefulAgain,
      carefulBefore + 1,
      'found by its reference on insert, then decided again',
    );
    assert.equal(await available(card), 6_000n);
    assert.equal((await sim.listAuthorizations(pan(card))).length, 1);
  });
});

describe('PIN tries', () => {
  it('the third wrong PIN of a day blocks PIN transactions until the day ends; a right PIN then resets nothing', async () => {
    const card = await newCard();
    const sale = (pin: string) => sim.send(request(card, 'sale', { pin }), TIMEOUT);
    declined(await sale('000000'), '55');
    declined(await sale('000000'), '55');
    declined(await sale('000000'), '75');
    declined(await sale('123456'), '75');
    declined(await sale('000000'), '75');
    const view = await sim.getCard(pan(card));
    assert.equal(view?.pinWrongCount, 3);
    // No-PIN messages are not PIN transactions: the block does not touch them.
    approved(await sim.send(request(card, 'sale'), TIMEOUT));
    clock.advance(24 * 3600 * 1000);
    try {
      approved(await sale('123456'));
      assert.equal((await sim.getCard(pan(card)))?.pinWrongCount, 0);
    } finally {
      clock.advance(-24 * 3600 * 1000);
    }
  });

  it('a right PIN before the block resets the count (wrong PINs in a row)', async () => {
    const card = await newCard();
    const sale = (pin: string) => sim.send(request(card, 'sale', { pin }), TIMEOUT);
    declined(await sale('000000'), '55');
    declined(await sale('000000'), '55');
    approved(await sale('123456'));
    declined(await sale('000000'), '55');
    declined(await sale('000000'), '55');
    declined(await sale('000000'), '75');
  });

  it('the count is per day: yesterday’s wrong PINs do not count today', async () => {
    const card = await newCard();
    const sale = (pin: string) => sim.send(request(card, 'sale', { pin }), TIMEOUT);
    declined(await sale('000000'), '55');
    declined(await sale('000000'), '55');
    clock.advance(24 * 3600 * 1000);
    try {
      declined(await sale('000000'), '55');
    } finally {
      clock.advance(-24 * 3600 * 1000);
    }
  });
});

describe('concurrency', () => {
  it('N concurrent sales on a card with little money: exactly the ones that fit approve', async () => {
    const card = await newCard({ balanceMinor: 1_000n });
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, () =>
        sim.send(request(card, 'sale', { pin: '123456', amountMinor: 100n }), TIMEOUT),
      ),
    );
    assert.equal(outcomes.filter((o) => o.status === 'approved').length, 10);
    for (const o of outcomes) if (o.status !== 'approved') declined(o, '51');
    assert.equal(await available(card), 0n);
  });

  it('two simulators on one database (small batches, side by side) never overdraw a card', async () => {
    const card = await newCard({ balanceMinor: 2_000n });
    const other = createCardNetworkSimulator({
      db: t.db,
      panHashKey: testPanHashKey(),
      pvk,
      zpk,
      clock,
      maxBatch: 3,
      maxInFlight: 3,
    });
    const small = createCardNetworkSimulator({
      db: t.db,
      panHashKey: testPanHashKey(),
      pvk,
      zpk,
      clock,
      maxBatch: 2,
    });
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          [sim, other, small][i % 3]!.send(request(card, 'sale', { amountMinor: 70n }), TIMEOUT),
        ),
      );
      const approvedCount = outcomes.filter((o) => o.status === 'approved').length;
      assert.equal(approvedCount, Math.floor(2_000 / 70));
      assert.equal(await available(card), 2_000n - 70n * BigInt(approvedCount));
    } finally {
      await other.close();
      await small.close();
    }
  });

  it('many cards at once: each decided on its own balance', async () => {
    const cards = await Promise.all(Array.from({ length: 20 }, () => newCard({ balanceMinor: 300n })));
    const outcomes = await Promise.all(
      cards.flatMap((card) =>
        Array.from({ length: 5 }, () => sim.send(request(card, 'sale', { amountMinor: 100n }), TIMEOUT)),
      ),
    );
    assert.equal(outcomes.filter((o) => o.status === 'approved').length, 60);
    for (const card of cards) assert.equal(await available(card), 0n);
  });
});

describe('the card cache (fast path)', () => {
  function another(options: { maxBatch?: number; maxInFlight?: number; maxCachedCards?: number } = {}) {
    return createCardNetworkSimulator({
      db: t.db,
      panHashKey: testPanHashKey(),
      pvk,
      zpk,
      clock,
      ...options,
    });
  }

  it('a card it remembers is written in one statement; a card it does not is read first', async () => {
    const card = await newCard({ balanceMinor: 1_000n });
    const before = sim.stats;
    approved(await sim.send(request(card, 'sale', { amountMinor: 100n }), TIMEOUT));
    const cold = sim.stats;
    assert.equal(cold.fast.jobs, before.fast.jobs, 'a card never seen takes the careful path');
    approved(await sim.send(request(card, 'sale', { amountMinor: 100n }), TIMEOUT));
    const warm = sim.stats;
    assert.equal(warm.fast.jobs, cold.fast.jobs + 1);
    assert.equal(warm.ms.lock, cold.ms.lock, 'no lock round trip');
    assert.equal(await available(card), 800n);
  });

  it('commits asynchronously on connections of its own, which never go back to the pool', async () => {
    const card = await newCard({ balanceMinor: 1_000n });
    const other = another({ maxInFlight: 2 });
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, () => other.send(request(card, 'sale', { amountMinor: 10n }), TIMEOUT)),
    );
    for (const outcome of outcomes) approved(outcome);
    await other.close();
    const clients = await Promise.all(Array.from({ length: t.db.pool.idleCount }, () => t.db.pool.connect()));
    try {
      for (const client of clients) {
        // Set by a session (the store's SET), the setting's source would say so.
        const { rows } = await client.query<{ source: string }>(
          "SELECT source FROM pg_settings WHERE name = 'synchronous_commit'",
        );
        assert.notEqual(rows[0]!.source, 'session');
      }
    } finally {
      for (const client of clients) client.release();
    }
    assert.equal(await available(card), 880n);
  });

  it('a stale cache after another instance’s write never approves beyond the balance', async () => {
    const card = await newCard({ balanceMinor: 1_000n });
    const other = another();
    try {
      // This instance remembers the card with ¥9.00 available …
      approved(await sim.send(request(card, 'sale', { amountMinor: 100n }), TIMEOUT));
      // … another one spends ¥8.00 of it …
      approved(await other.send(request(card, 'sale', { amountMinor: 800n }), TIMEOUT));
      assert.equal(await available(card), 100n);
      // … so a sale of ¥5.00 here is found stale, decided again on the row as it is, and refused.
      const stale = sim.stats.fast.stale;
      declined(await sim.send(request(card, 'sale', { amountMinor: 500n }), TIMEOUT), '51');
      assert.equal(sim.stats.fast.stale, stale + 1);
      assert.equal(await available(card), 100n);
      // Remembered again as it is: ¥1.00 exactly approves, one fen more does not.
      approved(await sim.send(request(card, 'sale', { amountMinor: 100n }), TIMEOUT));
      declined(await sim.send(request(card, 'sale', { amountMinor: 1n }), TIMEOUT), '51');
      assert.equal(await available(card), 0n);
      assert.equal(
        (await sim.listAuthorizations(pan(card))).filter((a) => a.status === 'approved').length,
        3,
      );
    } finally {
      await other.close();
    }
  });

  it('an UPDATE by hand that leaves the version as it was still changes it (trigger): the cache is not trusted', async () => {
    const card = await newCard({ balanceMinor: 1_000n });
    approved(await sim.send(request(card, 'sale', { amountMinor: 100n }), TIMEOUT));
    const { rows } = await t.db.query<{ version: bigint }>(
      'UPDATE card_network_sim_cards SET balance_minor = 50 WHERE pan_masked = $1 AND balance_minor = 900 RETURNING version',
      [`${card.slice(0, 6)}${'*'.repeat(card.length - 10)}${card.slice(-4)}`],
    );
    assert.equal(rows.length, 1);
    declined(await sim.send(request(card, 'sale', { amountMinor: 100n }), TIMEOUT), '51');
    approved(await sim.send(request(card, 'sale', { amountMinor: 50n }), TIMEOUT));
    assert.equal(await available(card), 0n);
  });

  it('a status set after the card is remembered applies at once', async () => {
    const card = await newCard({ balanceMinor: 1_000n });
    approved(await sim.send(request(card, 'sale', { amountMinor: 100n }), TIMEOUT));
    assert.equal(await sim.setCardStatus(pan(card), 'lost'), true);
    declined(await sim.send(request(card, 'sale', { amountMinor: 100n }), TIMEOUT), '41');
    const other = another();
    try {
      // Set by another instance: this one finds the version moved.
      assert.equal(await other.setCardStatus(pan(card), 'active'), true);
      approved(await sim.send(request(card, 'sale', { amountMinor: 100n }), TIMEOUT));
    } finally {
      await other.close();
    }
    assert.equal(await available(card), 800n);
  });

  it('a batch in flight decides on top of the one before it; when that one fails, it is decided again', async () => {
    const card = await newCard({ balanceMinor: 1_000n });
    const two = another({ maxBatch: 2, maxInFlight: 2 });
    try {
      // Two batches at once on another card: two connections kept, so that both batches below start
      // at once.
      const warm = await newCard();
      await Promise.all(Array.from({ length: 4 }, () => two.send(request(warm, 'sale'), TIMEOUT)));
      const first = request(card, 'sale', { amountMinor: 300n, pin: '123456' });
      const authCode = approved(await two.send(first, TIMEOUT));
      const { failed: failedBefore, stale: staleBefore } = two.stats.fast;
      // Batch 1: the retransmission (its reference breaks the unique key: the statement fails) and a
      // sale; batch 2, in flight at the same time, decided on batch 1's outcome as it would have been.
      const [again, s1, s2, s3] = await Promise.all([
        two.send(first, TIMEOUT),
        two.send(request(card, 'sale', { amountMinor: 300n }), TIMEOUT),
        two.send(request(card, 'sale', { amountMinor: 300n }), TIMEOUT),
        two.send(request(card, 'sale', { amountMinor: 300n }), TIMEOUT),
      ]);
      assert.equal(approved(again!), authCode, 'the retransmission gets its first answer');
      // Sent at once, they may be decided in any order: two of them fit.
      const sales = [s1!, s2!, s3!];
      assert.equal(sales.filter((o) => o.status === 'approved').length, 2);
      for (const o of sales) if (o.status !== 'approved') declined(o, '51');
      // Batch 1 failed on its reference, or found the card changed by batch 2 decided again first;
      // batch 2 found the version it expected never written, or started after batch 1 failed. None of
      // them was written as first decided.
      const { failed, stale } = two.stats.fast;
      assert.ok(failed + stale - failedBefore - staleBefore >= 2, JSON.stringify(two.stats.fast));
      assert.equal(await available(card), 100n);
    } finally {
      await two.close();
    }
  });

  it('with no cache (maxCachedCards 0) every batch takes the careful path', async () => {
    const card = await newCard({ balanceMinor: 300n });
    const uncached = another({ maxCachedCards: 0 });
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 5 }, () => uncached.send(request(card, 'sale', { amountMinor: 100n }), TIMEOUT)),
      );
      assert.equal(outcomes.filter((o) => o.status === 'approved').length, 3);
      assert.equal(uncached.stats.fast.jobs, 0);
      assert.equal(await available(card), 0n);
    } finally {
      await uncached.close();
    }
  });
});

describe('reversals', () => {
  it('references with quotes, backslashes, braces and commas survive the statements they are inlined in', async () => {
    const card = await newCard({ balanceMinor: 1_000n });
    const rrn = `R'"\\{},${Date.now() % 100_000}`;
    const sale = request(card, 'sale', { amountMinor: 300n, rrn });
    const authCode = approved(await sim.send(sale, TIMEOUT));
    assert.equal(approved(await sim.send(sale, TIMEOUT)), authCode, 'found again by its reference');
    approved(
      await sim.send(
        request(card, 'void', { amountMinor: 300n, original: originalOf(sale, authCode) }),
        TIMEOUT,
      ),
    );
    assert.equal(await available(card), 1_000n);
    const rows = await sim.listAuthorizations(pan(card));
    assert.deepEqual(
      rows.map((r) => [r.rrn, r.status]),
      [
        [rrn, 'voided'],
        [rows[1]!.rrn, 'approved'],
      ],
    );
  });

  it('reverses an approved sale once; the repeat (0421) is acknowledged and moves nothing', async () => {
    const card = await newCard({ balanceMinor: 10_000n });
    const sale = request(card, 'sale', { pin: '123456', amountMinor: 4_000n });
    approved(await sim.send(sale, TIMEOUT));
    assert.deepEqual(await sim.reverse({ original: sale, reason: 'timeout', attempt: 1 }, TIMEOUT), {
      status: 'acknowledged',
    });
    assert.equal(await available(card), 10_000n);
    assert.deepEqual(await sim.reverse({ original: sale, reason: 'timeout', attempt: 2 }, TIMEOUT), {
      status: 'acknowledged',
    });
    assert.equal(await available(card), 10_000n);
    const effects = (await sim.listReversals(pan(card))).map((r) => [r.attempt, r.effect]);
    assert.deepEqual(effects, [
      [1, 'reversed'],
      [2, 'already_reversed'],
    ]);
    // The original again (a retransmission after its reversal) is refused.
    declined(await sim.send(sale, TIMEOUT), '12');
    assert.equal(await available(card), 10_000n);
  });

  it('a reversal before its original is remembered; the original is then refused and moves nothing', async () => {
    const card = await newCard({ balanceMinor: 10_000n });
    const sale = request(card, 'sale', { pin: '123456', amountMinor: 4_000n });
    assert.deepEqual(await sim.reverse({ original: sale, reason: 'timeout', attempt: 1 }, TIMEOUT), {
      status: 'acknowledged',
    });
    declined(await sim.send(sale, TIMEOUT), '12');
    declined(await sim.send(sale, TIMEOUT), '12');
    assert.equal(await available(card), 10_000n);
    assert.deepEqual(await sim.reverse({ original: sale, reason: 'timeout', attempt: 2 }, TIMEOUT), {
      status: 'acknowledged',
    });
    assert.deepEqual(
      (await sim.listReversals(pan(card))).map((r) => r.effect),
      ['remembered', 'already_reversed'],
    );
  });

  it('a reversal and its original at the same time: whatever the order, no money moves', async () => {
    const card = await newCard({ balanceMinor: 10_000n });
    for (let i = 0; i < 10; i++) {
      const sale = request(card, 'sale', { amountMinor: 1_000n });
      const reversal = { original: sale, reason: 'timeout' as const, attempt: 1 };
      // Both in the queue together: the batch decides them in arrival order, either way round.
      const ack =
        i % 2 === 0
          ? (await Promise.all([sim.send(sale, TIMEOUT), sim.reverse(reversal, TIMEOUT)]))[1]
          : (await Promise.all([sim.reverse(reversal, TIMEOUT), sim.send(sale, TIMEOUT)]))[0];
      assert.deepEqual(ack, { status: 'acknowledged' });
    }
    assert.equal(await available(card), 10_000n);
  });

  it('reverses voids, refunds, pre-auths, completions and their voids back to where they were', async () => {
    const card = await newCard({ balanceMinor: 100_000n });
    const reverse = (original: NetworkRequest) =>
      sim.reverse({ original, reason: 'host_failure', attempt: 1 }, TIMEOUT);

    const sale = request(card, 'sale', { amountMinor: 10_000n });
    approved(await sim.send(sale, TIMEOUT));
    const voidOfSale = request(card, 'void', { original: originalOf(sale), amountMinor: 10_000n });
    approved(await sim.send(voidOfSale, TIMEOUT));
    assert.equal(await available(card), 100_000n);
    await reverse(voidOfSale);
    assert.equal(await available(card), 90_000n, 'the void undone: the sale stands again');
    const refund = request(card, 'refund', { original: originalOf(sale), amountMinor: 4_000n });
    approved(await sim.send(refund, TIMEOUT));
    assert.equal(await available(card), 94_000n);
    await reverse(refund);
    assert.equal(await available(card), 90_000n);
    await reverse(sale);
    assert.equal(await available(card), 100_000n);

    const preauth = request(card, 'preauth', { amountMinor: 20_000n });
    approved(await sim.send(preauth, TIMEOUT));
    const preauthVoid = request(card, 'preauth_void', {
      original: originalOf(preauth),
      amountMinor: 20_000n,
    });
    approved(await sim.send(preauthVoid, TIMEOUT));
    assert.equal(await available(card), 100_000n);
    await reverse(preauthVoid);
    assert.equal((await sim.getCard(pan(card)))?.heldMinor, 20_000n, 'the hold is back');
    const completion = request(card, 'completion', { original: originalOf(preauth), amountMinor: 15_000n });
    approved(await sim.send(completion, TIMEOUT));
    let view = await sim.getCard(pan(card));
    assert.equal(view?.heldMinor, 0n);
    assert.equal(view?.balanceMinor, 85_000n);
    const completionVoid = request(card, 'completion_void', {
      original: originalOf(completion),
      amountMinor: 15_000n,
    });
    approved(await sim.send(completionVoid, TIMEOUT));
    assert.equal((await sim.getCard(pan(card)))?.balanceMinor, 100_000n);
    await reverse(completionVoid);
    assert.equal((await sim.getCard(pan(card)))?.balanceMinor, 85_000n);
    await reverse(completion);
    view = await sim.getCard(pan(card));
    assert.equal(view?.balanceMinor, 100_000n);
    assert.equal(view?.heldMinor, 20_000n, 'the completion undone: the pre-auth holds again');
    await reverse(preauth);
    view = await sim.getCard(pan(card));
    assert.equal(view?.heldMinor, 0n);
    assert.equal(view?.availableMinor, 100_000n);
  });

  it('a reversal of a declined message, or of an unknown card, is acknowledged and moves nothing', async () => {
    const card = await newCard({ balanceMinor: 100n });
    const sale = request(card, 'sale', { amountMinor: 1_000n });
    declined(await sim.send(sale, TIMEOUT), '51');
    assert.deepEqual(await sim.reverse({ original: sale, reason: 'timeout', attempt: 1 }, TIMEOUT), {
      status: 'acknowledged',
    });
    assert.equal((await sim.listReversals(pan(card)))[0]?.effect, 'nothing_to_reverse');
    assert.deepEqual(
      await sim.reverse({ original: request(freshPan(), 'sale'), reason: 'terminal', attempt: 1 }, TIMEOUT),
      { status: 'acknowledged' },
    );
  });
});

describe('faults', () => {
  after(() => sim.faults.clear());

  it('a dropped request times out and nothing happens at the issuer', async () => {
    const card = await newCard({ balanceMinor: 1_000n });
    sim.faults.set({ dropRate: 1 });
    const outcome = await sim.send(request(card, 'sale', { amountMinor: 100n }), { timeoutMs: 60 });
    sim.faults.clear();
    assert.equal(outcome.status === 'unknown' && outcome.cause, 'timeout');
    await sim.idle();
    assert.equal(await available(card), 1_000n);
  });

  it('a dropped reply times out, but the issuer approved: money moved (the caller must reverse)', async () => {
    const card = await newCard({ balanceMinor: 1_000n });
    sim.faults.set({ dropReplyRate: 1 });
    const sale = request(card, 'sale', { amountMinor: 100n });
    const outcome = await sim.send(sale, { timeoutMs: 200 });
    sim.faults.clear();
    assert.equal(outcome.status === 'unknown' && outcome.cause, 'timeout');
    await sim.idle();
    assert.equal(await available(card), 900n);
    await sim.reverse({ original: sale, reason: 'timeout', attempt: 1 }, TIMEOUT);
    assert.equal(await available(card), 1_000n);
  });

  it('a reply delayed past the timeout is a timeout; one delayed less arrives late but arrives', async () => {
    const card = await newCard();
    sim.faults.set({ delayMs: 300 });
    const late = await sim.send(request(card, 'sale'), { timeoutMs: 100 });
    assert.equal(late.status === 'unknown' && late.cause, 'timeout');
    sim.faults.set({ delayMs: 80 });
    const started = Date.now();
    approved(await sim.send(request(card, 'sale'), { timeoutMs: 1_000 }));
    assert.ok(Date.now() - started >= 75);
    sim.faults.clear();
  });

  it('garbled replies are malformed_reply; faults can target one message', async () => {
    const card = await newCard();
    const target = request(card, 'sale');
    sim.faults.set({ malformRate: 1, match: (m) => m.stan === target.stan });
    approved(await sim.send(request(card, 'sale'), TIMEOUT));
    const outcome = await sim.send(target, TIMEOUT);
    assert.equal(outcome.status === 'unknown' && outcome.cause, 'malformed_reply');
    sim.faults.clear();
  });

  it('the same seed gives the same faults, message after message', async () => {
    const run = () => {
      sim.faults.set({ seed: 7, dropRate: 0.3, dropReplyRate: 0.2, delayMs: 5, delayRate: 0.5 });
      const target = {
        kind: 'request' as const,
        operation: 'sale' as const,
        stan: '000001',
        rrn: 'x',
        terminalId: 't',
      };
      return Array.from({ length: 50 }, () => sim.faults.decide(target));
    };
    const first = run();
    assert.deepEqual(run(), first);
    assert.ok(first.some((d) => d.dropRequest) && first.some((d) => !d.dropRequest));
    sim.faults.clear();
  });

  it('a reversal can be dropped too: unknown, and the repeat goes through', async () => {
    const card = await newCard({ balanceMinor: 1_000n });
    const sale = request(card, 'sale', { amountMinor: 100n });
    approved(await sim.send(sale, TIMEOUT));
    sim.faults.set({ dropRate: 1, match: (m) => m.kind === 'reversal' });
    const lost = await sim.reverse({ original: sale, reason: 'timeout', attempt: 1 }, { timeoutMs: 50 });
    assert.equal(lost.status, 'unknown');
    sim.faults.clear();
    assert.equal(await available(card), 900n);
    assert.deepEqual(await sim.reverse({ original: sale, reason: 'timeout', attempt: 2 }, TIMEOUT), {
      status: 'acknowledged',
    });
    assert.equal(await available(card), 1_000n);
  });
});
