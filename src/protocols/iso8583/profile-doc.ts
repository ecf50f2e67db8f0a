// The field table of docs/protocol/terminal-profile.md, rendered from a spec object, so the doc is
// generated from the spec (scripts/gen-terminal-profile.ts) and a test checks that it never drifts.

import { type FieldSpec, formatNotation, type MessageSpec } from './spec.ts';

function unit(field: FieldSpec): string {
  return field.encoding === 'bcd' ? 'digits' : field.encoding === 'ascii' ? 'characters' : 'bytes';
}

function encoding(field: FieldSpec): string {
  if (field.encoding === 'binary') return field.lengthType === 'fixed' ? `${field.length} bytes` : 'binary';
  if (field.encoding === 'ascii') return 'ASCII';
  const parts = ['BCD'];
  if (field.format === 'z') parts.push('`=` as nibble D');
  if (field.length % 2 === 1 || field.lengthType !== 'fixed') {
    parts.push(`${field.align}-aligned`);
    parts.push(
      `pad ${field.padNibble.toString(16).toUpperCase()}${field.padAccepted === 'zero_or_f' ? ' (F accepted)' : ''}`,
    );
  }
  return parts.join(', ');
}

function prefix(field: FieldSpec): string {
  if (field.lengthType === 'fixed') return '–';
  const lll = field.lengthType === 'lllvar';
  const size =
    field.prefix === 'ascii'
      ? `ASCII ${lll ? 3 : 2} digits`
      : `${field.prefix === 'bcd' ? 'BCD' : 'binary'} ${lll ? 2 : 1} byte${lll ? 's' : ''}`;
  return `${size}, counts ${unit(field)}`;
}

function masking(field: FieldSpec): string {
  switch (field.mask) {
    case 'none':
      return '';
    case 'pan':
      return 'first 6 + last 4';
    case 'hidden':
      return 'hidden';
    case 'batch_pans':
      return 'PANs of batch details masked';
  }
}

function subfields(field: FieldSpec): string {
  if (field.subfields === undefined) return '';
  return Object.entries(field.subfields)
    .map(
      ([n, sub]) => `${field.number}.${n} ${sub.name} ${sub.format}${sub.variable ? '..' : ''}${sub.length}`,
    )
    .join('; ');
}

/** A Markdown table, one row per field of the spec, ascending. */
export function renderFieldTable(spec: MessageSpec): string {
  const rows = [
    '| # | name | format | length prefix | encoding | in logs | subfields, notes |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  const fields = Object.values(spec.fields).sort((a, b) => a.number - b.number);
  for (const field of fields) {
    const notes = [subfields(field), field.note ?? ''].filter((text) => text !== '').join('. ');
    rows.push(
      `| ${field.number} | ${field.name} | ${formatNotation(field)} | ${prefix(field)} | ${encoding(field)} | ${masking(field)} | ${notes} |`,
    );
  }
  return `${rows.join('\n')}\n`;
}

const BEGIN = '<!-- BEGIN GENERATED field table of ';
const END = '<!-- END GENERATED field table -->';

/**
 * Rewrites every generated table of a Markdown page from the specs: the lines between
 * `<!-- BEGIN GENERATED field table of <spec name> -->` and `<!-- END GENERATED field table -->`.
 * A page whose tables match its specs comes back unchanged.
 */
export function replaceFieldTables(markdown: string, specs: readonly MessageSpec[]): string {
  const lines = markdown.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    out.push(line);
    if (!line.startsWith(BEGIN)) continue;
    const name = line.slice(BEGIN.length, line.lastIndexOf(' -->'));
    const spec = specs.find((s) => s.name === name);
    if (spec === undefined) throw new Error(`no spec named ${name}`);
    const end = lines.indexOf(END, i);
    if (end < 0) throw new Error(`no end marker after the table of ${name}`);
    out.push(renderFieldTable(spec).trimEnd());
    out.push(END);
    i = end;
  }
  return out.join('\n');
}
