// Regenerates the field tables of docs/protocol/terminal-profile.md from the spec objects.
//   node scripts/gen-terminal-profile.ts          rewrite the tables
//   node scripts/gen-terminal-profile.ts --check  exit 1 when the page is out of date
// (src/protocols/iso8583/profile-doc.test.ts runs the check in the test suite.)

import { readFileSync, writeFileSync } from 'node:fs';
import { iso87Ascii, replaceFieldTables, tillpointPosV1 } from '../src/protocols/iso8583/index.ts';

const PAGE = new URL('../docs/protocol/terminal-profile.md', import.meta.url);
const before = readFileSync(PAGE, 'utf8');
const after = replaceFieldTables(before, [tillpointPosV1, iso87Ascii]);
if (process.argv.includes('--check')) {
  if (after !== before) {
    console.error(
      'docs/protocol/terminal-profile.md is out of date: run node scripts/gen-terminal-profile.ts',
    );
    process.exit(1);
  }
} else if (after !== before) {
  writeFileSync(PAGE, after);
  console.log('docs/protocol/terminal-profile.md: field tables regenerated');
} else {
  console.log('docs/protocol/terminal-profile.md: up to date');
}
