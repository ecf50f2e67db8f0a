import type { Command } from 'commander';
import { currencyOf, formatAmount } from '../../shared/money.ts';
import { withPlatform } from '../context.ts';
import { printJson, printTable } from '../output.ts';

export function registerLedger(program: Command): void {
  const ledger = program.command('ledger').description('read the ledger: balances, trial balance, integrity');

  ledger
    .command('balance')
    .description('balance of one account (posted, pending, available)')
    .argument('<account-code>', 'e.g. merchant:102314054110001:pending')
    .option('--as-of <date>', 'as of the end of a business date (YYYY-MM-DD): posted amounts only')
    .option('--json', 'print JSON')
    .action(async (code: string, options: { asOf?: string; json?: boolean }) => {
      await withPlatform('ledger balance', async ({ ledger }) => {
        const balance = await ledger.balance(code, { asOf: options.asOf });
        if (options.json) return printJson(balance);
        const currency = currencyOf(balance.account.currency);
        const money = (minor: bigint) => formatAmount(minor, currency);
        console.log(
          `${balance.account.code}  ${balance.account.name}  (${balance.account.type}, ${balance.account.status})`,
        );
        if (balance.asOf !== null) console.log(`as of the end of ${balance.asOf}`);
        console.log(`posted     ${money(balance.postedMinor)}`);
        if (balance.asOf === null) {
          console.log(
            `pending    debits ${money(balance.debitsPendingMinor)}, credits ${money(balance.creditsPendingMinor)}`,
          );
          console.log(`available  ${money(balance.availableMinor)}`);
        }
      });
    });

  ledger
    .command('trial-balance')
    .description('every account with its debit or credit balance, and the totals (their difference is zero)')
    .option('--as-of <date>', 'as of the end of a business date (YYYY-MM-DD)')
    .option('--json', 'print JSON')
    .action(async (options: { asOf?: string; json?: boolean }) => {
      await withPlatform('ledger trial-balance', async ({ ledger }) => {
        const trial = await ledger.trialBalance({ asOf: options.asOf });
        if (options.json) return printJson(trial);
        const money = (minor: bigint, code: string) =>
          minor === 0n ? '' : formatAmount(minor, currencyOf(code));
        printTable(
          ['account', 'type', 'debit', 'credit'],
          trial.accounts.map((a) => [
            a.code,
            a.type,
            money(a.debitMinor, a.currency),
            money(a.creditMinor, a.currency),
          ]),
          ['left', 'left', 'right', 'right'],
        );
        console.log('');
        if (trial.totals.length === 0) console.log('total: no accounts yet; difference ¥0.00');
        for (const total of trial.totals) {
          const currency = currencyOf(total.currency);
          console.log(
            `total ${total.currency}: debits ${formatAmount(total.debitMinor, currency)}, credits ${formatAmount(total.creditMinor, currency)}, difference ${formatAmount(total.differenceMinor, currency)}`,
          );
        }
        if (trial.totals.some((total) => total.differenceMinor !== 0n)) process.exitCode = 1;
      });
    });

  ledger
    .command('verify')
    .description('recompute every balance from its postings and check that every entry balances')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      await withPlatform('ledger verify', async ({ ledger }) => {
        const report = await ledger.verifyIntegrity();
        if (options.json) printJson(report);
        else if (report.ok)
          console.log(`ledger sound: ${report.accountsChecked} accounts, every balance equals its postings`);
        else {
          for (const m of report.mismatches) {
            console.log(`${m.code}: ${m.field} is ${m.stored} but its postings give ${m.fromPostings}`);
          }
          for (const id of report.unbalancedEntries) console.log(`entry ${id} does not balance`);
        }
        if (!report.ok) process.exitCode = 1;
      });
    });
}
