import type { Command } from 'commander';
import { TillpointError } from '../../shared/errors.ts';
import { parseAmount } from '../../shared/money.ts';
import { withPlatform } from '../context.ts';
import { printJson } from '../output.ts';

// Provisioning from the command line until onboarding brings its own screens: a merchant with its
// operators and ledger accounts, and a terminal bound to it with its TMK.

const ADMIN = { type: 'user', id: 'cli', source: 'cli' } as const;

export function registerProvisioning(program: Command): void {
  const merchants = program.command('merchants').description('merchants the terminal host serves');
  merchants
    .command('add')
    .description('add a merchant (with its ledger accounts and operators); adding it again changes nothing')
    .requiredOption('--mid <id>', 'merchant id, 15 letters or digits (field 42)')
    .requiredOption('--name <name>', 'merchant name, as printed on slips')
    .option('--kind <kind>', 'enterprise or individual', 'enterprise')
    .option('--operators <codes>', 'operator codes (field 63.1), comma separated', '001')
    .option('--single-limit <amount>', 'largest single card transaction, e.g. 50000.00', '50000.00')
    .option('--json', 'print JSON')
    .action(
      async (options: {
        mid: string;
        name: string;
        kind: string;
        operators: string;
        singleLimit: string;
        json?: boolean;
      }) => {
        if (options.kind !== 'enterprise' && options.kind !== 'individual') {
          throw new TillpointError('TILLPOINT_ERR_VALIDATION', '--kind must be enterprise or individual', {
            param: '--kind',
          });
        }
        const kind = options.kind;
        const singleLimitMinor = parseAmount(options.singleLimit, undefined, '--single-limit');
        await withPlatform('merchants add', async (platform) => {
          for (const account of ['pending', 'payable'] as const) {
            await platform.ledger.openAccount(
              {
                code: `merchant:${options.mid}:${account}`,
                name: `${options.name} — ${account === 'pending' ? 'pending settlement' : 'settled, to pay out'}`,
                type: 'liability',
              },
              ADMIN,
            );
          }
          const { merchant, created } = await platform.merchants.create(
            {
              id: options.mid,
              name: options.name,
              kind,
              singleLimitMinor,
              operators: options.operators
                .split(',')
                .map((code) => code.trim())
                .filter((code) => code !== '')
                .map((code) => ({ code, name: `operator ${code}` })),
            },
            ADMIN,
          );
          if (options.json) printJson({ merchant, created });
          else
            console.log(
              `${created ? 'added' : 'already there'}: merchant ${merchant.id} ${merchant.name} (${merchant.status})`,
            );
        });
      },
    );

  const terminals = program.command('terminals').description('terminals bound to merchants');
  terminals
    .command('add')
    .description('bind a terminal to a merchant with its TMK (see docs/protocol/connecting-a-terminal.md)')
    .requiredOption('--tid <id>', 'terminal id, 8 letters or digits (field 41)')
    .requiredOption('--mid <id>', 'the merchant it belongs to (field 42)')
    .requiredOption('--tmk <key-id>', "the terminal master key's id in the key store (tillpoint keys list)")
    .option('--algorithm <cipher>', '3des or sm4: the cipher of its keys', '3des')
    .option('--mac <algorithm>', 'ecb (the profile default) or x99', 'ecb')
    .option('--json', 'print JSON')
    .action(
      async (options: {
        tid: string;
        mid: string;
        tmk: string;
        algorithm: string;
        mac: string;
        json?: boolean;
      }) => {
        if (options.algorithm !== '3des' && options.algorithm !== 'sm4') {
          throw new TillpointError('TILLPOINT_ERR_VALIDATION', '--algorithm must be 3des or sm4', {
            param: '--algorithm',
          });
        }
        if (options.mac !== 'ecb' && options.mac !== 'x99') {
          throw new TillpointError('TILLPOINT_ERR_VALIDATION', '--mac must be ecb or x99', {
            param: '--mac',
          });
        }
        const algorithm = options.algorithm;
        const macAlgorithm = options.mac;
        await withPlatform('terminals add', async (platform) => {
          const tmk = await platform.keys.get(options.tmk);
          const wanted = algorithm === 'sm4' ? 'sm4' : ['3des-2key', '3des-3key'];
          if (
            tmk.usage !== 'tmk' ||
            !(Array.isArray(wanted) ? wanted.includes(tmk.algorithm) : tmk.algorithm === wanted)
          ) {
            throw new TillpointError(
              'TILLPOINT_ERR_KEY_USAGE_MISMATCH',
              `Key ${tmk.id} is a ${tmk.algorithm} ${tmk.usage} key, not a ${algorithm} TMK`,
              { param: '--tmk' },
            );
          }
          if (tmk.owner.type !== 'terminal' || tmk.owner.id !== options.tid) {
            throw new TillpointError(
              'TILLPOINT_ERR_KEY_USAGE_MISMATCH',
              `Key ${tmk.id} belongs to ${tmk.owner.type}:${tmk.owner.id}, not terminal:${options.tid}`,
              { param: '--tmk' },
            );
          }
          const { terminal, created } = await platform.terminals.provision(
            { id: options.tid, merchantId: options.mid, algorithm, macAlgorithm, tmkKeyId: tmk.id },
            ADMIN,
          );
          if (options.json) printJson({ terminal, created });
          else {
            console.log(
              `${created ? 'added' : 'already there'}: terminal ${terminal.id} of merchant ${terminal.merchantId}, ${terminal.algorithm} keys, ${terminal.macAlgorithm} MAC, TMK check value ${tmk.checkValue}`,
            );
          }
        });
      },
    );
}
