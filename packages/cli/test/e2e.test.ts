import { chmod, mkdir, readFile, readdir, readlink, lstat, rm, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../src/main.js';
import { cli, expectOneErrorLine, tempDir } from './helpers.js';

/**
 * Whole command flows against a real repository in a temporary directory, in-process through
 * `run()`. Each test builds its own repository.
 */
let dir: { path: string; cleanup: () => Promise<void> };
let repo: string;
let data: string;
const env = { CAIRN_PASSWORD: 'correct horse battery staple' };

beforeEach(async () => {
  dir = await tempDir();
  repo = join(dir.path, 'repo');
  data = join(dir.path, 'data');
  await mkdir(join(data, 'docs', 'reports'), { recursive: true });
  await mkdir(join(data, 'empty dir'));
  await writeFile(join(data, 'a.txt'), 'alpha\n');
  await writeFile(join(data, 'docs', 'reports', 'q1 résumé.txt'), 'quarter one\n');
  await writeFile(join(data, 'docs', 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
  await writeFile(join(data, 'empty.txt'), '');
  await symlink('a.txt', join(data, 'link'));
});

afterEach(async () => {
  await chmod(join(data, 'a.txt'), 0o644).catch(() => {});
  await dir.cleanup();
});

async function ok(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string> {
  const result = await cli(args, { env: { ...env, ...extraEnv }, cwd: dir.path });
  if (result.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

async function backupJson(...extra: string[]): Promise<{ id: string; summary: Record<string, number>; warnings: unknown[] }> {
  return JSON.parse(await ok(['backup', data, '--repo', repo, '--json', ...extra]));
}

/** Every node under `root`: files with content, symlinks with target, directories. */
async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(path: string): Promise<void> {
    for (const name of (await readdir(path)).sort()) {
      const full = join(path, name);
      const rel = relative(root, full);
      const stat = await lstat(full);
      if (stat.isSymbolicLink()) out[rel] = `-> ${await readlink(full)}`;
      else if (stat.isDirectory()) {
        out[`${rel}/`] = 'dir';
        await walk(full);
      } else out[rel] = (await readFile(full)).toString('base64');
    }
  }
  await walk(root);
  return out;
}

describe('cairn end to end', () => {
  it('init, backup, change, backup, snapshots, ls, diff, restore (by id, latest, --at, --include)', async () => {
    expect(await ok(['init', '--repo', repo])).toMatch(/^created repository at /);
    const again = await cli(['init', '--repo', repo], { env });
    expect(again.code).toBe(1);
    expect(expectOneErrorLine(again.stderr)).toContain('already exists');

    const before = await tree(data);
    const first = await backupJson('--tag', 'first');
    expect(first.id).toMatch(/^[0-9a-f]{64}$/);
    expect(first.summary.filesNew).toBe(4);
    expect(first.warnings).toEqual([]);

    await writeFile(join(data, 'a.txt'), 'alpha, changed\n');
    await writeFile(join(data, 'new.txt'), 'new\n');
    await rm(join(data, 'empty.txt'));
    const after = await tree(data);
    const human = (await ok(['backup', data, '--repo', repo])).trimEnd().split('\n');
    expect(human).toHaveLength(2);
    expect(human[0]).toMatch(/^snapshot [0-9a-f]{8} saved: \d+ files \(1 new, 1 changed, 2 unchanged\), .* read, .* added in /);
    const second = human[1]!;
    expect(second).toMatch(/^[0-9a-f]{64}$/);
    expect(second.startsWith(human[0]!.slice(9, 17))).toBe(true);
    expect((await ok(['backup', data, '--repo', repo, '--quiet'])).trim()).toMatch(/^[0-9a-f]{64}$/);

    const snapshots = JSON.parse(await ok(['snapshots', '--repo', repo, '--json'])) as Array<Record<string, unknown>>;
    expect(snapshots.map((s) => s.id).slice(0, 2)).toEqual([first.id, second]);
    expect(snapshots[0]).toMatchObject({ shortId: first.id.slice(0, 8), tags: ['first'], paths: [data] });
    expect(Object.keys(snapshots[0]!)).toEqual(expect.arrayContaining(['id', 'shortId', 'time', 'host', 'paths', 'tags', 'summary']));
    const table = await ok(['snapshots', '--repo', repo]);
    expect(table).toContain(first.id.slice(0, 8));
    expect(table).toMatch(/3 snapshots\n$/);

    const listed = await ok(['ls', first.id.slice(0, 8), '--repo', repo, '--json']);
    const nodes = JSON.parse(listed) as Array<{ path: string; type: string; size: number; linkTarget?: string }>;
    // Streamed line by line, it is still exactly the array JSON.stringify gives.
    expect(listed).toBe(`${JSON.stringify(nodes, null, 2)}\n`);
    expect(nodes.map((n) => n.path)).toEqual(expect.arrayContaining(['data/a.txt', 'data/docs/reports/q1 résumé.txt', 'data/empty dir', 'data/link']));
    expect(nodes.find((n) => n.path === 'data/link')).toMatchObject({ type: 'symlink', linkTarget: 'a.txt' });
    expect(nodes.find((n) => n.path === 'data/docs/big.bin')?.size).toBe(3 * 1024 * 1024);
    const listing = await ok(['ls', 'latest', 'data/docs', '--repo', repo]);
    expect(listing).toContain('data/docs/big.bin');
    expect(listing).not.toContain('a.txt');
    expect(listing).toMatch(/^-rw-/m);

    const diffed = await ok(['diff', first.id, second, '--repo', repo, '--json']);
    const changes = JSON.parse(diffed) as Array<{ path: string; change: string }>;
    expect(diffed).toBe(`${JSON.stringify(changes, null, 2)}\n`);
    expect(changes).toEqual(expect.arrayContaining([
      expect.objectContaining({ path: 'data/a.txt', change: 'modified' }),
      expect.objectContaining({ path: 'data/new.txt', change: 'added' }),
      expect.objectContaining({ path: 'data/empty.txt', change: 'removed' }),
    ]));
    const diffText = await ok(['diff', first.id, second, '--repo', repo]);
    expect(diffText).toContain('M  data/a.txt\n');
    expect(diffText).toContain('+  data/new.txt\n');
    expect(diffText).toContain('-  data/empty.txt\n');

    const out1 = join(dir.path, 'out1');
    expect(await ok(['restore', first.id.slice(0, 10), '--repo', repo, '--target', out1])).toMatch(/^restored snapshot [0-9a-f]{8} .* into /);
    expect(await tree(join(out1, 'data'))).toEqual(before);

    const outLatest = join(dir.path, 'out-latest');
    await ok(['restore', 'latest', '--repo', repo, '--target', outLatest]);
    expect(await tree(join(outLatest, 'data'))).toEqual(after);

    const firstTime = snapshots[0]!.time as string;
    const secondTime = new Date(snapshots[1]!.time as string);
    const outAt = join(dir.path, 'out-at');
    await ok(['restore', '--at', firstTime, '--repo', repo, '--target', outAt]);
    expect(await tree(join(outAt, 'data'))).toEqual(before);
    const outAt2 = join(dir.path, 'out-at2');
    await ok(['restore', 'latest', '--at', new Date(secondTime.getTime()).toISOString(), '--repo', repo, '--target', outAt2]);
    expect(await tree(join(outAt2, 'data'))).toEqual(after);
    const tooEarly = await cli(['restore', '--at', '2000-01-01T00:00:00Z', '--repo', repo, '--target', join(dir.path, 'never')], { env });
    expect(tooEarly.code).toBe(1);
    expectOneErrorLine(tooEarly.stderr);

    const outInclude = join(dir.path, 'out-include');
    await ok(['restore', 'latest', '--repo', repo, '--target', outInclude, '--include', 'data/docs/reports']);
    const included = await tree(outInclude);
    expect(included['data/docs/reports/q1 résumé.txt']).toBe(Buffer.from('quarter one\n').toString('base64'));
    expect(Object.keys(included).filter((p) => !p.endsWith('/'))).toEqual(['data/docs/reports/q1 résumé.txt']);
  });

  it('check and check --read-data report a healthy repository', async () => {
    await ok(['init', '--repo', repo]);
    await backupJson();
    expect(await ok(['check', '--repo', repo])).toMatch(/^no problems found: 1 snapshot, /);
    const report = JSON.parse(await ok(['check', '--repo', repo, '--read-data', '--json']));
    expect(report).toMatchObject({ ok: true, snapshots: 1, problems: [] });
    expect(report.bytesRead).toBeGreaterThan(0);
  });

  it('forget --keep-last 1 --prune removes the older snapshots; --dry-run removes nothing', async () => {
    await ok(['init', '--repo', repo]);
    const first = await backupJson();
    await writeFile(join(data, 'docs', 'big.bin'), Buffer.alloc(2 * 1024 * 1024, 9));
    const second = await backupJson();

    const dry = JSON.parse(await ok(['forget', '--repo', repo, '--keep-last', '1', '--dry-run', '--json']));
    expect(dry.remove.map((s: { id: string }) => s.id)).toEqual([first.id]);
    expect(JSON.parse(await ok(['snapshots', '--repo', repo, '--json']))).toHaveLength(2);

    const result = JSON.parse(await ok(['forget', '--repo', repo, '--keep-last', '1', '--prune', '--json']));
    expect(result.keep.map((k: { id: string }) => k.id)).toEqual([second.id]);
    expect(result.keep[0].reasons.length).toBeGreaterThan(0);
    expect(result.remove.map((s: { id: string }) => s.id)).toEqual([first.id]);
    expect(result.prune.bytesFreed).toBeGreaterThan(0);
    const remaining = JSON.parse(await ok(['snapshots', '--repo', repo, '--json']));
    expect(remaining.map((s: { id: string }) => s.id)).toEqual([second.id]);
    expect(await ok(['check', '--repo', repo, '--read-data'])).toMatch(/^no problems found/);
    expect(await ok(['prune', '--repo', repo, '--dry-run'])).toMatch(/^prune: would delete 0 packs/);
  });

  it('a wrong password is exit 1 with one line', async () => {
    await ok(['init', '--repo', repo]);
    const result = await cli(['snapshots', '--repo', repo], { env: { CAIRN_PASSWORD: 'wrong' } });
    expect(result.code).toBe(1);
    expect(expectOneErrorLine(result.stderr)).toBe(`cairn: wrong password for repository ${repo}: check CAIRN_PASSWORD or --password-file`);
  });

  it('an unknown snapshot or path is exit 1 with one line', async () => {
    await ok(['init', '--repo', repo]);
    await backupJson();
    const snapshot = await cli(['ls', 'deadbeefdeadbeef', '--repo', repo], { env });
    expect(snapshot.code).toBe(1);
    expect(expectOneErrorLine(snapshot.stderr)).toMatch(/list snapshots with `cairn snapshots --repo /);
    const path = await cli(['restore', 'latest', '--repo', repo, '--target', join(dir.path, 'out'), '--include', 'data/nope'], { env });
    expect(path.code).toBe(1);
    expect(expectOneErrorLine(path.stderr)).toMatch(/^cairn: (nothing in snapshot [0-9a-f]{8} matches --include data\/nope|.*data\/nope)/);
  });

  it('a missing repository is exit 1 with the command that creates it', async () => {
    const result = await cli(['snapshots', '--repo', 'repo'], { env, cwd: dir.path });
    expect(result.code).toBe(1);
    expect(expectOneErrorLine(result.stderr)).toBe('cairn: no repository at repo: run `cairn init --repo repo` first');
  });

  it('reads the repository and password from the environment and password files', async () => {
    await writeFile(join(dir.path, 'pw'), 'from a file\n');
    await ok(['init', '--password-file', 'pw'], { CAIRN_REPOSITORY: repo, CAIRN_PASSWORD: 'ignored' });
    expect(await ok(['snapshots', '--json'], { CAIRN_REPOSITORY: repo, CAIRN_PASSWORD: 'from a file' })).toBe('[]\n');
  });

  it('key passwd changes the password', async () => {
    await ok(['init', '--repo', repo]);
    await ok(['key', 'passwd', '--repo', repo], { CAIRN_NEW_PASSWORD: 'new secret' });
    expect((await cli(['snapshots', '--repo', repo], { env })).code).toBe(1);
    expect(await ok(['snapshots', '--repo', repo, '--json'], { CAIRN_PASSWORD: 'new secret' })).toBe('[]\n');
  });

  it('an entry that cannot be backed up (a name that is not UTF-8) is a counted warning, exit 3, even as root', async () => {
    await ok(['init', '--repo', repo]);
    await writeFile(Buffer.concat([Buffer.from(`${data}/bad-`), Buffer.from([0xff, 0xfe])]), 'x');
    const result = await cli(['backup', data, '--repo', repo], { env });
    expect(result.code).toBe(3);
    expect(result.stdout).toMatch(/^snapshot [0-9a-f]{8} saved: /);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^cairn: warning: .*bad-.*UTF-8/);
    expect(lines[1]).toMatch(/^cairn: warning: 1 entry could not be read; snapshot [0-9a-f]{8} was saved but is incomplete$/);
  });

  it('the snapshot of a backup with a source warning is listed as incomplete', async () => {
    await ok(['init', '--repo', repo]);
    await writeFile(Buffer.concat([Buffer.from(`${data}/bad-`), Buffer.from([0xff, 0xfe])]), 'x');
    expect((await cli(['backup', data, '--repo', repo], { env })).code).toBe(3);
    const [snapshot] = JSON.parse(await ok(['snapshots', '--repo', repo, '--json']));
    expect(snapshot.summary).toMatchObject({ warnings: 1, complete: false });
    expect(await ok(['snapshots', '--repo', repo])).toContain('(incomplete)');
  });

  it('an aborted backup exits 130 (SIGINT) or 143 (SIGTERM) with one line', async () => {
    await ok(['init', '--repo', repo]);
    const sigint = await cli(['backup', data, '--repo', repo], { env, signal: AbortSignal.abort('SIGINT') });
    expect(sigint.code).toBe(130);
    expect(expectOneErrorLine(sigint.stderr)).toBe('cairn: interrupted');
    const sigterm = await cli(['backup', data, '--repo', repo], { env, signal: AbortSignal.abort('SIGTERM') });
    expect(sigterm.code).toBe(143);
    expect(JSON.parse(await ok(['snapshots', '--repo', repo, '--json']))).toHaveLength(0);
    expect(await ok(['check', '--repo', repo])).toMatch(/^no problems found/);
  });

  it('a SIGTERM to the process aborts the run through its handlers, which are removed afterwards', async () => {
    await ok(['init', '--repo', repo]);
    let stderr = '';
    const running = run(['backup', data, '--repo', repo], {
      stdout: { write: () => true },
      stderr: { write: (text: string) => { stderr += text; return true; } },
      env, cwd: dir.path, handleSignals: true,
    });
    expect(process.listenerCount('SIGTERM')).toBe(1);
    process.emit('SIGTERM', 'SIGTERM');
    expect(await running).toBe(143);
    expect(expectOneErrorLine(stderr)).toBe('cairn: interrupted');
    expect(process.listenerCount('SIGTERM')).toBe(0);
    expect(process.listenerCount('SIGINT')).toBe(0);
  });

  it('shows a progress bar only on a TTY and never with --json', async () => {
    await ok(['init', '--repo', repo]);
    const tty = await cli(['backup', data, '--repo', repo], { env, isTTY: true });
    expect(tty.code).toBe(0);
    expect(tty.stderr).not.toMatch(/\n\s+at /);
    const piped = await cli(['backup', data, '--repo', repo], { env, isTTY: false });
    expect(piped.stderr).toBe('');
    const json = await cli(['backup', data, '--repo', repo, '--json'], { env, isTTY: true });
    expect(json.stderr).toBe('');
  });
});
