// PostgreSQL array literals for the unnest() batch writes, built here rather than by node-postgres,
// whose quoting runs two regular-expression replaces per element. A value that needs no quoting is
// written bare; any other is double-quoted with backslash and quote escaped. NULL is NULL.

type Element = string | number | bigint | boolean | Date | null | undefined;

function needsQuotes(text: string): boolean {
  if (text === '' || text.length > 64) return true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // letters, digits and - _ . : + are safe bare; anything else (space, comma, braces, quotes,
    // backslash, non-ASCII) is quoted
    const safe =
      (c >= 48 && c <= 58) ||
      (c >= 65 && c <= 90) ||
      (c >= 97 && c <= 122) ||
      c === 45 ||
      c === 95 ||
      c === 46 ||
      c === 43;
    if (!safe) return true;
  }
  return text.length === 4 && text.toUpperCase() === 'NULL';
}

/** One element of an array literal: bare, double-quoted (backslash and quote escaped) or NULL. */
export function arrayElement(value: Element): string {
  if (value === null || value === undefined) return 'NULL';
  const text = value instanceof Date ? value.toISOString() : String(value);
  if (!needsQuotes(text)) return text;
  if (text.includes('"') || text.includes('\\')) return `"${text.replace(/[\\"]/g, '\\$&')}"`;
  return `"${text}"`;
}

/** `{a,b,NULL,"c d"}`: an array literal of the values' text forms (dates as ISO 8601). */
export function arrayLiteral(values: readonly Element[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    out += arrayElement(values[i]);
  }
  return `${out}}`;
}
