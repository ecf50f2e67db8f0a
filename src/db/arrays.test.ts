import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import fc from 'fast-check';
import { arrayLiteral } from './arrays.ts';
import { createTestDatabase, type TestDatabase } from './testing.ts';

let t: TestDatabase;
before(async () => {
  t = await createTestDatabase({ poolSize: 1 });
});
after(async () => {
  await t.drop();
});

it('writes literals PostgreSQL reads back to the same values', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.option(fc.string({ unit: 'grapheme', maxLength: 80 }), { nil: null }), { maxLength: 20 }),
      async (values) => {
        const clean = values.map((v) => (v === null ? null : v.replaceAll('\u0000', '')));
        const result = await t.db.query<{ v: Array<string | null> }>('SELECT $1::text[] AS v', [
          arrayLiteral(clean),
        ]);
        assert.deepEqual(result.rows[0]!.v, clean);
      },
    ),
    { numRuns: 200 },
  );
});

it('writes numbers, bigints, booleans, dates and the word NULL as themselves', async () => {
  const at = new Date('2026-11-26T01:02:03.456Z');
  const result = await t.db.query<{ n: string[]; b: boolean[]; d: Date[]; s: string[] }>(
    'SELECT $1::int8[] AS n, $2::bool[] AS b, $3::timestamptz[] AS d, $4::text[] AS s',
    [
      arrayLiteral([1n, 10n ** 15n, 0]),
      arrayLiteral([true, false]),
      arrayLiteral([at]),
      arrayLiteral(['NULL', 'null', '']),
    ],
  );
  assert.deepEqual(result.rows[0]!.n.map(BigInt), [1n, 10n ** 15n, 0n]);
  assert.deepEqual(result.rows[0]!.b, [true, false]);
  assert.equal(result.rows[0]!.d[0]!.getTime(), at.getTime());
  assert.deepEqual(result.rows[0]!.s, ['NULL', 'null', '']);
});
