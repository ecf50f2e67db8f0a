import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { serializerCompiler, stringifyJson } from './json.ts';

describe('bigint JSON', () => {
  it('writes bigints above 2^53 as exact JSON integers', () => {
    const text = stringifyJson({
      amount_minor: 9007199254740993n,
      max: 2n ** 63n - 1n,
      min: -(2n ** 63n),
      nested: [{ v: 0n }, 1n],
      plain: 12,
    });
    assert.equal(
      text,
      '{"amount_minor":9007199254740993,"max":9223372036854775807,"min":-9223372036854775808,"nested":[{"v":0},1],"plain":12}',
    );
    // Parsed with the source text, the digits survive.
    const parsed = JSON.parse(text, (_key, value, context?: { source?: string }) =>
      typeof value === 'number' && !Number.isSafeInteger(value) && context?.source !== undefined
        ? BigInt(context.source)
        : value,
    ) as { amount_minor: bigint };
    assert.equal(parsed.amount_minor, 9007199254740993n);
  });

  it('is what the response serializer uses', () => {
    const serialize = serializerCompiler({
      schema: z.object({ amount_minor: z.bigint() }),
      method: 'GET',
      url: '/test',
      httpStatus: '200',
    });
    assert.equal(serialize({ amount_minor: 12345678901234567890n }), '{"amount_minor":12345678901234567890}');
  });

  it('the response serializer refuses a value that breaks the schema instead of sending it', () => {
    const serialize = serializerCompiler({
      schema: z.object({ amount_minor: z.bigint() }),
      method: 'GET',
      url: '/test',
      httpStatus: '200',
    });
    assert.throws(() => serialize({ amount_minor: 1.5 }));
  });
});
