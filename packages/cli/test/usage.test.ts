import { describe, expect, it } from 'vitest';
import { commands } from '../src/commands/index.js';
import { version } from '../src/main.js';
import { cli, expectOneErrorLine } from './helpers.js';

const env = { CAIRN_PASSWORD: 'pw', CAIRN_REPOSITORY: '/nonexistent/repo' };

describe('help and version', () => {
  it('prints the main help on stdout with every command', async () => {
    const result = await cli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    for (const command of commands) expect(result.stdout).toContain(`  ${command.name} `);
    expect(result.stdout).toContain('CAIRN_PASSWORD');
    expect(result.stdout).toContain('Exit status');
  });

  it('prints the version', async () => {
    expect(await cli(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('prints usage on stderr with exit 2 when no command is given', async () => {
    const result = await cli([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Usage: cairn <command>');
  });

  it.each(commands.map((c) => c.name))('`cairn %s --help` shows usage, options and an example', async (name) => {
    const result = await cli([...name.split(' '), '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Usage: cairn ${name}`);
    expect(result.stdout).toContain('--repo R');
    expect(result.stdout).toContain('Examples:');
  });

  it('`cairn help backup` is `cairn backup --help`', async () => {
    expect((await cli(['help', 'backup'])).stdout).toBe((await cli(['backup', '--help'])).stdout);
    expect((await cli(['help', 'key', 'passwd'])).stdout).toBe((await cli(['key', 'passwd', '--help'])).stdout);
  });

  it('help wins over missing arguments', async () => {
    expect((await cli(['diff', '--help'])).code).toBe(0);
    expect((await cli(['-h', 'restore'])).stdout).toContain('Usage: cairn restore');
  });
});

describe('bad usage: exit 2, one line, no stack', () => {
  const cases: Array<[string, string[], RegExp, NodeJS.ProcessEnv?]> = [
    ['unknown command', ['bakcup'], /unknown command `bakcup`; did you mean `cairn backup`\? run `cairn --help`/],
    ['unknown command far from any', ['frobnicate'], /^cairn: unknown command `frobnicate`; run `cairn --help` for the list$/],
    ['unknown global flag', ['--bogus'], /unknown option --bogus for `cairn`/],
    ['unknown flag', ['snapshots', '--bogus'], /unknown option --bogus for `cairn snapshots`; see `cairn snapshots --help`/],
    ['flag of another command', ['snapshots', '--keep-last', '2'], /unknown option --keep-last/],
    ['flag without its value', ['backup', '/tmp', '--tag'], /option --tag needs a value/],
    ['flag taking the next flag as value', ['snapshots', '--repo', '--json'], /--repo needs a value but got --json/],
    ['switch given a value', ['snapshots', '--json=yes'], /--json takes no value/],
    ['missing repository', ['snapshots'], /no repository given: pass --repo R or set CAIRN_REPOSITORY/, { CAIRN_PASSWORD: 'pw' }],
    ['missing password', ['snapshots', '--repo', '/r'], /no password given: set CAIRN_PASSWORD or pass --password-file FILE/, {}],
    ['empty password', ['snapshots', '--repo', '/r'], /CAIRN_PASSWORD is empty/, { CAIRN_PASSWORD: '' }],
    ['unreadable password file', ['snapshots', '--repo', '/r', '--password-file', '/nonexistent/pw'], /cannot read --password-file \/nonexistent\/pw: no such file/],
    ['backup without sources', ['backup'], /`cairn backup` needs SOURCE\.\.\./],
    ['ls without snapshot', ['ls'], /`cairn ls` needs SNAPSHOT/],
    ['diff with one snapshot', ['diff', 'abc'], /`cairn diff` needs SNAPSHOT1 SNAPSHOT2/],
    ['diff with three snapshots', ['diff', 'a', 'b', 'c'], /too many arguments for `cairn diff`/],
    ['arguments where none are taken', ['snapshots', 'extra'], /`cairn snapshots` takes no arguments, got 'extra'/],
    ['bad compression', ['backup', '/tmp', '--compression', '12'], /--compression expects a whole number from 1 to 9, got '12'/],
    ['bad keep count', ['forget', '--keep-last', 'two'], /--keep-last expects a whole number of at least 1, got 'two'/],
    ['bad duration', ['forget', '--keep-within', '30 days'], /--keep-within expects a duration like 30d/],
    ['forget without policy', ['forget', '--prune'], /no retention policy: pass at least one --keep-\* option/],
    ['bad --at time', ['restore', 'latest', '--target', '/tmp/x', '--at', 'yesterday'], /--at expects an ISO-8601 time/],
    ['--at with an id', ['restore', '1a2b3c4d', '--target', '/tmp/x', '--at', '2024-01-01'], /--at picks the snapshot by time/],
    ['restore without target', ['restore', 'latest'], /where to\? pass --target DIR \(a directory\) or --to URL \(a system\), not both/],
    ['restore with target and to', ['restore', 'latest', '--target', '/tmp/x', '--to', 'mysql://db/x'], /where to\? pass --target DIR/],
    ['restore with a mode into a directory', ['restore', 'latest', '--target', '/tmp/x', '--mode', 'merge'], /--mode works with --to only/],
    ['restore with an unknown mode', ['restore', 'latest', '--to', 'mysql://db/x', '--mode', 'overwrite'], /--mode must be one of new, merge, replace, got "overwrite"/],
    ['restore with include into a system', ['restore', 'latest', '--to', 'mysql://db/x', '--include', 'a'], /--include works with --target only/],
    ['restore without snapshot', ['restore', '--target', '/tmp/x'], /which snapshot\?/],
    ['key without subcommand', ['key'], /`cairn key` needs a subcommand: passwd/],
    ['key with unknown subcommand', ['key', 'add'], /unknown subcommand `cairn key add`/],
    ['key passwd without new password', ['key', 'passwd', '--repo', '/r'], /no new password given: set CAIRN_NEW_PASSWORD or pass --new-password-file F/],
    ['empty tag', ['backup', '/tmp', '--tag', ''], /--tag needs a non-empty value/],
  ];

  it.each(cases)('%s', async (_, args, message, caseEnv) => {
    const result = await cli(args, { env: caseEnv ?? env });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(expectOneErrorLine(result.stderr)).toMatch(message);
  });

  it('--debug adds the stack trace', async () => {
    const result = await cli(['forget', '--keep-last', 'x', '--debug'], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/\n\s+at /);
    expect(result.stderr.trimEnd().split('\n').at(-1)).toMatch(/^cairn: --keep-last expects/);
  });

  it('global options may come before the command', async () => {
    const result = await cli(['--repo', '/r', '-q', 'forget', '--keep-within', 'x'], { env });
    expect(result.code).toBe(2);
    expect(expectOneErrorLine(result.stderr)).toMatch(/--keep-within expects a duration/);
  });
});

describe('failures found before opening the repository', () => {
  it('backup of a missing path is exit 1 with one line', async () => {
    const result = await cli(['backup', '/nonexistent/cairn/path', '--repo', '/r'], { env });
    expect(result.code).toBe(1);
    expect(expectOneErrorLine(result.stderr)).toBe('cairn: cannot back up /nonexistent/cairn/path: no such file or directory');
  });
});
