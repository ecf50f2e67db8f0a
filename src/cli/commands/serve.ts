import path from 'node:path';
import type { Command } from 'commander';
import { hidePassword } from '../../db/index.ts';
import { isEmpty, loadDemoData } from '../../demo/index.ts';
import { createTerminalHost } from '../../host/index.ts';
import { createHttpApp } from '../../http/index.ts';
import { ACQUIRER_CODE, startPlatform } from '../../main.ts';
import { createLogger } from '../../shared/logger.ts';
import { commandConfig } from '../context.ts';

/** How long in-flight work may take to finish after a stop signal. */
const DRAIN_TIMEOUT_MS = 10_000;

/** A path relative to the working directory when it is inside it, else absolute. */
function shortPath(target: string): string {
  const relative = path.relative(process.cwd(), target);
  return relative === '' || relative.startsWith('..') ? target : relative;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the platform: database, migrations, demo data on first start, HTTP API')
    .option('--no-demo', 'do not load demo data into an empty database')
    .action(async (options: { demo: boolean }) => {
      const startedAt = performance.now();
      const config = commandConfig();
      const logger = createLogger({ level: config.logLevel });
      const platform = await startPlatform({ config, logger, purpose: 'serve', role: 'owner', poolSize: 20 });
      let loadedDemo = false;
      try {
        if (options.demo && (await isEmpty(platform))) {
          await loadDemoData(platform);
          loadedDemo = true;
        }
      } catch (error) {
        await platform.close();
        throw error;
      }
      const app = await createHttpApp({
        ledger: platform.ledger,
        audit: platform.audit,
        db: platform.db,
        logger,
        readiness: () => platform.readiness(),
        version: process.env['npm_package_version'] ?? '0.1.0',
      });
      const host = createTerminalHost({
        db: platform.db,
        terminals: platform.terminals,
        merchants: platform.merchants,
        payments: platform.payments,
        logger,
        acquirerCode: ACQUIRER_CODE,
        now: () => platform.now(),
      });
      let isoPort: number;
      try {
        await app.listen({ host: config.host, port: config.httpPort });
        isoPort = await host.listen(config.isoPort, config.host);
      } catch (error) {
        await app.close().catch(() => undefined);
        await host.close(0).catch(() => undefined);
        await platform.close();
        throw error;
      }
      platform.payments.reversals.start();
      const holds = setInterval(() => {
        platform.payments
          .expireHolds()
          .catch((error: unknown) => logger.error({ err: error }, 'expiring holds failed'));
      }, 60_000);
      holds.unref();
      const address = app.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : config.httpPort;
      const base = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
      const database = platform.database.embedded
        ? `embedded PostgreSQL in ${shortPath(platform.database.embedded.clusterDir)} (port ${platform.database.embedded.port})`
        : hidePassword(config.databaseUrl ?? '');
      const readyMs = Math.round(performance.now() - startedAt);
      console.log(
        [
          '',
          `Tillpoint is ready (${readyMs} ms)`,
          `  API        ${base}/v1`,
          `  API docs   ${base}/docs`,
          `  health     ${base}/healthz   ${base}/readyz`,
          `  terminals  ISO 8583 over TCP on ${config.host}:${isoPort} (TPDU 60…, see docs/protocol/)`,
          `  data       ${config.dataDir}`,
          `  database   ${database}`,
          loadedDemo ? '  demo data  loaded (test fixtures only: never for real money)' : '',
          '  stop       Ctrl-C (or SIGTERM): finishes work in flight, then stops the database',
          '',
        ]
          .filter((line, i, lines) => line !== '' || i === 0 || i === lines.length - 1)
          .join('\n'),
      );

      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) {
          logger.warn({ signal }, 'second stop signal: exiting now');
          process.exit(1);
        }
        stopping = true;
        logger.info({ signal }, 'stopping: no new work, finishing what is in flight');
        const timer = setTimeout(() => {
          logger.error('work in flight did not finish in time: exiting');
          process.exit(1);
        }, DRAIN_TIMEOUT_MS);
        timer.unref();
        try {
          clearInterval(holds);
          await host.close(DRAIN_TIMEOUT_MS / 2);
          await app.close();
          await platform.close();
          logger.info('stopped');
        } finally {
          clearTimeout(timer);
        }
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
    });
}
