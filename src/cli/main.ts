import { Command, CommanderError } from 'commander';
import { TillpointError } from '../shared/errors.ts';
import { registerAudit } from './commands/audit.ts';
import { registerBench } from './commands/bench.ts';
import { registerKeys } from './commands/keys.ts';
import { registerLedger } from './commands/ledger.ts';
import { registerProvisioning } from './commands/provision.ts';
import { registerServe } from './commands/serve.ts';
import { registerSetup } from './commands/setup.ts';
import { registerTerminal } from './commands/terminal.ts';

// `tillpoint …`: every command, each with --help. An error is one line on stderr and a non-zero exit
// code; --verbose adds the stack.

const program = new Command('tillpoint')
  .description('Tillpoint: a self-hostable POS payment acquiring platform')
  .option('--verbose', 'print the whole error, with its stack, when a command fails')
  .showSuggestionAfterError()
  .configureOutput({ writeErr: (text) => process.stderr.write(text) });

registerServe(program);
registerSetup(program);
registerLedger(program);
registerProvisioning(program);
registerAudit(program);
registerTerminal(program);
registerBench(program);
registerKeys(program);

function describe(error: unknown): string {
  if (error instanceof TillpointError) return `${error.message}${error.param ? ` [${error.param}]` : ''}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  const verbose =
    program.opts<{ verbose?: boolean }>().verbose === true || process.argv.includes('--verbose');
  process.stderr.write(`tillpoint: ${describe(error)}\n`);
  if (verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exitCode = 1;
}
