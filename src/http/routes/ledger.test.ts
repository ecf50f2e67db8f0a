import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EntryInput } from '../../ledger/index.ts';
import { createTestApp, type TestApp } from '../testing.ts';

let t: TestApp;
let keySeq = 0;
const key = () => `http-test-${++keySeq}`;
let saleEntryId = '';

function transfer(from: string, to: string, amountMinor: bigint): EntryInput {
  return {
    idempotencyKey: key(),
    description: `${from} → ${to}`,
    reference: { type: 'payment', id: `pay_${keySeq}` },
    postings: [
      { account: from, side: 'debit', amountMinor },
      { account: to, side: 'credit', amountMinor },
    ],
  };
}

before(async () => {
  t = await createTestApp();
  const { ledger } = t;
  await ledger.openAccount({ code: 'network:receivable', name: 'Card network receivable', type: 'asset' });
  await ledger.openAccount({
    code: 'merchant:m1:pending',
    name: 'Merchant m1 pending',
    type: 'liability',
    owner: { type: 'merchant', id: 'm1' },
  });
  await ledger.openAccount({
    code: 'merchant:m2:pending',
    name: 'Merchant m2 pending',
    type: 'liability',
    owner: { type: 'merchant', id: 'm2' },
  });
  for (let i = 1; i <= 7; i++) {
    await ledger.openAccount({ code: `spare:${i}`, name: `Spare ${i}`, type: 'asset' });
  }
  await ledger.openAccount({ code: 'big:asset', name: 'Big asset', type: 'asset' });
  await ledger.openAccount({ code: 'big:liability', name: 'Big liability', type: 'liability' });

  // Yesterday (business date 2026-11-25): one sale. Today: six more and a hold.
  const yesterday = transfer('network:receivable', 'merchant:m1:pending', 1000n);
  yesterday.businessDate = '2026-11-25';
  saleEntryId = (await ledger.post(yesterday)).entry.id;
  for (let i = 1; i <= 6; i++)
    await ledger.post(transfer('network:receivable', 'merchant:m1:pending', 100n * BigInt(i)));
  await ledger.post({
    ...transfer('merchant:m1:pending', 'network:receivable', 50n),
    pending: {},
  });

  // 9 × 10^15 + 7 199 254 740 993 = 2^53 + 1: a balance that a float cannot hold.
  for (let i = 0; i < 9; i++) await ledger.post(transfer('big:asset', 'big:liability', 10n ** 15n));
  await ledger.post(transfer('big:asset', 'big:liability', 7_199_254_740_993n));
});

after(async () => {
  await t.close();
});

async function get(url: string) {
  return t.app.inject({ method: 'GET', url });
}

function errorOf(response: { json(): unknown }) {
  return (response.json() as { error: { type: string; code: string; message: string; param?: string } })
    .error;
}

describe('GET /v1/ledger/accounts', () => {
  it('walks every account page by page, without gaps or repeats', async () => {
    const all = (await get('/v1/ledger/accounts?limit=100')).json() as { data: Array<{ code: string }> };
    assert.equal(all.data.length, 12);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const url = `/v1/ledger/accounts?limit=5${cursor === undefined ? '' : `&starting_after=${encodeURIComponent(cursor)}`}`;
      const response = await get(url);
      assert.equal(response.statusCode, 200);
      const page = response.json() as { data: Array<{ code: string }>; has_more: boolean };
      pages++;
      seen.push(...page.data.map((account) => account.code));
      if (!page.has_more) break;
      cursor = page.data.at(-1)?.code;
    }
    assert.equal(pages, 3);
    assert.deepEqual(
      seen,
      all.data.map((account) => account.code),
    );
    assert.equal(new Set(seen).size, seen.length);
    assert.deepEqual(seen, [...seen].sort());
  });

  it('defaults to 20 per page', async () => {
    const page = (await get('/v1/ledger/accounts')).json() as { data: unknown[]; has_more: boolean };
    assert.equal(page.data.length, 12);
    assert.equal(page.has_more, false);
  });

  it('filters by owner', async () => {
    const response = await get('/v1/ledger/accounts?owner_type=merchant&owner_id=m1');
    assert.equal(response.statusCode, 200);
    const page = response.json() as { data: Array<Record<string, unknown>> };
    assert.equal(page.data.length, 1);
    const account = page.data[0]!;
    assert.equal(account['code'], 'merchant:m1:pending');
    assert.deepEqual(account['owner'], { type: 'merchant', id: 'm1' });
    assert.equal(account['type'], 'liability');
    assert.equal(account['currency'], 'CNY');
    assert.equal(account['status'], 'open');
    assert.equal(account['no_negative'], false);
    assert.match(String(account['created_at']), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
  });

  const invalid: Array<[string, string]> = [
    ['limit=0', 'query.limit'],
    ['limit=101', 'query.limit'],
    ['limit=abc', 'query.limit'],
    ['limit=1.5', 'query.limit'],
    ['limit=', 'query.limit'],
    ['starting_after=', 'query.starting_after'],
    [`starting_after=${'a'.repeat(201)}`, 'query.starting_after'],
    ['owner_type=merchant', 'query.owner_id'],
    ['owner_id=m1', 'query.owner_type'],
    ['startingAfter=x', 'query.startingAfter'],
  ];
  for (const [query, param] of invalid) {
    it(`?${query.slice(0, 40)} is 400 naming ${param}`, async () => {
      const response = await get(`/v1/ledger/accounts?${query}`);
      assert.equal(response.statusCode, 400);
      const error = errorOf(response);
      assert.equal(error.code, 'TILLPOINT_ERR_VALIDATION');
      assert.equal(error.param, param);
      assert.ok(error.message.startsWith(`${param}: `), error.message);
    });
  }
});

describe('GET /v1/ledger/accounts/:code', () => {
  it('returns the account', async () => {
    const response = await get('/v1/ledger/accounts/network:receivable');
    assert.equal(response.statusCode, 200);
    const account = response.json() as Record<string, unknown>;
    assert.equal(account['code'], 'network:receivable');
    assert.equal(account['owner'], null);
    assert.equal(account['closed_at'], null);
  });

  it('an unknown account is 404 TILLPOINT_ERR_ACCOUNT_NOT_FOUND', async () => {
    for (const url of [
      '/v1/ledger/accounts/no:such',
      '/v1/ledger/accounts/no:such/balance',
      '/v1/ledger/accounts/no:such/history',
    ]) {
      const response = await get(url);
      assert.equal(response.statusCode, 404, url);
      const error = errorOf(response);
      assert.equal(error.code, 'TILLPOINT_ERR_ACCOUNT_NOT_FOUND');
      assert.equal(error.type, 'not_found_error');
    }
  });
});

describe('GET /v1/ledger/accounts/:code/balance', () => {
  it('now: posted, pending and available', async () => {
    const response = await get('/v1/ledger/accounts/merchant:m1:pending/balance');
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), {
      account_code: 'merchant:m1:pending',
      currency: 'CNY',
      as_of: null,
      posted_minor: 3100,
      available_minor: 3050,
      posted: { debits_minor: 0, credits_minor: 3100 },
      pending: { debits_minor: 50, credits_minor: 0 },
    });
  });

  it('as of the end of a business date: posted amounts only', async () => {
    const response = await get('/v1/ledger/accounts/merchant:m1:pending/balance?as_of=2026-11-25');
    assert.equal(response.statusCode, 200);
    const balance = response.json() as Record<string, unknown>;
    assert.equal(balance['as_of'], '2026-11-25');
    assert.equal(balance['posted_minor'], 1000);
    assert.equal(balance['available_minor'], 1000);
  });

  it('writes a balance above 2^53 as the exact integer', async () => {
    const response = await get('/v1/ledger/accounts/big:asset/balance');
    assert.equal(response.statusCode, 200);
    assert.match(response.body, /"posted_minor":9007199254740993,/);
    assert.match(response.body, /"debits_minor":9007199254740993,/);
    // Read as a float it would come back as 2^53: the digits on the wire are what matters.
    assert.doesNotMatch(response.body, /9007199254740992/);
  });

  for (const asOf of ['2026-13-01', '2026-02-30', '26-11-2026', '2026-11-26T00:00:00Z', 'today']) {
    it(`as_of=${asOf} is 400 naming query.as_of`, async () => {
      const response = await get(`/v1/ledger/accounts/merchant:m1:pending/balance?as_of=${asOf}`);
      assert.equal(response.statusCode, 400);
      const error = errorOf(response);
      assert.equal(error.code, 'TILLPOINT_ERR_VALIDATION');
      assert.equal(error.param, 'query.as_of');
    });
  }
});

describe('GET /v1/ledger/accounts/:code/history', () => {
  it('walks the postings newest first, page by page, without gaps or repeats', async () => {
    const all = (await get('/v1/ledger/accounts/merchant:m1:pending/history?limit=100')).json() as {
      data: Array<{ posting_id: string; amount_minor: number }>;
      has_more: boolean;
    };
    assert.equal(all.data.length, 8);
    assert.equal(all.has_more, false);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const response = await get(
        `/v1/ledger/accounts/merchant:m1:pending/history?limit=3${cursor === undefined ? '' : `&starting_after=${cursor}`}`,
      );
      assert.equal(response.statusCode, 200);
      const page = response.json() as { data: Array<{ posting_id: string }>; has_more: boolean };
      seen.push(...page.data.map((line) => line.posting_id));
      if (!page.has_more) break;
      cursor = page.data.at(-1)?.posting_id;
    }
    assert.deepEqual(
      seen,
      all.data.map((line) => line.posting_id),
    );
    assert.equal(new Set(seen).size, 8);
    const ids = seen.map((id) => BigInt(id));
    assert.ok(
      ids.every((id, i) => i === 0 || id < ids[i - 1]!),
      'newest first',
    );
  });

  it('describes each posting', async () => {
    const page = (await get('/v1/ledger/accounts/merchant:m1:pending/history?limit=1')).json() as {
      data: Array<Record<string, unknown>>;
    };
    const line = page.data[0]!;
    assert.match(String(line['posting_id']), /^\d+$/);
    assert.equal(line['kind'], 'pending');
    assert.equal(line['side'], 'debit');
    assert.equal(line['amount_minor'], 50);
    assert.equal(line['pending'], true);
    assert.equal(line['business_date'], '2026-11-26');
    assert.equal((line['reference'] as { type: string }).type, 'payment');
  });

  const invalid: Array<[string, string]> = [
    ['starting_after=abc', 'query.starting_after'],
    ['starting_after=-1', 'query.starting_after'],
    ['starting_after=0', 'query.starting_after'],
    ['starting_after=9223372036854775808', 'query.starting_after'],
    ['limit=1000', 'query.limit'],
  ];
  for (const [query, param] of invalid) {
    it(`?${query} is 400 naming ${param}`, async () => {
      const response = await get(`/v1/ledger/accounts/merchant:m1:pending/history?${query}`);
      assert.equal(response.statusCode, 400);
      assert.equal(errorOf(response).param, param);
    });
  }
});

describe('GET /v1/ledger/entries/:id', () => {
  it('returns the entry with its postings', async () => {
    const response = await get(`/v1/ledger/entries/${saleEntryId}`);
    assert.equal(response.statusCode, 200);
    const entry = response.json() as Record<string, unknown>;
    assert.equal(entry['id'], saleEntryId);
    assert.equal(entry['kind'], 'posted');
    assert.equal(entry['business_date'], '2026-11-25');
    assert.deepEqual(entry['postings'], [
      {
        account_code: 'network:receivable',
        currency: 'CNY',
        side: 'debit',
        amount_minor: 1000,
        pending: false,
      },
      {
        account_code: 'merchant:m1:pending',
        currency: 'CNY',
        side: 'credit',
        amount_minor: 1000,
        pending: false,
      },
    ]);
    assert.equal(entry['pending_entry_id'], null);
    assert.equal(entry['expires_at'], null);
  });

  it('an unknown entry is 404 TILLPOINT_ERR_ENTRY_NOT_FOUND', async () => {
    for (const id of ['01900000-0000-7000-8000-000000000000', 'not-an-id']) {
      const response = await get(`/v1/ledger/entries/${id}`);
      assert.equal(response.statusCode, 404);
      assert.equal(errorOf(response).code, 'TILLPOINT_ERR_ENTRY_NOT_FOUND');
    }
  });
});

describe('GET /v1/ledger/trial-balance', () => {
  it('balances, with exact totals', async () => {
    const response = await get('/v1/ledger/trial-balance');
    assert.equal(response.statusCode, 200);
    const trial = response.json() as {
      as_of: string | null;
      accounts: Array<{ code: string; debit_minor: number; credit_minor: number }>;
      totals: Array<{ currency: string; difference_minor: number }>;
    };
    assert.equal(trial.as_of, null);
    assert.equal(trial.accounts.length, 12);
    assert.deepEqual(
      trial.totals.map((total) => [total.currency, total.difference_minor]),
      [['CNY', 0]],
    );
    // 2^53 + 1 + 3100 on the debit side, written exactly.
    assert.match(response.body, /"debit_minor":9007199254744093,/);
  });

  it('as of a business date', async () => {
    const response = await get('/v1/ledger/trial-balance?as_of=2026-11-25');
    assert.equal(response.statusCode, 200);
    const trial = response.json() as {
      as_of: string;
      accounts: Array<{ code: string; debit_minor: number }>;
    };
    assert.equal(trial.as_of, '2026-11-25');
    assert.equal(trial.accounts.find((a) => a.code === 'network:receivable')?.debit_minor, 1000);
  });

  it('an invalid as_of is 400', async () => {
    const response = await get('/v1/ledger/trial-balance?as_of=yesterday');
    assert.equal(response.statusCode, 400);
    assert.equal(errorOf(response).param, 'query.as_of');
  });
});
