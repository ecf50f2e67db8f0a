import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import {
  checkOwner,
  componentCheckValue,
  createKeyStore,
  isKeyAlgorithm,
  isKeyUsage,
  KEY_ALGORITHMS,
  KEY_OWNER_TYPES,
  KEY_USAGES,
  type KeyActor,
  type KeyAlgorithm,
  type KeyInfo,
  type KeyOwner,
  type KeyOwnerType,
  type KeyStore,
  type KeyUsage,
  keyFromHex,
  parseCheckValue,
} from '../../keys/index.ts';
import type { Platform } from '../../main.ts';
import { MASTER_KEY_FILE } from '../../master-key.ts';
import { TillpointError } from '../../shared/errors.ts';
import type { Secret } from '../../shared/secret.ts';
import { masterKeyFrom } from '../../shared/secrets.ts';
import { withPlatform } from '../context.ts';
import { printJson, printTable } from '../output.ts';

// `tillpoint keys …`: key ceremonies. Every command goes through the key store, which writes the
// audit lines. Clear material is read from the terminal (hidden when it is one) and written only to
// the component files `keys export --components` makes on purpose; nothing else prints it.

function actor(): KeyActor {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (a container): keep 'unknown'
  }
  return { type: 'user', id: `os:${user}`, source: 'cli' };
}

function keyStoreOf(platform: Platform): KeyStore {
  return createKeyStore({
    db: platform.db,
    audit: platform.audit,
    masterKey: platform.masterKey,
    clock: platform.clock,
  });
}

function parseUsage(value: string | undefined): KeyUsage {
  if (value === undefined || !isKeyUsage(value)) {
    throw new TillpointError(
      'TILLPOINT_ERR_VALIDATION',
      `--usage must be one of ${KEY_USAGES.join(', ')}; got ${JSON.stringify(value ?? '')}`,
      { param: '--usage' },
    );
  }
  return value;
}

function parseAlgorithm(value: string | undefined): KeyAlgorithm {
  if (value === undefined || !isKeyAlgorithm(value)) {
    throw new TillpointError(
      'TILLPOINT_ERR_VALIDATION',
      `--algorithm must be one of ${KEY_ALGORITHMS.join(', ')}; got ${JSON.stringify(value ?? '')}`,
      { param: '--algorithm' },
    );
  }
  return value;
}

function parseOwner(value: string | undefined): KeyOwner {
  const colon = value?.indexOf(':') ?? -1;
  const type = value?.slice(0, colon) ?? '';
  if (value === undefined || colon < 1 || !(KEY_OWNER_TYPES as readonly string[]).includes(type)) {
    throw new TillpointError(
      'TILLPOINT_ERR_VALIDATION',
      `--owner must be type:id with type one of ${KEY_OWNER_TYPES.join(', ')} (e.g. terminal:10000001); got ${JSON.stringify(value ?? '')}`,
      { param: '--owner' },
    );
  }
  const owner: KeyOwner = { type: type as KeyOwnerType, id: value.slice(colon + 1) };
  try {
    checkOwner(owner);
  } catch (error) {
    if (error instanceof TillpointError)
      throw new TillpointError(error.code, error.message, { param: '--owner' });
    throw error;
  }
  return owner;
}

function parseCount(value: string | undefined, flag: string): 2 | 3 {
  if (value !== '2' && value !== '3') {
    throw new TillpointError(
      'TILLPOINT_ERR_VALIDATION',
      `${flag} must be 2 or 3; got ${JSON.stringify(value ?? '')}`,
      {
        param: flag,
      },
    );
  }
  return value === '2' ? 2 : 3;
}

function ownerText(owner: KeyOwner): string {
  return `${owner.type}:${owner.id}`;
}

function printKey(key: KeyInfo): void {
  console.log(`id           ${key.id}`);
  console.log(`label        ${key.label}`);
  console.log(`owner        ${ownerText(key.owner)}`);
  console.log(`usage        ${key.usage}`);
  console.log(`algorithm    ${key.algorithm}`);
  console.log(`version      ${key.version}`);
  console.log(`check value  ${key.checkValue}`);
}

function keyJson(key: KeyInfo) {
  return {
    id: key.id,
    label: key.label,
    owner: ownerText(key.owner),
    usage: key.usage,
    algorithm: key.algorithm,
    version: key.version,
    status: key.status,
    checkValue: key.checkValue,
    masterKeyId: key.masterKeyId,
    createdAt: key.createdAt,
    retiredAt: key.retiredAt,
  };
}

// ---- reading components --------------------------------------------------------------------------

interface ComponentReader {
  read(prompt: string): Promise<string>;
  close(): void;
}

/** One line per component from a pipe; hidden typing (no echo) on a terminal. */
function componentReader(): ComponentReader {
  if (process.stdin.isTTY) {
    return { read: readHidden, close: () => process.stdin.pause() };
  }
  const lines = createInterface({ input: process.stdin, terminal: false })[Symbol.asyncIterator]();
  return {
    async read(prompt) {
      process.stderr.write(prompt);
      const next = await lines.next();
      process.stderr.write('\n');
      if (next.done === true) {
        throw new TillpointError(
          'TILLPOINT_ERR_VALIDATION',
          'stdin ended before every component was entered: nothing was imported',
          {
            param: 'stdin',
          },
        );
      }
      return next.value as string;
    },
    close: () => {
      void lines.return?.();
    },
  };
}

/** What was typed after the Enter that ended the previous component (a paste of several lines). */
let typedAhead = '';

function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    process.stderr.write(prompt);
    let text = '';
    let listening = false;
    const finish = () => {
      if (listening) {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
      }
      process.stderr.write('\n');
    };
    /** True when the component is complete (or the custodian cancelled). */
    const take = (chars: string): boolean => {
      let i = 0;
      for (const char of chars) {
        i += char.length;
        if (char === '\r' || char === '\n') {
          typedAhead = chars.slice(i).replace(/^\n/, '');
          finish();
          resolve(text);
          return true;
        }
        if (char === '\u0003' || char === '\u0004') {
          typedAhead = '';
          finish();
          reject(new TillpointError('TILLPOINT_ERR_VALIDATION', 'cancelled: nothing was imported'));
          return true;
        }
        if (char === '\u007f' || char === '\b') text = text.slice(0, -1);
        else text += char;
      }
      return false;
    };
    const onData = (chunk: Buffer | string) => {
      take(chunk.toString('utf8'));
    };
    const ahead = typedAhead;
    typedAhead = '';
    if (take(ahead)) return;
    listening = true;
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** A component's check value; a wrong length names the component. */
function checkComponent(material: Secret<Buffer>, algorithm: KeyAlgorithm, n: number): string {
  try {
    return componentCheckValue(material, algorithm);
  } catch (error) {
    if (error instanceof TillpointError) {
      throw new TillpointError(error.code, error.message.replace(/^component:/, `component ${n}:`), {
        param: `component ${n}`,
      });
    }
    throw error;
  }
}

// ---- files ---------------------------------------------------------------------------------------

/** Writes `text` to a new file (never over an existing one), mode 0600, flushed to disk. */
function writeNewFile(file: string, text: string): void {
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(file, 0o600);
}

function groups(hex: string): string {
  return hex.match(/.{1,4}/g)?.join(' ') ?? hex;
}

// ---- commands ------------------------------------------------------------------------------------

export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .description('key ceremonies: generate, import, export, list, rotate the master key');

  keys
    .command('generate')
    .description(
      'generate a random key in the key store (an active key of the same owner and usage is retired)',
    )
    .requiredOption('--usage <usage>', KEY_USAGES.join(', '))
    .requiredOption('--algorithm <algorithm>', KEY_ALGORITHMS.join(', '))
    .requiredOption('--owner <type:id>', `owner: ${KEY_OWNER_TYPES.join(', ')}, e.g. terminal:10000001`)
    .option('--label <label>', 'a name for people')
    .option('--json', 'print JSON')
    .action(
      async (options: {
        usage: string;
        algorithm: string;
        owner: string;
        label?: string;
        json?: boolean;
      }) => {
        const spec = {
          usage: parseUsage(options.usage),
          algorithm: parseAlgorithm(options.algorithm),
          owner: parseOwner(options.owner),
          label: options.label,
        };
        await withPlatform('keys generate', async (platform) => {
          const key = await keyStoreOf(platform).generate(spec, actor());
          if (options.json) printJson(keyJson(key));
          else printKey(key);
        });
      },
    );

  keys
    .command('import')
    .description(
      'import a key entered as 2 or 3 components, each typed by its custodian (hidden on a terminal, one line each from a pipe)',
    )
    .requiredOption('--usage <usage>', KEY_USAGES.join(', '))
    .requiredOption('--algorithm <algorithm>', KEY_ALGORITHMS.join(', '))
    .requiredOption('--owner <type:id>', `owner: ${KEY_OWNER_TYPES.join(', ')}, e.g. terminal:10000001`)
    .requiredOption('--components <n>', '2 or 3')
    .option('--check-values <A,B,C>', "each component's check value from its form, checked as it is entered")
    .option('--key-check-value <kcv>', "the combined key's check value, when its form states one")
    .option('--label <label>', 'a name for people')
    .action(
      async (options: {
        usage: string;
        algorithm: string;
        owner: string;
        components: string;
        checkValues?: string;
        keyCheckValue?: string;
        label?: string;
      }) => {
        const usage = parseUsage(options.usage);
        const algorithm = parseAlgorithm(options.algorithm);
        const owner = parseOwner(options.owner);
        const count = parseCount(options.components, '--components');
        const stated = options.checkValues
          ?.split(',')
          .map((text, i) => parseCheckValue(text, `--check-values (component ${i + 1})`));
        if (stated !== undefined && stated.length !== count) {
          throw new TillpointError(
            'TILLPOINT_ERR_VALIDATION',
            `--check-values has ${stated.length} check values for ${count} components`,
            { param: '--check-values' },
          );
        }
        const keyCheckValue =
          options.keyCheckValue === undefined
            ? undefined
            : parseCheckValue(options.keyCheckValue, '--key-check-value');
        await withPlatform('keys import', async (platform) => {
          const store = keyStoreOf(platform);
          const components: Array<{ material: Secret<Buffer>; checkValue?: string }> = [];
          const reader = componentReader();
          try {
            for (let n = 1; n <= count; n++) {
              const text = await reader.read(`component ${n} of ${count} (hex): `);
              const material = keyFromHex(text, `component ${n}`);
              const expected = stated?.[n - 1];
              components.push({ material, checkValue: expected });
              const checkValue = checkComponent(material, algorithm, n);
              console.log(`component ${n} check value: ${checkValue}`);
              if (expected !== undefined && !checkValue.startsWith(expected)) {
                throw new TillpointError(
                  'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH',
                  `component ${n} has check value ${checkValue}, not the stated ${expected}: re-enter that component; nothing was imported`,
                  { param: `component ${n}` },
                );
              }
            }
          } catch (error) {
            for (const component of components) component.material.expose().fill(0);
            throw error;
          } finally {
            reader.close();
          }
          try {
            const imported = await store.importFromComponents(
              { usage, algorithm, owner, label: options.label, components, checkValue: keyCheckValue },
              actor(),
            );
            console.log(
              `imported ${imported.key.usage} ${imported.key.algorithm} key for ${ownerText(owner)}`,
            );
            console.log(`id           ${imported.key.id}`);
            console.log(`version      ${imported.key.version}`);
            console.log(`check value  ${imported.key.checkValue}`);
          } finally {
            for (const component of components) component.material.expose().fill(0);
          }
        });
      },
    );

  keys
    .command('export')
    .description(
      'export a key encrypted under a KEK (--under), or as components written to files (--components, --out)',
    )
    .argument('<key-id>', 'the key to export')
    .option('--under <kek-id>', 'the key-encrypting key (kek, zmk) to encrypt it under')
    .option('--components <n>', '2 or 3 components, one file each')
    .option(
      '--out <dir>',
      'directory for the component files (created 0700 if missing; files are never overwritten)',
    )
    .option('--json', 'print JSON')
    .action(
      async (
        keyId: string,
        options: { under?: string; components?: string; out?: string; json?: boolean },
      ) => {
        if ((options.under === undefined) === (options.components === undefined)) {
          throw new TillpointError(
            'TILLPOINT_ERR_VALIDATION',
            'say either --under <kek-id> or --components 2|3 --out <dir>',
            {
              param: '--under',
            },
          );
        }
        if (options.under !== undefined) {
          const kekId = options.under;
          await withPlatform('keys export', async (platform) => {
            const wrapped = await keyStoreOf(platform).exportUnderKek(keyId, kekId, actor());
            const encrypted = wrapped.encrypted.toString('hex').toUpperCase();
            if (options.json) return printJson({ keyId, kekId, encrypted, checkValue: wrapped.checkValue });
            console.log(`key id       ${keyId}`);
            console.log(`under KEK    ${kekId}`);
            console.log(`encrypted    ${encrypted}`);
            console.log(`check value  ${wrapped.checkValue}`);
          });
          return;
        }
        const count = parseCount(options.components, '--components');
        if (options.out === undefined) {
          throw new TillpointError('TILLPOINT_ERR_VALIDATION', '--components needs --out <dir>', {
            param: '--out',
          });
        }
        const dir = path.resolve(options.out);
        const files = Array.from({ length: count }, (_, i) =>
          path.join(dir, `${keyId}.component-${i + 1}-of-${count}.txt`),
        );
        const existing = files.filter((file) => existsSync(file));
        if (existing.length > 0) {
          throw new TillpointError(
            'TILLPOINT_ERR_VALIDATION',
            `${existing[0]} exists: refusing to overwrite a component file`,
            {
              param: '--out',
            },
          );
        }
        await withPlatform('keys export', async (platform) => {
          const store = keyStoreOf(platform);
          const key = await store.get(keyId);
          const components = await store.exportComponents(keyId, count, actor());
          const written: string[] = [];
          try {
            mkdirSync(dir, { recursive: true, mode: 0o700 });
            components.forEach((component, i) => {
              const file = files[i]!;
              writeNewFile(
                file,
                [
                  `Tillpoint key component ${i + 1} of ${count}`,
                  `key id:                ${key.id}`,
                  `key:                   ${key.usage} ${key.algorithm} of ${ownerText(key.owner)}, version ${key.version}`,
                  `key check value:       ${key.checkValue}`,
                  `component:             ${groups(component.material.expose().toString('hex').toUpperCase())}`,
                  `component check value: ${component.checkValue}`,
                  '',
                ].join('\n'),
              );
              written.push(file);
            });
          } catch (error) {
            for (const file of written) rmSync(file, { force: true });
            throw error;
          } finally {
            for (const component of components) component.material.expose().fill(0);
          }
          if (options.json) {
            return printJson({
              keyId,
              checkValue: key.checkValue,
              components: components.map((component, i) => ({
                file: files[i],
                checkValue: component.checkValue,
              })),
            });
          }
          console.log(
            `exported ${key.usage} key ${keyId} (check value ${key.checkValue}) as ${count} components:`,
          );
          components.forEach((component, i) => {
            console.log(`  ${files[i]}  (component check value ${component.checkValue})`);
          });
          console.log('Give each file to its custodian and delete it from this machine.');
        });
      },
    );

  keys
    .command('list')
    .description('the keys in the store: ids, owners, usages, versions, check values (never material)')
    .option('--owner <type:id>', 'only the keys of this owner')
    .option('--json', 'print JSON')
    .action(async (options: { owner?: string; json?: boolean }) => {
      const owner = options.owner === undefined ? undefined : parseOwner(options.owner);
      await withPlatform('keys list', async (platform) => {
        const list = await keyStoreOf(platform).list(owner === undefined ? {} : { owner });
        if (options.json) return printJson(list.map(keyJson));
        printTable(
          ['id', 'owner', 'usage', 'algorithm', 'version', 'status', 'check value', 'label'],
          list.map((key) => [
            key.id,
            ownerText(key.owner),
            key.usage,
            key.algorithm,
            String(key.version),
            key.status,
            key.checkValue,
            key.label,
          ]),
          ['left', 'left', 'left', 'left', 'right'],
        );
      });
    });

  keys
    .command('rotate-master')
    .description('re-seal every key under a new master key, in one transaction')
    .requiredOption('--new-key-file <file>', 'a file holding the new master key: 64 hex characters')
    .action(async (options: { newKeyFile: string }) => {
      const text = readFileSync(options.newKeyFile, 'utf8').trim();
      if (!/^[0-9a-fA-F]{64}$/.test(text)) {
        throw new TillpointError(
          'TILLPOINT_ERR_MASTER_KEY_INVALID',
          `${options.newKeyFile} must hold 64 hexadecimal characters (a 256-bit key)`,
          { param: '--new-key-file' },
        );
      }
      const newMasterKey = masterKeyFrom(Buffer.from(text, 'hex'));
      await withPlatform('keys rotate-master', async (platform) => {
        const rotation = await keyStoreOf(platform).rotateMaster(newMasterKey, actor());
        console.log(
          `re-sealed ${rotation.resealed} key(s) under master key ${rotation.masterKeyId} (was ${rotation.previousMasterKeyId})`,
        );
        if (platform.config.masterKeyHex !== undefined) {
          console.log(
            `Set TILLPOINT_MASTER_KEY to the new key (the contents of ${options.newKeyFile}) everywhere Tillpoint runs, and restart every node: the old key no longer opens the store.`,
          );
          return;
        }
        const file = path.join(platform.config.dataDir, MASTER_KEY_FILE);
        const temporary = `${file}.new-${process.pid}`;
        try {
          writeNewFile(temporary, `${text.toLowerCase()}\n`);
          renameSync(temporary, file);
        } catch (error) {
          rmSync(temporary, { force: true });
          throw new TillpointError(
            'TILLPOINT_ERR_MASTER_KEY_INVALID',
            `the keys are re-sealed under the new key, but ${file} could not be replaced (${(error as Error).message}): copy ${options.newKeyFile} over it, or set TILLPOINT_MASTER_KEY to it, before the next start`,
            { param: MASTER_KEY_FILE },
          );
        }
        console.log(`${file} now holds the new master key. Restart every running tillpoint process.`);
      });
    });
}
