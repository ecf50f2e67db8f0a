import { type Config, loadConfig, loadDotEnv } from '../config.ts';
import { type Platform, startPlatform } from '../main.ts';
import { createLogger, type Logger } from '../shared/logger.ts';

// What every command needs: validated configuration, a logger, and for most of them the platform.

export function commandConfig(): Config {
  loadDotEnv();
  return loadConfig();
}

/** One-off commands log to stderr (stdout is their output), warnings only unless LOG_LEVEL says otherwise. */
export function commandLogger(config: Config): Logger {
  const level = process.env['LOG_LEVEL'] === undefined ? 'warn' : config.logLevel;
  return createLogger({ level, destination: process.stderr });
}

/** Runs `fn` with the platform (a running server's database when there is one) and closes it after. */
export async function withPlatform<T>(purpose: string, fn: (platform: Platform) => Promise<T>): Promise<T> {
  const config = commandConfig();
  const platform = await startPlatform({ config, logger: commandLogger(config), purpose, role: 'client' });
  try {
    return await fn(platform);
  } finally {
    await platform.close();
  }
}
