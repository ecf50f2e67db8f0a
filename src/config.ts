import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { isValidTimeZone } from './shared/clock.ts';
import { TillpointError } from './shared/errors.ts';
import { LOG_LEVELS, type LogLevel } from './shared/logger.ts';

// Configuration comes from environment variables (and, where present, a `.env` file in the working
// directory), validated once at start. An invalid value stops start-up with one line naming the
// variable and what it accepts.

export interface Config {
  host: string;
  httpPort: number;
  isoPort: number;
  dataDir: string;
  databaseUrl: string | undefined;
  masterKeyHex: string | undefined;
  timeZone: string;
  logLevel: LogLevel;
}

const port = (name: string, fallback: number) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return fallback;
      if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a TCP port number from 0 to 65535` });
        return z.NEVER;
      }
      return Number(value);
    });

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value === '' ? undefined : value));

const schema = z.object({
  TILLPOINT_HOST: z
    .string()
    .optional()
    .transform((value) => (value === undefined || value === '' ? '127.0.0.1' : value))
    .refine((value) => /^[A-Za-z0-9.:_-]+$/.test(value), 'TILLPOINT_HOST must be a host name or IP address'),
  TILLPOINT_HTTP_PORT: port('TILLPOINT_HTTP_PORT', 8080),
  TILLPOINT_ISO_PORT: port('TILLPOINT_ISO_PORT', 8583),
  TILLPOINT_DATA_DIR: z
    .string()
    .optional()
    .transform((value) => (value === undefined || value === '' ? './data' : value)),
  DATABASE_URL: optionalText.refine(
    (value) => value === undefined || /^postgres(ql)?:\/\/.+/.test(value),
    'DATABASE_URL must be a postgres:// or postgresql:// connection URL',
  ),
  TILLPOINT_MASTER_KEY: optionalText.refine(
    (value) => value === undefined || /^[0-9a-fA-F]{64}$/.test(value),
    'TILLPOINT_MASTER_KEY must be 64 hexadecimal characters (a 256-bit key)',
  ),
  TILLPOINT_TIMEZONE: z
    .string()
    .optional()
    .transform((value) => (value === undefined || value === '' ? 'Asia/Shanghai' : value))
    .refine(isValidTimeZone, 'TILLPOINT_TIMEZONE must be an IANA time zone such as Asia/Shanghai'),
  LOG_LEVEL: z
    .string()
    .optional()
    .transform((value) => (value === undefined || value === '' ? 'info' : value.toLowerCase()))
    .refine(
      (value): value is LogLevel => (LOG_LEVELS as readonly string[]).includes(value),
      `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`,
    ),
});

/** Loads `.env` from the working directory if there is one (variables already set win). */
export function loadDotEnv(file = '.env'): void {
  if (!existsSync(file)) return;
  try {
    process.loadEnvFile(file);
  } catch (error) {
    throw new TillpointError(
      'TILLPOINT_ERR_CONFIG',
      `${file}: cannot be read (${(error as Error).message})`,
      {
        param: file,
      },
    );
  }
}

/** Validates the environment into a Config, or throws one TillpointError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    const given = env[variable];
    const shown =
      variable === 'TILLPOINT_MASTER_KEY' || given === undefined ? '' : ` (got ${JSON.stringify(given)})`;
    throw new TillpointError('TILLPOINT_ERR_CONFIG', `${issue.message}${shown}`, { param: variable });
  }
  const value = result.data;
  return {
    host: value.TILLPOINT_HOST,
    httpPort: value.TILLPOINT_HTTP_PORT,
    isoPort: value.TILLPOINT_ISO_PORT,
    dataDir: path.resolve(value.TILLPOINT_DATA_DIR),
    databaseUrl: value.DATABASE_URL,
    masterKeyHex: value.TILLPOINT_MASTER_KEY,
    timeZone: value.TILLPOINT_TIMEZONE,
    logLevel: value.LOG_LEVEL as LogLevel,
  };
}
