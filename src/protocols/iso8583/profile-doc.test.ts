import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  type FieldSpec,
  formatNotation,
  iso87Ascii,
  replaceFieldTables,
  tillpointPosV1,
  tillpointPosV1Sm4,
} from './index.ts';

describe('docs/protocol/terminal-profile.md', () => {
  it('has the field tables of the specs (node scripts/gen-terminal-profile.ts regenerates them)', () => {
    const page = readFileSync(new URL('../../../docs/protocol/terminal-profile.md', import.meta.url), 'utf8');
    assert.ok(page.includes('<!-- BEGIN GENERATED field table of tillpoint-pos-v1 -->'));
    assert.ok(page.includes('<!-- BEGIN GENERATED field table of iso87-ascii -->'));
    assert.equal(replaceFieldTables(page, [tillpointPosV1, iso87Ascii]), page);
  });
});

describe('tillpointPosV1', () => {
  // The field table of terminal-protocol.md: number, format and length, alignment where it says one.
  const profile: readonly [number, string, string?][] = [
    [2, 'n..19 LLVAR', 'left'],
    [3, 'n6'],
    [4, 'n12'],
    [11, 'n6'],
    [12, 'n6'],
    [13, 'n4'],
    [14, 'n4'],
    [15, 'n4'],
    [22, 'n3', 'left'],
    [23, 'n3', 'right'],
    [25, 'n2'],
    [26, 'n2'],
    [32, 'n..11 LLVAR'],
    [35, 'z..37 LLVAR', 'left'],
    [36, 'z..104 LLLVAR'],
    [37, 'an12'],
    [38, 'an6'],
    [39, 'an2'],
    [41, 'ans8'],
    [42, 'ans15'],
    [44, 'an..25 LLVAR'],
    [48, 'n..322 LLLVAR'],
    [49, 'an3'],
    [52, 'b64'],
    [53, 'n16'],
    [54, 'an..20 LLLVAR'],
    [55, 'b..255 LLLVAR'],
    [60, 'n..17 LLLVAR'],
    [61, 'n..29 LLLVAR'],
    [62, 'b..512 LLLVAR'],
    [63, 'ans..163 LLLVAR'],
    [64, 'b64'],
  ];

  it('is exactly the field table of the terminal protocol', () => {
    const fields = Object.values(tillpointPosV1.fields) as FieldSpec[];
    assert.deepEqual(
      fields.map((f) => f.number),
      profile.map(([n]) => n),
    );
    for (const [number, notation, align] of profile) {
      const field = fields.find((f) => f.number === number)!;
      assert.equal(formatNotation(field), notation, `field ${number}`);
      if (align !== undefined) assert.equal(field.align, align, `field ${number}`);
      const numeric = field.format === 'n' || field.format === 'z';
      assert.equal(
        field.encoding,
        numeric ? 'bcd' : field.format === 'b' ? 'binary' : 'ascii',
        `field ${number}`,
      );
      if (field.lengthType !== 'fixed') assert.equal(field.prefix, 'bcd', `field ${number}`);
      if (numeric) assert.equal(field.padAccepted, 'zero_or_f', `field ${number}`);
    }
  });

  it('hides 35, 36, 52, 55 and 62 and masks 2 in logs', () => {
    const masks = Object.fromEntries(Object.values(tillpointPosV1.fields).map((f) => [f.number, f.mask]));
    assert.equal(masks[2], 'pan');
    for (const n of [35, 36, 52, 55, 62]) assert.equal(masks[n], 'hidden', `field ${n}`);
  });

  it('the SM4 variant differs only in field 52, of 16 bytes', () => {
    const differs = Object.keys(tillpointPosV1Sm4.fields).filter(
      (n) =>
        JSON.stringify(tillpointPosV1Sm4.fields[Number(n) as 52]) !==
        JSON.stringify(tillpointPosV1.fields[Number(n) as 52]),
    );
    assert.deepEqual(differs, ['52']);
    assert.equal(formatNotation(tillpointPosV1Sm4.fields[52]), 'b128');
  });
});

describe('iso87Ascii', () => {
  it('has the fields a card-network authorization and reversal need', () => {
    const needed = [
      2, 3, 4, 7, 11, 12, 13, 14, 18, 22, 23, 25, 32, 35, 37, 38, 39, 41, 42, 43, 49, 52, 53, 55,
    ];
    const more = [60, 61, 62, 63, 70, 90, 95, 128];
    for (const n of [...needed, ...more]) assert.ok(n in iso87Ascii.fields, `field ${n}`);
    assert.equal(iso87Ascii.secondaryBitmap, true);
    assert.equal(iso87Ascii.bitmapEncoding, 'hex');
  });
});
