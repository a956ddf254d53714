import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';
import { redact } from '@cairn/core';

/** One command-line option. Flags are `--kebab-case`; values are read as strings and converted by the command. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** May be given more than once (`--tag a --tag b`). */
  multiple?: boolean;
  short?: string;
  /** Placeholder shown in help (`N`, `GLOB`). */
  value?: string;
  description: string;
}

export type OptionSpecs = Record<string, OptionSpec>;
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** Options every command accepts. */
export const globalOptions: OptionSpecs = {
  repo: { type: 'string', short: 'r', value: 'R', description: 'repository location (default: $CAIRN_REPOSITORY)' },
  'password-file': { type: 'string', value: 'FILE', description: 'read the password from FILE (default: $CAIRN_PASSWORD)' },
  quiet: { type: 'boolean', short: 'q', description: 'print only results and errors, no progress' },
  debug: { type: 'boolean', description: 'show stack traces and log lines' },
  help: { type: 'boolean', short: 'h', description: 'show help for this command' },
};

export interface ParsedOptions {
  values: OptionValues;
  positionals: string[];
}

/**
 * Parses `args` strictly against `options`. Built on `node:util` parseArgs in token mode so that
 * every mistake gets our own one-line message (node's text mentions internals), and so that
 * `--repo --json` is refused instead of taking `--json` as the repository.
 */
export function parseOptions(args: string[], options: OptionSpecs, commandLabel: string): ParsedOptions {
  const { tokens } = parseArgs({
    args,
    options: Object.fromEntries(Object.entries(options).map(([name, spec]) => [
      name, { type: spec.type, multiple: spec.multiple ?? false, ...(spec.short ? { short: spec.short } : {}) },
    ])),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values: OptionValues = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') { positionals.push(token.value); continue; }
    if (token.kind === 'option-terminator') continue;
    const spec = options[token.name];
    if (!spec) {
      throw new UsageError('CLI_UNKNOWN_OPTION', `unknown option ${token.rawName} for \`${commandLabel}\`; see \`${commandLabel} --help\``);
    }
    const flag = token.rawName.startsWith('--') ? token.rawName : `${token.rawName} (--${token.name})`;
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw new UsageError('CLI_BAD_VALUE', `option ${flag} takes no value`);
      values[token.name] = true;
      continue;
    }
    if (token.value === undefined) {
      throw new UsageError('CLI_BAD_VALUE', `option ${flag} needs a value: ${flag} ${spec.value ?? 'VALUE'}`);
    }
    if (!token.inlineValue && token.value.startsWith('-') && token.value.length > 1) {
      throw new UsageError('CLI_BAD_VALUE', `option ${flag} needs a value but got ${token.value}; write --${token.name}=${token.value} if that is the value`);
    }
    if (spec.multiple) {
      const list = (values[token.name] as string[] | undefined) ?? [];
      list.push(token.value);
      values[token.name] = list;
    } else {
      if (values[token.name] !== undefined) {
        throw new UsageError('CLI_BAD_VALUE', `option ${flag} was given more than once`);
      }
      values[token.name] = token.value;
    }
  }
  return { values, positionals };
}

/**
 * Finds the command words (`backup`, `key passwd`) in argv: the first positionals, skipping the
 * values of the string options in `valueOptions` so `--repo R backup` works.
 */
export function findPositional(args: string[], from: number, valueOptions: OptionSpecs): number {
  const shortWithValue = new Set(Object.values(valueOptions).filter((o) => o.type === 'string' && o.short).map((o) => `-${o.short}`));
  for (let i = from; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return i + 1 < args.length ? i + 1 : -1;
    if (arg.startsWith('--')) {
      const name = arg.slice(2);
      if (!name.includes('=') && valueOptions[name]?.type === 'string') i++;
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      if (shortWithValue.has(arg)) i++;
      continue;
    }
    return i;
  }
  return -1;
}

// ---------------------------------------------------------------- values

/** A whole number within [min, max], or a usage error naming the flag. */
export function parseInteger(flag: string, raw: string, range: { min: number; max?: number }): number {
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const value = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < range.min || value > max) {
    const wanted = range.max === undefined ? `a whole number of at least ${range.min}` : `a whole number from ${range.min} to ${range.max}`;
    throw new UsageError('CLI_BAD_NUMBER', `--${flag} expects ${wanted}, got '${raw}'`);
  }
  return value;
}

export interface Duration { years: number; months: number; weeks: number; days: number; hours: number }
const durationUnits: Record<string, keyof Duration> = { y: 'years', m: 'months', w: 'weeks', d: 'days', h: 'hours' };

/** `30d`, `12h`, `2w`, `1y`, `1y6m`: y years, m months, w weeks, d days, h hours; each unit once, largest first. */
export function parseDuration(flag: string, raw: string): Duration {
  const text = raw.trim().toLowerCase();
  const fail = (): never => {
    throw new UsageError('CLI_BAD_DURATION', `--${flag} expects a duration like 30d, 12h, 2w, 1y or 1y6m (units y m w d h), got '${raw}'`);
  };
  if (!/^(\d+[ymwdh])+$/.test(text)) fail();
  const result: Duration = { years: 0, months: 0, weeks: 0, days: 0, hours: 0 };
  const order = 'ymwdh';
  let last = -1;
  let total = 0;
  for (const [, count, unit] of text.matchAll(/(\d+)([ymwdh])/g)) {
    const position = order.indexOf(unit!);
    if (position <= last) fail();
    last = position;
    const n = Number(count);
    if (!Number.isSafeInteger(n)) fail();
    result[durationUnits[unit!]!] = n;
    total += n;
  }
  if (total === 0) fail();
  return result;
}

const isoPattern = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * An ISO-8601 time: `2024-05-01`, `2024-05-01T13:45`, `2024-05-01 13:45:10`, `…Z`, `…+02:00`.
 * Without an offset it is local time; a date alone means 00:00 that day. `Date.parse` alone
 * accepts far too much (`"1"`, `"May"`), so the shape is checked first and the fields after.
 */
export function parseTime(flag: string, raw: string): Date {
  const fail = (why: string): never => {
    throw new UsageError('CLI_BAD_TIME', `--${flag} expects an ISO-8601 time like 2024-05-01T13:45:00Z or 2024-05-01, got '${raw}'${why}`);
  };
  const match = isoPattern.exec(raw.trim());
  if (!match) return fail('');
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = match;
  const fields = { year: Number(y), month: Number(mo), day: Number(d), hour: Number(h), minute: Number(mi), second: Number(s) };
  if (fields.month < 1 || fields.month > 12) fail(' (month out of range)');
  const daysInMonth = new Date(Date.UTC(fields.year, fields.month, 0)).getUTCDate();
  if (fields.day < 1 || fields.day > daysInMonth) fail(' (day out of range)');
  if (fields.hour > 23 || fields.minute > 59 || fields.second > 59) fail(' (time out of range)');
  const ms = frac ? Number(frac.padEnd(3, '0').slice(0, 3)) : 0;
  if (zone === undefined) {
    return new Date(fields.year, fields.month - 1, fields.day, fields.hour, fields.minute, fields.second, ms);
  }
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2));
    if (oh > 23 || om > 59) fail(' (offset out of range)');
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  const utc = Date.UTC(fields.year, fields.month - 1, fields.day, fields.hour, fields.minute, fields.second, ms);
  return new Date(utc - offsetMinutes * 60_000);
}

// ---------------------------------------------------------------- repository and password

const urlPattern = /^[a-z][a-z0-9+.-]*:\/\//i;

/** The repository as given (`--repo` or `$CAIRN_REPOSITORY`); plain paths are made absolute. */
export function resolveRepository(values: OptionValues, env: NodeJS.ProcessEnv, cwd: string): { location: string; display: string } {
  const given = typeof values.repo === 'string' ? values.repo : env.CAIRN_REPOSITORY;
  if (!given || !given.trim()) {
    throw new UsageError('CLI_MISSING_REPOSITORY', 'no repository given: pass --repo R or set CAIRN_REPOSITORY');
  }
  if (urlPattern.test(given)) return { location: given, display: redact(given) };
  return { location: isAbsolute(given) ? given : resolve(cwd, given), display: given };
}

/** Reads a password file; one trailing newline (as editors and `echo` leave) is not part of it. */
export async function readPasswordFile(flag: string, file: string, cwd: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(resolve(cwd, file), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new UsageError('CLI_PASSWORD_FILE', `cannot read --${flag} ${file}: ${why}`);
  }
  return text.replace(/\r?\n$/, '');
}

/** The repository password: `--password-file` wins over `$CAIRN_PASSWORD`. */
export async function resolvePassword(values: OptionValues, env: NodeJS.ProcessEnv, cwd: string): Promise<string> {
  const file = values['password-file'];
  const password = typeof file === 'string' ? await readPasswordFile('password-file', file, cwd) : env.CAIRN_PASSWORD;
  if (password === undefined) {
    throw new UsageError('CLI_MISSING_PASSWORD', 'no password given: set CAIRN_PASSWORD or pass --password-file FILE');
  }
  if (password === '') {
    throw new UsageError('CLI_MISSING_PASSWORD', typeof file === 'string' ? `the password file ${file} is empty` : 'CAIRN_PASSWORD is empty');
  }
  return password;
}
