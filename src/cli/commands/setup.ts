import type { Command } from 'commander';
import { migrate } from '../../db/index.ts';
import { loadDemoData } from '../../demo/index.ts';
import { startPlatform } from '../../main.ts';
import { commandConfig, commandLogger, withPlatform } from '../context.ts';

export function registerSetup(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations, and nothing else')
    .action(async () => {
      const config = commandConfig();
      const logger = commandLogger(config);
      const platform = await startPlatform({
        config,
        logger,
        purpose: 'migrate',
        role: 'client',
        migrate: false,
      });
      try {
        const result = await migrate(platform.db, logger);
        console.log(
          result.applied === 0
            ? `database up to date (${result.total} migrations)`
            : `applied ${result.applied} of ${result.total} migrations`,
        );
      } finally {
        await platform.close();
      }
    });

  program
    .command('demo')
    .description('load the demo institution, merchants and accounts (running it again changes nothing)')
    .action(async () => {
      await withPlatform('demo', async (platform) => {
        const result = await loadDemoData(platform);
        const created =
          result.accountsCreated +
          result.merchantsCreated +
          result.terminalsCreated +
          result.testCardsCreated;
        console.log(
          created === 0
            ? 'demo data already loaded: nothing changed'
            : `demo data loaded: ${result.accountsCreated} accounts, ${result.merchantsCreated} merchants, ${result.terminalsCreated} terminals, ${result.testCardsCreated} test cards`,
        );
      });
    });
}
