import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TillpointError } from './errors.ts';
import {
  CNY,
  checkAmountMinor,
  formatAmount,
  formatPlain,
  JPY,
  MAX_AMOUNT_MINOR,
  parseAmount,
} from './money.ts';

describe('parseAmount', () => {
  const good: Array<[string, bigint]> = [
    ['12.34', 1234n],
    ['0', 0n],
    ['0.01', 1n],
    ['12', 1200n],
    ['12.3', 1230n],
    ['50000.00', 5_000_000n],
    ['10000000000000', MAX_AMOUNT_MINOR],
  ];
  for (const [text, minor] of good) {
    it(`reads "${text}" as ${minor} fen`, () => assert.equal(parseAmount(text), minor));
  }

  const bad: Array<[string, RegExp]> = [
    ['12.345', /at most 2 decimals/],
    ['-1', /negative/],
    ['+1', /sign/],
    ['1e3', /digits/],
    [' 12', /spaces/],
    ['12 ', /spaces/],
    ['', /empty/],
    ['012', /leading zero/],
    ['1.', /digits/],
    ['.5', /digits/],
    ['1,000', /digits/],
    ['１２', /digits/],
    ['10000000000000.01', /maximum/],
    ['99999999999999999999', /maximum/],
    ['NaN', /digits/],
  ];
  for (const [text, why] of bad) {
    it(`refuses ${JSON.stringify(text)} with a clear message`, () => {
      assert.throws(
        () => parseAmount(text),
        (error: unknown) =>
          error instanceof TillpointError &&
          error.code === 'TILLPOINT_ERR_AMOUNT_INVALID' &&
          why.test(error.message),
      );
    });
  }

  it('knows a currency without decimals', () => {
    assert.equal(parseAmount('500', JPY), 500n);
    assert.throws(() => parseAmount('500.5', JPY), /no decimals/);
  });

  it('round-trips every amount through its plain form', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_AMOUNT_MINOR }), (minor) => {
        assert.equal(parseAmount(formatPlain(minor)), minor);
      }),
    );
  });
});

describe('formatAmount', () => {
  const rows: Array<
    [bigint, Parameters<typeof formatAmount>[2], Parameters<typeof formatAmount>[3], string]
  > = [
    [1234n, 'zh-CN', 'display', '¥12.34'],
    [1234n, 'zh-CN', 'printer', 'RMB 12.34'],
    [1234n, 'en', 'display', 'CN¥12.34'],
    [5_000_000n, 'zh-CN', 'display', '¥50,000.00'],
    [5_000_000n, 'zh-CN', 'printer', 'RMB 50000.00'],
    [1n, 'zh-CN', 'display', '¥0.01'],
    [0n, 'zh-CN', 'display', '¥0.00'],
    [-1234n, 'zh-CN', 'display', '-¥12.34'],
  ];
  for (const [minor, locale, style, text] of rows) {
    it(`writes ${minor} fen as ${text} (${locale}, ${style})`, () => {
      assert.equal(formatAmount(minor, CNY, locale, style), text);
    });
  }
});

describe('checkAmountMinor', () => {
  it('accepts 1 to 10^15 and refuses zero, negative and beyond', () => {
    assert.equal(checkAmountMinor(1n), 1n);
    assert.equal(checkAmountMinor(MAX_AMOUNT_MINOR), MAX_AMOUNT_MINOR);
    assert.equal(checkAmountMinor(0n, 'amount', { allowZero: true }), 0n);
    assert.throws(() => checkAmountMinor(0n), /greater than zero/);
    assert.throws(() => checkAmountMinor(-1n), /negative/);
    assert.throws(() => checkAmountMinor(MAX_AMOUNT_MINOR + 1n), /maximum/);
  });
});
