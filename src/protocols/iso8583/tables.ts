// Lookup tables for the hot path: a byte to its two BCD characters, a character to its nibble, a
// byte to its hex pair, character classes. Built once at import.

/** `HEX[b]`: the two upper-case hex characters of byte b. */
export const HEX: readonly string[] = Array.from({ length: 256 }, (_, b) =>
  b.toString(16).toUpperCase().padStart(2, '0'),
);

/** `HEX_VALUE[c]`: the value of hex character code c (either case), or -1. */
export const HEX_VALUE: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < 10; i++) table[48 + i] = i;
  for (let i = 0; i < 6; i++) {
    table[65 + i] = 10 + i;
    table[97 + i] = 10 + i;
  }
  return table;
})();

/** An alphabet of BCD nibbles: which character each nibble stands for, and back. */
export interface NibbleAlphabet {
  /** `pair[b]`: the two characters of byte b when both nibbles are in the alphabet. */
  readonly pair: readonly string[];
  /** `pairOk[b]`: 1 when both nibbles of b are in the alphabet. */
  readonly pairOk: Uint8Array;
  /** `char[n]`: the character of nibble n, or '' when n is not in the alphabet. */
  readonly char: readonly string[];
  /** `code[n]`: the character code of nibble n, or -1. */
  readonly code: Int16Array;
  /** `nibble[c]`: the nibble of character code c (< 128), or -1. */
  readonly nibble: Int8Array;
}

function nibbleAlphabet(chars: Readonly<Record<number, string>>): NibbleAlphabet {
  const char = Array.from({ length: 16 }, (_, n) => chars[n] ?? '');
  const nibble = new Int8Array(128).fill(-1);
  char.forEach((c, n) => {
    if (c !== '') nibble[c.charCodeAt(0)] = n;
  });
  const pair: string[] = [];
  const pairOk = new Uint8Array(256);
  for (let b = 0; b < 256; b++) {
    const high = char[b >> 4] ?? '';
    const low = char[b & 15] ?? '';
    pairOk[b] = high !== '' && low !== '' ? 1 : 0;
    pair.push(high + low);
  }
  const code = Int16Array.from(char, (c) => (c === '' ? -1 : c.charCodeAt(0)));
  return { pair, pairOk, char, code, nibble };
}

const DIGITS: Record<number, string> = Object.fromEntries(
  Array.from({ length: 10 }, (_, n) => [n, String(n)]),
);

/** n fields: nibbles 0–9. */
export const DIGIT_NIBBLES = nibbleAlphabet(DIGITS);
/** z fields (track data): nibbles 0–9 and D, written `=`. */
export const TRACK_NIBBLES = nibbleAlphabet({ ...DIGITS, 13: '=' });

function charClass(test: (code: number) => boolean): Uint8Array {
  const table = new Uint8Array(256);
  for (let c = 0; c < 256; c++) table[c] = test(c) ? 1 : 0;
  return table;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** Character classes by format, for ASCII data: which bytes a value may hold. */
export const CHARSETS = {
  n: charClass(isDigit),
  z: charClass((c) => isDigit(c) || c === 61),
  /** ISO `an`: letters and digits, and the space that pads fixed-length alphanumeric fields. */
  an: charClass((c) => isDigit(c) || isLetter(c) || c === 32),
  /** ISO `ans`: printable ASCII. */
  ans: charClass((c) => c >= 32 && c <= 126),
} as const;

/** `CHAR[b]`: the one-character string of byte b. */
export const CHAR: readonly string[] = Array.from({ length: 256 }, (_, b) => String.fromCharCode(b));
