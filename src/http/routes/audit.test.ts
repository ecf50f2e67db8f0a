import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../testing.ts';

let t: TestApp;

before(async () => {
  t = await createTestApp();
  // Each account opened is one audit line.
  for (let i = 1; i <= 7; i++)
    await t.ledger.openAccount({ code: `acct:${i}`, name: `Account ${i}`, type: 'asset' });
  await t.ledger.closeAccount('acct:3');
});

after(async () => {
  await t.close();
});

type Line = { seq: number; event: string; object: { type: string; id: string } | null; actor: unknown };

describe('GET /v1/audit/lines', () => {
  it('walks every line, most recent first, without gaps or repeats', async () => {
    const seen: number[] = [];
    let cursor: number | undefined;
    for (;;) {
      const response = await t.app.inject({
        method: 'GET',
        url: `/v1/audit/lines?limit=3${cursor === undefined ? '' : `&starting_after=${cursor}`}`,
      });
      assert.equal(response.statusCode, 200);
      const page = response.json() as { data: Line[]; has_more: boolean };
      seen.push(...page.data.map((line) => line.seq));
      if (!page.has_more) break;
      cursor = page.data.at(-1)?.seq;
    }
    assert.deepEqual(seen, [8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it('describes each line', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/v1/audit/lines?limit=1' });
    const line = (response.json() as { data: Array<Record<string, unknown>> }).data[0]!;
    assert.equal(line['event'], 'ledger.account.closed');
    assert.deepEqual(line['object'], { type: 'ledger_account', id: 'acct:3' });
    assert.deepEqual(line['actor'], { type: 'system', id: 'tillpoint' });
    assert.equal(line['outcome'], 'success');
    assert.match(String(line['hash']), /^[0-9a-f]{64}$/);
    assert.match(String(line['occurred_at']), /^2026-11-26T02:00:00\.000Z$/);
  });

  it('filters by object', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/v1/audit/lines?object_type=ledger_account&object_id=acct:3',
    });
    const page = response.json() as { data: Line[] };
    assert.deepEqual(
      page.data.map((line) => line.event),
      ['ledger.account.closed', 'ledger.account.opened'],
    );
  });

  for (const [query, param] of [
    ['starting_after=x', 'query.starting_after'],
    ['starting_after=1.5', 'query.starting_after'],
    ['limit=-1', 'query.limit'],
  ] as const) {
    it(`?${query} is 400 naming ${param}`, async () => {
      const response = await t.app.inject({ method: 'GET', url: `/v1/audit/lines?${query}` });
      assert.equal(response.statusCode, 400);
      const error = (response.json() as { error: { code: string; param: string } }).error;
      assert.equal(error.code, 'TILLPOINT_ERR_VALIDATION');
      assert.equal(error.param, param);
    });
  }
});
