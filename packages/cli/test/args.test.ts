import { describe, expect, it } from 'vitest';
import { parseDuration, parseInteger, parseOptions, parseTime, resolvePassword, resolveRepository } from '../src/args.js';
import { UsageError } from '../src/errors.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './helpers.js';

function usageCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof UsageError) return error.code;
    throw error;
  }
  return undefined;
}

describe('parseDuration', () => {
  it('accepts single and combined units', () => {
    expect(parseDuration('keep-within', '30d')).toEqual({ years: 0, months: 0, weeks: 0, days: 30, hours: 0 });
    expect(parseDuration('keep-within', '12h').hours).toBe(12);
    expect(parseDuration('keep-within', '2w').weeks).toBe(2);
    expect(parseDuration('keep-within', '1y').years).toBe(1);
    expect(parseDuration('keep-within', '1y6m')).toEqual({ years: 1, months: 6, weeks: 0, days: 0, hours: 0 });
    expect(parseDuration('keep-within', ' 1Y2D ')).toMatchObject({ years: 1, days: 2 });
  });

  it.each(['', 'd', '30', '30x', '1.5d', '-1d', '0d', '6m1y', '1d1d', '30 d'])('refuses %j', (raw) => {
    expect(usageCode(() => parseDuration('keep-within', raw))).toBe('CLI_BAD_DURATION');
  });

  it('names the flag and the value', () => {
    expect(() => parseDuration('keep-within', '3 days')).toThrow(/--keep-within .*'3 days'/);
  });
});

describe('parseTime', () => {
  it('reads UTC and offsets exactly', () => {
    expect(parseTime('at', '2024-05-01T13:45:10Z').toISOString()).toBe('2024-05-01T13:45:10.000Z');
    expect(parseTime('at', '2024-05-01T13:45:10.250Z').toISOString()).toBe('2024-05-01T13:45:10.250Z');
    expect(parseTime('at', '2024-05-01T15:45+02:00').toISOString()).toBe('2024-05-01T13:45:00.000Z');
    expect(parseTime('at', '2024-05-01T08:15-0530').toISOString()).toBe('2024-05-01T13:45:00.000Z');
  });

  it('reads local times and dates as local', () => {
    expect(parseTime('at', '2024-05-01 13:45').getTime()).toBe(new Date(2024, 4, 1, 13, 45).getTime());
    expect(parseTime('at', '2024-05-01').getTime()).toBe(new Date(2024, 4, 1).getTime());
    expect(parseTime('at', '2024-02-29T00:00:00Z').toISOString()).toBe('2024-02-29T00:00:00.000Z');
  });

  it.each(['yesterday', '1', 'May 1 2024', '2024-13-01', '2023-02-29', '2024-05-01T24:00', '2024-05-01T12:60', '2024-5-1', '2024-05-01T12:00+25:00'])(
    'refuses %j', (raw) => {
      expect(usageCode(() => parseTime('at', raw))).toBe('CLI_BAD_TIME');
    },
  );
});

describe('parseInteger', () => {
  it('accepts whole numbers in range', () => {
    expect(parseInteger('keep-last', '3', { min: 1 })).toBe(3);
    expect(parseInteger('compression', '9', { min: 1, max: 9 })).toBe(9);
  });
  it.each(['0', '-1', '1.5', 'x', '', '1e3', '99999999999999999999'])('refuses %j for --keep-last', (raw) => {
    expect(usageCode(() => parseInteger('keep-last', raw, { min: 1 }))).toBe('CLI_BAD_NUMBER');
  });
  it('names the range', () => {
    expect(() => parseInteger('compression', '10', { min: 1, max: 9 })).toThrow("--compression expects a whole number from 1 to 9, got '10'");
  });
});

describe('parseOptions', () => {
  const options = {
    repo: { type: 'string', short: 'r', description: '' },
    tag: { type: 'string', multiple: true, description: '' },
    json: { type: 'boolean', description: '' },
  } as const;

  it('collects values, repeats and positionals', () => {
    const parsed = parseOptions(['a', '--repo', '/r', '--tag', 'x', '--tag=y', '--json', 'b', '--', '--c'], options, 'cairn test');
    expect(parsed.values).toEqual({ repo: '/r', tag: ['x', 'y'], json: true });
    expect(parsed.positionals).toEqual(['a', 'b', '--c']);
    expect(parseOptions(['-r', '/s'], options, 'cairn test').values.repo).toBe('/s');
  });

  it('refuses unknown options with the command named', () => {
    expect(() => parseOptions(['--bogus'], options, 'cairn test')).toThrow('unknown option --bogus for `cairn test`; see `cairn test --help`');
  });

  it('refuses a missing or option-like value, a value on a switch and a repeated single option', () => {
    expect(usageCode(() => parseOptions(['--repo'], options, 'cairn test'))).toBe('CLI_BAD_VALUE');
    expect(() => parseOptions(['--repo', '--json'], options, 'cairn test')).toThrow(/--repo needs a value but got --json/);
    expect(parseOptions(['--repo=-odd'], options, 'cairn test').values.repo).toBe('-odd');
    expect(usageCode(() => parseOptions(['--json=yes'], options, 'cairn test'))).toBe('CLI_BAD_VALUE');
    expect(() => parseOptions(['--repo', 'a', '--repo', 'b'], options, 'cairn test')).toThrow(/more than once/);
  });
});

describe('repository and password', () => {
  it('takes --repo over CAIRN_REPOSITORY and makes paths absolute', () => {
    expect(resolveRepository({ repo: 'rel/dir' }, { CAIRN_REPOSITORY: '/env' }, '/home/ann')).toEqual({ location: '/home/ann/rel/dir', display: 'rel/dir' });
    expect(resolveRepository({}, { CAIRN_REPOSITORY: '/env' }, '/x').location).toBe('/env');
    expect(resolveRepository({ repo: 'sftp://ann@host/b' }, {}, '/x').location).toBe('sftp://ann@host/b');
    expect(usageCode(() => resolveRepository({}, {}, '/x'))).toBe('CLI_MISSING_REPOSITORY');
  });

  it('reads a password file without its trailing newline, and refuses empty or missing passwords', async () => {
    const dir = await tempDir();
    try {
      await writeFile(join(dir.path, 'pw'), 'secret \n');
      await writeFile(join(dir.path, 'crlf'), 'two\r\n\r\n');
      await writeFile(join(dir.path, 'empty'), '\n');
      expect(await resolvePassword({ 'password-file': 'pw' }, { CAIRN_PASSWORD: 'env' }, dir.path)).toBe('secret ');
      expect(await resolvePassword({ 'password-file': join(dir.path, 'crlf') }, {}, '/')).toBe('two\r\n');
      expect(await resolvePassword({}, { CAIRN_PASSWORD: 'env' }, dir.path)).toBe('env');
      await expect(resolvePassword({}, {}, dir.path)).rejects.toMatchObject({ code: 'CLI_MISSING_PASSWORD' });
      await expect(resolvePassword({}, { CAIRN_PASSWORD: '' }, dir.path)).rejects.toMatchObject({ code: 'CLI_MISSING_PASSWORD' });
      await expect(resolvePassword({ 'password-file': 'empty' }, {}, dir.path)).rejects.toMatchObject({ code: 'CLI_MISSING_PASSWORD' });
      await expect(resolvePassword({ 'password-file': 'nope' }, {}, dir.path)).rejects.toThrow('cannot read --password-file nope: no such file');
    } finally {
      await dir.cleanup();
    }
  });
});
