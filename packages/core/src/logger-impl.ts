import type { LogLevel } from './events.js';
import type { Logger } from './logger.js';

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Discards everything: the default, since a library should not print unless asked. */
export const silentLogger: Logger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

export interface ConsoleLoggerOptions {
  /** Lowest level written; default `info`. */
  level?: LogLevel;
  /** Where lines go; default `process.stderr`, keeping stdout for a command's output. */
  stream?: { write(chunk: string): unknown };
}

/** One line per message: `warn  message key=value …`. */
export function createConsoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const threshold = rank[options.level ?? 'info'];
  const stream = options.stream ?? process.stderr;
  const write = (level: LogLevel) => (message: string, fields?: Record<string, unknown>): void => {
    if (rank[level] < threshold) return;
    stream.write(`${level.padEnd(5)} ${message}${formatFields(fields)}\n`);
  };
  return Object.freeze({ debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') });
}

function formatFields(fields: Record<string, unknown> | undefined): string {
  if (!fields) return '';
  let out = '';
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = typeof value === 'string' ? value : value instanceof Error ? value.message : JSON.stringify(value);
    out += ` ${key}=${/[\s"=]/.test(text ?? '') ? JSON.stringify(text) : text}`;
  }
  return out;
}

/** A logger that also reports each line through `sink` (the orchestrator's `log` event). */
export function teeLogger(logger: Logger, sink: (level: LogLevel, message: string, fields: Record<string, unknown> | undefined) => void): Logger {
  const line = (level: LogLevel) => (message: string, fields?: Record<string, unknown>): void => {
    logger[level](message, fields);
    sink(level, message, fields);
  };
  return Object.freeze({ debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') });
}
