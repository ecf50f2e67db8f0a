// The ISO 8583 terminal host: the TCP edge classic POS terminals connect to. It decodes, checks and
// routes each request to the modules that decide (terminals, payments), and answers in the profile
// of docs/protocol/terminal-profile.md. It holds no business rule of its own.
import type { Database } from '../db/index.ts';
import type { Merchants } from '../merchants/index.ts';
import type { CardPayments } from '../payments/index.ts';
import type { Logger } from '../shared/logger.ts';
import type { Terminals } from '../terminals/index.ts';
import { Journal } from './journal.ts';
import { Pipeline } from './pipeline.ts';
import { HostServer } from './server.ts';

export { Journal, type JournalRecord } from './journal.ts';
export { type Handled, Pipeline, type PipelineDeps } from './pipeline.ts';
export { HostServer, type HostServerOptions } from './server.ts';
export { classify, TRANSACTIONS, type TransactionType } from './transactions.ts';

export interface TerminalHostDeps {
  db: Database;
  terminals: Terminals;
  merchants: Merchants;
  payments: CardPayments;
  logger: Logger;
  acquirerCode: string;
  hostTimeoutSeconds?: number;
  now: () => { time: string; date: string };
  idleTimeoutMs?: number;
}

export interface TerminalHost {
  readonly server: HostServer;
  readonly journal: Journal;
  readonly pipeline: Pipeline;
  listen(port: number, host: string): Promise<number>;
  close(drainMs?: number): Promise<void>;
}

export function createTerminalHost(deps: TerminalHostDeps): TerminalHost {
  const journal = new Journal({ db: deps.db, logger: deps.logger });
  const pipeline = new Pipeline({
    terminals: deps.terminals,
    merchants: deps.merchants,
    payments: deps.payments,
    journal,
    logger: deps.logger,
    acquirerCode: deps.acquirerCode,
    hostTimeoutSeconds: deps.hostTimeoutSeconds ?? 60,
    now: deps.now,
  });
  const server = new HostServer({
    pipeline,
    journal,
    logger: deps.logger,
    ...(deps.idleTimeoutMs !== undefined ? { idleTimeoutMs: deps.idleTimeoutMs } : {}),
  });
  return {
    server,
    journal,
    pipeline,
    listen: (port, host) => server.listen(port, host),
    async close(drainMs) {
      await server.close(drainMs);
      await journal.close();
    },
  };
}
