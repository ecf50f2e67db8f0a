// The field table of docs/protocol/terminal-profile.md, rendered from a spec object, so the doc is
// generated from the spec (scripts/gen-terminal-profile.ts) and a test checks that it never drifts.

import { type FieldSpec, formatNotation, type MessageSpec } from './spec.ts';

function encoding(field: FieldSpec): string {
  if (field.encoding === 'binary') return field.lengthType === 'fixed' ? `${field.length} bytes` : 'binary';
  if (field.encoding === 'ascii') return 'ASCII';
  const parts = ['BCD'];
  if (field.length % 2 === 1 || field.lengthType !== 'fixed') {
    parts.push(field.align === 'left' ? 'left-aligned' : 'right-aligned');
  }
  if (field.format === 'z') parts.push('`=` as nibble D');
  return parts.join(', ');
}

function prefix(field: FieldSpec): string {
  if (field.lengthType === 'fixed') return '–';
  const unit = field.format === 'n' || field.format === 'z' ? 'digits' : 'bytes';
  return `${field.prefix === 'bcd' ? 'BCD' : field.prefix === 'ascii' ? 'ASCII' : 'binary'}, ${unit}`;
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
