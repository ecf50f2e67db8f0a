import { TillpointError } from './errors.ts';

// Money is a bigint number of minor units (fen for CNY) with an ISO 4217 currency. No float ever
// touches an amount: parsing and formatting work on the decimal digits as text.

export interface Currency {
  /** ISO 4217 alphabetic code, e.g. `CNY`. */
  readonly code: string;
  /** ISO 4217 numeric code, e.g. `156` (ISO 8583 field 49). */
  readonly numeric: string;
  /** Digits after the decimal point (the minor unit exponent). */
  readonly exponent: number;
  /** Symbol for zh-CN display. */
  readonly symbol: string;
  /** Prefix for English display. */
  readonly enSymbol: string;
  /** Prefix on printed slips, whose fonts may lack the symbol. */
  readonly printerPrefix: string;
}

export const CNY: Currency = {
  code: 'CNY',
  numeric: '156',
  exponent: 2,
  symbol: '¥',
  enSymbol: 'CN¥',
  printerPrefix: 'RMB',
};
export const HKD: Currency = {
  code: 'HKD',
  numeric: '344',
  exponent: 2,
  symbol: 'HK$',
  enSymbol: 'HK$',
  printerPrefix: 'HKD',
};
export const USD: Currency = {
  code: 'USD',
  numeric: '840',
  exponent: 2,
  symbol: 'US$',
  enSymbol: '$',
  printerPrefix: 'USD',
};
export const JPY: Currency = {
  code: 'JPY',
  numeric: '392',
  exponent: 0,
  symbol: '¥',
  enSymbol: '¥',
  printerPrefix: 'JPY',
};

const currencies: ReadonlyMap<string, Currency> = new Map(
  [CNY, HKD, USD, JPY].flatMap((c) => [
    [c.code, c],
    [c.numeric, c],
  ]),
);

export const DEFAULT_CURRENCY = CNY;

/** The largest amount Tillpoint accepts, in minor units: 10^15 (ten trillion yuan). */
export const MAX_AMOUNT_MINOR = 10n ** 15n;

export function currencyOf(codeOrNumeric: string): Currency {
  const currency = currencies.get(codeOrNumeric.toUpperCase());
  if (currency === undefined) {
    throw new TillpointError(
      'TILLPOINT_ERR_CURRENCY_UNKNOWN',
      `Unknown or unsupported currency "${codeOrNumeric}"`,
    );
  }
  return currency;
}

export function isKnownCurrency(code: string): boolean {
  return currencies.has(code);
}

/**
 * Parses a decimal amount ("12.34") into minor units (1234n). Strict: digits, at most one point,
 * no more decimals than the currency has, no sign, no exponent, no spaces, no leading zeros, and not
 * above MAX_AMOUNT_MINOR.
 */
export function parseAmount(text: string, currency: Currency = DEFAULT_CURRENCY, param = 'amount'): bigint {
  const fail = (why: string): never => {
    throw new TillpointError(
      'TILLPOINT_ERR_AMOUNT_INVALID',
      `Amount ${JSON.stringify(text)} is not valid: ${why}`,
      {
        param,
      },
    );
  };
  if (text === '') fail('it is empty');
  if (text.trim() !== text) fail('it has spaces around it');
  if (text.startsWith('-')) fail('it is negative');
  if (text.startsWith('+')) fail('it has a sign');
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (match === null) fail(`write it as digits with an optional decimal point, e.g. "12.34"`);
  const whole = match![1]!;
  const fraction = match![2] ?? '';
  if (whole.length > 1 && whole.startsWith('0')) fail('it has a leading zero');
  if (fraction.length > currency.exponent) {
    fail(
      currency.exponent === 0
        ? `${currency.code} has no decimals`
        : `${currency.code} has at most ${currency.exponent} decimals`,
    );
  }
  if (whole.length > 16) fail(`it exceeds the maximum of ${formatPlain(MAX_AMOUNT_MINOR, currency)}`);
  const minor = BigInt(whole + fraction.padEnd(currency.exponent, '0'));
  if (minor > MAX_AMOUNT_MINOR) fail(`it exceeds the maximum of ${formatPlain(MAX_AMOUNT_MINOR, currency)}`);
  return minor;
}

/** Checks an amount of minor units arriving from outside (API, file): a safe, non-negative, bounded integer. */
export function checkAmountMinor(value: bigint, param = 'amount', { allowZero = false } = {}): bigint {
  if (value < 0n) {
    throw new TillpointError('TILLPOINT_ERR_AMOUNT_INVALID', `${param} must not be negative`, { param });
  }
  if (value === 0n && !allowZero) {
    throw new TillpointError('TILLPOINT_ERR_AMOUNT_INVALID', `${param} must be greater than zero`, { param });
  }
  if (value > MAX_AMOUNT_MINOR) {
    throw new TillpointError(
      'TILLPOINT_ERR_AMOUNT_INVALID',
      `${param} exceeds the maximum of ${MAX_AMOUNT_MINOR}`,
      {
        param,
      },
    );
  }
  return value;
}

function splitDigits(
  minor: bigint,
  exponent: number,
): { negative: boolean; whole: string; fraction: string } {
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(exponent + 1, '0');
  return {
    negative,
    whole: digits.slice(0, digits.length - exponent),
    fraction: digits.slice(digits.length - exponent),
  };
}

function groupThousands(whole: string): string {
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** "1234.56": the plain decimal form, as written in files and on the wire. */
export function formatPlain(minor: bigint, currency: Currency = DEFAULT_CURRENCY): string {
  const { negative, whole, fraction } = splitDigits(minor, currency.exponent);
  return `${negative ? '-' : ''}${whole}${fraction === '' ? '' : `.${fraction}`}`;
}

export type MoneyLocale = 'zh-CN' | 'en';
export type MoneyStyle = 'display' | 'printer';

/**
 * Formats an amount for people. zh-CN: "¥1,234.56"; en: "CN¥1,234.56"; printer style (slips):
 * "RMB 1234.56", without grouping, as slip printers traditionally show it.
 */
export function formatAmount(
  minor: bigint,
  currency: Currency = DEFAULT_CURRENCY,
  locale: MoneyLocale = 'zh-CN',
  style: MoneyStyle = 'display',
): string {
  const { negative, whole, fraction } = splitDigits(minor, currency.exponent);
  const sign = negative ? '-' : '';
  const decimals = fraction === '' ? '' : `.${fraction}`;
  if (style === 'printer') return `${currency.printerPrefix} ${sign}${whole}${decimals}`;
  const symbol = locale === 'zh-CN' ? currency.symbol : currency.enSymbol;
  return `${sign}${symbol}${groupThousands(whole)}${decimals}`;
}
