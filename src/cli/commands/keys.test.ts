import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../../db/testing.ts';

// `tillpoint keys …` as a key custodian runs it: child processes on a throwaway data directory (its
// master.key) and a fresh test database, components fed on stdin.

const CLI = path.resolve('src/cli/main.ts');
const TMK = '0123456789ABCDEFFEDCBA9876543210';
// Two components whose XOR is the demo TMK.
const C1 = '11111111111111112222222222222222';
const C2 = Buffer.from(Buffer.from(TMK, 'hex').map((byte, i) => byte ^ Buffer.from(C1, 'hex')[i]!))
  .toString('hex')
  .toUpperCase();

let t: TestDatabase;
let dataDir: string;

function cli(args: string[], input?: string, extraEnv: Record<string, string> = {}) {
  const { TILLPOINT_MASTER_KEY: _m, ...rest } = process.env;
  return spawnSync(process.execPath, [CLI, ...args], {
    env: { ...rest, TILLPOINT_DATA_DIR: dataDir, DATABASE_URL: t.url, LOG_LEVEL: 'warn', ...extraEnv },
    encoding: 'utf8',
    input: input ?? '',
    timeout: 60_000,
  });
}

function ok(result: ReturnType<typeof cli>): string {
  assert.equal(result.status, 0, `exit ${result.status}: ${result.stderr}`);
  return result.stdout;
}

/** One line on stderr, exit 1. */
function fails(result: ReturnType<typeof cli>, pattern: RegExp): void {
  assert.equal(result.status, 1, result.stdout + result.stderr);
  const lines = result.stderr
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('tillpoint:'));
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, pattern);
}

function keyCount(): number {
  return (JSON.parse(ok(cli(['keys', 'list', '--json']))) as unknown[]).length;
}

before(async () => {
  t = await createTestDatabase();
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'tillpoint-keys-cli-'));
  chmodSync(dataDir, 0o700);
});

after(async () => {
  rmSync(dataDir, { recursive: true, force: true });
  await t.drop();
});

describe('tillpoint keys', () => {
  let kekId: string;
  let tmkId: string;

  it('generate prints the id, usage, algorithm and check value', () => {
    const out = ok(
      cli([
        'keys',
        'generate',
        '--usage',
        'kek',
        '--algorithm',
        '3des-3key',
        '--owner',
        'institution:48021000',
        '--label',
        'transport KEK',
      ]),
    );
    assert.match(out, /^id {11}[0-9a-f-]{36}$/m);
    assert.match(out, /^usage {8}kek$/m);
    assert.match(out, /^algorithm {4}3des-3key$/m);
    assert.match(out, /^check value {2}[0-9A-F]{8}$/m);
    kekId = /^id {11}(\S+)$/m.exec(out)![1]!;
  });

  it('import --components 2 reads one component per line from a pipe, shows each check value, then the key', () => {
    const result = cli(
      [
        'keys',
        'import',
        '--usage',
        'tmk',
        '--algorithm',
        '3des-2key',
        '--owner',
        'terminal:70000001',
        '--components',
        '2',
      ],
      `${C1}\n${C2.match(/.{4}/g)!.join(' ')}\n`,
    );
    const out = ok(result);
    assert.match(out, /^component 1 check value: [0-9A-F]{8}$/m);
    assert.match(out, /^component 2 check value: [0-9A-F]{8}$/m);
    assert.match(out, /^check value {2}08D7B4FB$/m);
    assert.equal(out.includes(C1) || result.stderr.includes(C1), false, 'components are not echoed');
    tmkId = /^id {11}(\S+)$/m.exec(out)![1]!;
  });

  it('a bad component stores nothing: wrong length, bad hex, a stated check value that does not match', () => {
    const before = keyCount();
    const base = [
      'keys',
      'import',
      '--usage',
      'tmk',
      '--algorithm',
      '3des-2key',
      '--owner',
      'terminal:70000009',
      '--components',
      '2',
    ];
    fails(
      cli(base, `${C1}\n0123456789ABCDEF\n`),
      /^tillpoint: component 2: a component of a 3des-2key key is 16 bytes .*\[component 2\]$/,
    );
    fails(cli(base, `${C1}\nXYZ\n`), /^tillpoint: component 2 must be hex digits/);
    fails(cli(base, `${C1}\n`), /stdin ended before every component was entered/);
    const stated = cli([...base, '--check-values', '000000,111111'], `${C1}\n${C2}\n`);
    fails(stated, /^tillpoint: component 1 has check value [0-9A-F]{8}, not the stated 000000/);
    assert.match(stated.stdout, /^component 1 check value: /m);
    assert.doesNotMatch(stated.stdout, /component 2/, 'stops at the first wrong component');
    assert.equal(keyCount(), before);
  });

  it('answers bad input with one line and exit 1', () => {
    fails(
      cli(['keys', 'generate', '--usage', 'nope', '--algorithm', 'sm4', '--owner', 'terminal:1']),
      /--usage must be one of tmk, pin/,
    );
    fails(
      cli(['keys', 'generate', '--usage', 'pin', '--algorithm', 'des', '--owner', 'terminal:1']),
      /--algorithm must be one of/,
    );
    fails(
      cli(['keys', 'generate', '--usage', 'pin', '--algorithm', 'sm4', '--owner', 'merchant:1']),
      /--owner must be type:id/,
    );
    fails(
      cli(['keys', 'export', '0197d3f0-0000-7000-8000-000000000000', '--under', kekId]),
      /No key with id 0197d3f0-0000-7000-8000-000000000000/,
    );
    fails(
      cli(['keys', 'export', kekId, '--under', tmkId]),
      /A tmk wraps pin, mac, track keys only; asked to wrap a kek key/,
    ); // a TMK as KEK
  });

  it('list --json shows ids, usages, versions, statuses and check values, never material', () => {
    const list = JSON.parse(ok(cli(['keys', 'list', '--json']))) as Array<Record<string, unknown>>;
    const tmk = list.find((key) => key['id'] === tmkId)!;
    assert.deepEqual(
      [tmk['owner'], tmk['usage'], tmk['algorithm'], tmk['version'], tmk['status'], tmk['checkValue']],
      ['terminal:70000001', 'tmk', '3des-2key', 1, 'active', '08D7B4FB'],
    );
    const text = JSON.stringify(list);
    assert.equal(text.includes(TMK) || text.toLowerCase().includes(TMK.toLowerCase()), false);
    assert.equal(/material|sealed/i.test(text), false);
    const table = ok(cli(['keys', 'list', '--owner', 'terminal:70000001']));
    assert.match(table, /08D7B4FB/);
    assert.doesNotMatch(table, /48021000/);
  });

  it('export --under prints the key under the KEK and its check value', () => {
    const out = ok(cli(['keys', 'export', tmkId, '--under', kekId]));
    assert.match(out, /^encrypted {4}[0-9A-F]{32}$/m);
    assert.match(out, /^check value {2}08D7B4FB$/m);
  });

  it('export --components writes one 0600 file per component, which combine to the key; never overwrites', () => {
    const out = path.join(dataDir, 'ceremony');
    const stdout = ok(cli(['keys', 'export', tmkId, '--components', '2', '--out', out]));
    assert.match(stdout, /check value 08D7B4FB/);
    const files = readdirSync(out).sort();
    assert.equal(files.length, 2);
    const components = files.map((file) => {
      const full = path.join(out, file);
      assert.equal(statSync(full).mode & 0o777, 0o600);
      const text = readFileSync(full, 'utf8');
      assert.match(text, /^key check value: {7}08D7B4FB$/m);
      assert.equal(
        stdout.includes(/^component: +(.+)$/m.exec(text)![1]!),
        false,
        'components only in the files',
      );
      return Buffer.from(/^component: +(.+)$/m.exec(text)![1]!.replace(/ /g, ''), 'hex');
    });
    const combined = components[0]!.map((byte, i) => byte ^ components[1]![i]!);
    assert.equal(Buffer.from(combined).toString('hex').toUpperCase(), TMK);
    fails(cli(['keys', 'export', tmkId, '--components', '2', '--out', out]), /exists: refusing to overwrite/);
    // The files re-import as components.
    const again = ok(
      cli(
        [
          'keys',
          'import',
          '--usage',
          'tmk',
          '--algorithm',
          '3des-2key',
          '--owner',
          'terminal:70000002',
          '--components',
          '2',
        ],
        `${components[0]!.toString('hex')}\n${components[1]!.toString('hex')}\n`,
      ),
    );
    assert.match(again, /^check value {2}08D7B4FB$/m);
    // Working keys are never exported.
    ok(
      cli(['keys', 'generate', '--usage', 'pin', '--algorithm', '3des-2key', '--owner', 'terminal:70000001']),
    );
    const keys = JSON.parse(ok(cli(['keys', 'list', '--json', '--owner', 'terminal:70000001']))) as Array<{
      id: string;
      usage: string;
    }>;
    const pinKey = keys.find((key) => key.usage === 'pin')!;
    const nope = path.join(dataDir, 'nope');
    fails(
      cli(['keys', 'export', pinKey.id, '--components', '2', '--out', nope]),
      /pin key; terminal working keys leave the key store only in field 62/,
    );
    assert.equal(existsSync(nope), false);
  });

  it('rotate-master re-seals every key and replaces data/master.key; the keys still open', () => {
    const before = readFileSync(path.join(dataDir, 'master.key'), 'utf8').trim();
    const newKeyFile = path.join(dataDir, 'new-master.key');
    fails(cli(['keys', 'rotate-master', '--new-key-file', newKeyFile]), /ENOENT|no such file/);
    writeFileSync(newKeyFile, 'abc\n', { mode: 0o600 });
    fails(
      cli(['keys', 'rotate-master', '--new-key-file', newKeyFile]),
      /must hold 64 hexadecimal characters/,
    );
    const fresh = Buffer.alloc(32, 7).toString('hex');
    writeFileSync(newKeyFile, `${fresh}\n`, { mode: 0o600 });
    const count = keyCount();
    const out = ok(cli(['keys', 'rotate-master', '--new-key-file', newKeyFile]));
    assert.match(
      out,
      new RegExp(`^re-sealed ${count} key\\(s\\) under master key [0-9a-f]{16} \\(was [0-9a-f]{16}\\)$`, 'm'),
    );
    assert.match(out, /now holds the new master key/);
    const after = readFileSync(path.join(dataDir, 'master.key'), 'utf8').trim();
    assert.notEqual(after, before);
    assert.equal(after, fresh);
    assert.equal(statSync(path.join(dataDir, 'master.key')).mode & 0o777, 0o600);
    // With the new key from the file, the store opens: export needs the key's material.
    assert.match(ok(cli(['keys', 'export', tmkId, '--under', kekId])), /^check value {2}08D7B4FB$/m);
    // With the old key, it does not, and says why.
    fails(
      cli(['keys', 'export', tmkId, '--under', kekId], '', { TILLPOINT_MASTER_KEY: before }),
      /sealed under master key [0-9a-f]{16}, not the current master key/,
    );
  });
});
