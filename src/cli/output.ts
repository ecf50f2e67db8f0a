// Printing for the CLI: tables for people, --json for machines (bigints as exact JSON integers).

export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, item) =>
      typeof item === 'bigint'
        ? (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON(item.toString())
        : item,
    2,
  );
}

export function printJson(value: unknown): void {
  console.log(toJson(value));
}

/** A plain text table with right-aligned columns where `align` says so. */
export function printTable(headers: string[], rows: string[][], align: Array<'left' | 'right'> = []): void {
  const widths = headers.map((header, i) =>
    Math.max(width(header), ...rows.map((row) => width(row[i] ?? ''))),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) =>
        align[i] === 'right' ? pad(cell, widths[i]!, 'left') : pad(cell, widths[i]!, 'right'),
      )
      .join('  ')
      .trimEnd();
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

/** Display width: CJK characters take two columns. */
function width(text: string): number {
  let columns = 0;
  for (const char of text)
    columns +=
      /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/.test(
        char,
      )
        ? 2
        : 1;
  return columns;
}

function pad(text: string, to: number, side: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, to - width(text)));
  return side === 'left' ? fill + text : text + fill;
}
