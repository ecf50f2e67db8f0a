import type { Command } from 'commander';
import { withPlatform } from '../context.ts';
import { printJson } from '../output.ts';

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log');
  audit
    .command('verify')
    .description('walk the hash chain and report every missing, inserted or altered line')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      await withPlatform('audit verify', async (platform) => {
        const result = await platform.audit.verify(platform.db);
        if (options.json) printJson(result);
        else if (result.ok) {
          console.log(`audit log intact: ${result.lines} lines`);
          if (result.head)
            console.log(
              `head: line ${result.head.seq}, hash ${result.head.hash} (record it to detect a cut tail)`,
            );
        } else {
          console.log(`audit log BROKEN: ${result.problems.length} problem(s) in ${result.lines} lines`);
          for (const problem of result.problems)
            console.log(`line ${problem.seq}: ${problem.problem} — ${problem.detail}`);
        }
        if (!result.ok) process.exitCode = 1;
      });
    });
}
