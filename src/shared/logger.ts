import { type Logger, type LoggerOptions, pino } from 'pino';
import pretty from 'pino-pretty';
import { maskPansInText, redact } from './redact.ts';

export type { Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerSettings {
  level?: LogLevel;
  /** `pretty` for a person at a terminal, `json` for machines. Default: pretty when stdout is a TTY. */
  format?: 'pretty' | 'json';
  /** Where lines go. Default: stdout (the CLI's one-off commands log to stderr, keeping stdout for output). */
  destination?: NodeJS.WritableStream & { isTTY?: boolean; fd?: number };
}

/**
 * The one logger factory. Every log line passes through the redaction of `redact.ts`: fields named
 * like track data, PINs, CVVs or keys are dropped, and card numbers are masked, in the message too.
 */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: { service: 'tillpoint' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (object) => redact(object) as Record<string, unknown>,
    },
    serializers: { err: (error: unknown) => redact(error) },
    hooks: {
      logMethod(args, method) {
        for (let i = 0; i < args.length; i++) {
          const arg = args[i];
          if (typeof arg === 'string') args[i] = maskPansInText(arg);
        }
        method.apply(this, args as Parameters<typeof method>);
      },
    },
  };
  const destination = settings.destination ?? process.stdout;
  const format = settings.format ?? (destination.isTTY === true ? 'pretty' : 'json');
  if (format === 'pretty') {
    return pino(
      options,
      pretty({
        sync: true,
        colorize: destination.isTTY === true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname,service',
        destination: destination.fd ?? 1,
      }),
    );
  }
  return pino(options, destination);
}

/** A logger that writes nothing: for tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
