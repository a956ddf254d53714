import { chmod, chown, lstat, mkdir, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { oneErrorLine, writeRandomFile } from './acceptance-helpers.js';
import { cli, tempDir, type CliResult } from './helpers.js';

/**
 * Acceptance: wrong password, corrupted pack, truncated index, missing repository, unwritable
 * target directory and unreadable source file each give one clear line on stderr and exit 1
 * (exit 3 with counted warnings for an unreadable source file, as the CLI README documents),
 * never a stack trace, and never a partial restore reported as a success.
 */

const MiB = 1024 * 1024;
const PASSWORD = 'the right password';
const NOBODY = 65_534;
const isRoot = process.geteuid?.() === 0;

let dir: { path: string; cleanup: () => Promise<void> };
let repo: string;
let data: string;

beforeEach(async () => {
  dir = await tempDir('cairn-acceptance-bad-');
  repo = join(dir.path, 'repo');
  data = join(dir.path, 'data');
  await mkdir(join(data, 'docs'), { recursive: true });
  await writeFile(join(data, 'small.txt'), 'small\n');
  await writeFile(join(data, 'docs', 'note.txt'), 'a note\n');
  await writeRandomFile(join(data, 'big.bin'), 9, 6 * MiB);
});
afterEach(async () => {
  await dir.cleanup();
});

async function run(args: string[], password = PASSWORD): Promise<CliResult> {
  return cli(args, { env: { CAIRN_PASSWORD: password }, cwd: dir.path });
}

async function ok(args: string[]): Promise<string> {
  const result = await run(args);
  if (result.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** Exit 1, one `cairn: …` line on stderr, no stack frame; returns the line. */
function failsWithOneLine(result: CliResult): string {
  expect(result.code, result.stderr).toBe(1);
  expect(result.stderr).not.toContain('    at ');
  return oneErrorLine(result.stderr);
}

async function backedUp(): Promise<string> {
  await ok(['init', '--repo', repo]);
  return (JSON.parse(await ok(['backup', data, '--repo', repo, '--json'])) as { id: string }).id;
}

async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

/** Runs `fn` with the effective uid of user nobody (root only: root ignores file modes). */
async function asNobody<T>(fn: () => Promise<T>): Promise<T> {
  if (!isRoot) return fn();
  process.seteuid!(NOBODY);
  try {
    return await fn();
  } finally {
    process.seteuid!(0);
  }
}

/** Hands the test directory and the repository to nobody, so it can take locks and write. */
async function shareWithNobody(): Promise<void> {
  if (!isRoot) return;
  await chmod(dir.path, 0o755);
  await chown(repo, NOBODY, NOBODY);
  for (const entry of await readdir(repo, { recursive: true })) await chown(join(repo, entry), NOBODY, NOBODY);
}

describe('acceptance: bad inputs give one clear line and exit 1', () => {
  it('wrong password: every command refuses with the same line, and nothing is written', async () => {
    const id = await backedUp();
    const expected = `cairn: wrong password for repository ${repo}: check CAIRN_PASSWORD or --password-file`;
    const target = join(dir.path, 'out');
    for (const args of [
      ['snapshots', '--repo', repo],
      ['backup', data, '--repo', repo],
      ['restore', id, '--repo', repo, '--target', target],
      ['check', '--repo', repo, '--read-data'],
      ['ls', 'latest', '--repo', repo],
      ['forget', '--repo', repo, '--keep-last', '1'],
    ]) {
      expect(failsWithOneLine(await run(args, 'not the password')), args[0]).toBe(expected);
    }
    await expect(lstat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(JSON.parse(await ok(['snapshots', '--repo', repo, '--json']))).toHaveLength(1);
  });

  it('corrupted pack: check --read-data names the snapshot and file; restore fails and is not reported as done', async () => {
    const id = await backedUp();
    // The largest pack holds big.bin's chunks; bytes in its middle are inside one of them.
    const packs = await Promise.all((await filesUnder(join(repo, 'data'))).map(async (path) => ({ path, size: (await stat(path)).size })));
    const pack = packs.sort((a, b) => b.size - a.size)[0]!;
    expect(pack.size).toBeGreaterThan(5 * MiB);
    await chmod(pack.path, 0o644);
    const handle = await open(pack.path, 'r+');
    const middle = Math.floor(pack.size / 2);
    const original = Buffer.alloc(16);
    await handle.read(original, 0, 16, middle);
    await handle.write(original.map((b) => b ^ 0xff), 0, 16, middle);
    await handle.close();

    const plain = await run(['check', '--repo', repo]);
    expect(plain.code).toBe(0); // structure and references are intact; only --read-data reads the bytes

    const check = await run(['check', '--repo', repo, '--read-data']);
    expect(failsWithOneLine(check)).toMatch(/^cairn: check found \d+ problems? \(listed above\); the affected snapshots cannot be fully restored$/);
    expect(check.stdout).toContain(`affects snapshot ${id.slice(0, 8)}: data/big.bin`);
    expect(check.stdout).not.toContain('small.txt');
    const report = JSON.parse((await run(['check', '--repo', repo, '--read-data', '--json'])).stdout) as {
      ok: boolean; problems: Array<{ affects: Array<{ snapshot: string; path?: string }> }>;
    };
    expect(report.ok).toBe(false);
    expect(report.problems.flatMap((p) => p.affects)).toContainEqual({ snapshot: id, path: 'data/big.bin' });

    for (const json of [false, true]) {
      const target = join(dir.path, `out-${json}`);
      const restore = await run(['restore', id, '--repo', repo, '--target', target, ...(json ? ['--json'] : [])]);
      expect(failsWithOneLine(restore)).toMatch(/^cairn: repository .* is damaged: .*; run `cairn check --repo .* --read-data` to see what is affected$/);
      expect(restore.stdout).toBe(''); // no "restored snapshot …" line, no JSON result
    }
  });

  it('missing pack: check names the affected files; restore says the repository is damaged and what to run', async () => {
    const id = await backedUp();
    const packs = await Promise.all((await filesUnder(join(repo, 'data'))).map(async (path) => ({ path, size: (await stat(path)).size })));
    const pack = packs.sort((a, b) => b.size - a.size)[0]!;
    await rm(pack.path);

    const check = await run(['check', '--repo', repo]);
    failsWithOneLine(check);
    expect(check.stdout).toContain(`affects snapshot ${id.slice(0, 8)}: data/big.bin`);
    const restore = await run(['restore', id, '--repo', repo, '--target', join(dir.path, 'out')]);
    // Not the target's bare "no object data/…": the user must learn the repository is damaged, and what to do.
    expect(failsWithOneLine(restore)).toMatch(/^cairn: repository .* is damaged: .*missing.*; run `cairn check --repo .* --read-data` to see what is affected$/);
    expect(restore.stdout).toBe('');
  });

  it('truncated index: check, restore and backup fail with one line; listing snapshots does not need the index', async () => {
    const id = await backedUp();
    const [indexFile] = await filesUnder(join(repo, 'index'));
    await truncate(indexFile!, Math.floor((await stat(indexFile!)).size / 2));

    const check = await run(['check', '--repo', repo]);
    failsWithOneLine(check);
    expect(check.stdout).toMatch(/^error: .*index/m);
    const restore = await run(['restore', id, '--repo', repo, '--target', join(dir.path, 'out')]);
    expect(failsWithOneLine(restore)).toMatch(/^cairn: repository .* is damaged: .*index/);
    expect(restore.stdout).toBe('');
    const backup = await run(['backup', data, '--repo', repo]);
    expect(failsWithOneLine(backup)).toMatch(/^cairn: repository .* is damaged: /);
    expect(backup.stdout).toBe('');
    // Snapshots are separate objects: they stay listable, so the user can see what is affected.
    const listed = await run(['snapshots', '--repo', repo, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ id: string }>).map((s) => s.id)).toEqual([id]);
  });

  it('missing repository: every command says how to create one, and nothing is created', async () => {
    const missing = join(dir.path, 'no-such-repo');
    const expected = `cairn: no repository at ${missing}: run \`cairn init --repo ${missing}\` first`;
    for (const args of [
      ['snapshots', '--repo', missing],
      ['backup', data, '--repo', missing],
      ['restore', 'latest', '--repo', missing, '--target', join(dir.path, 'out')],
      ['check', '--repo', missing, '--read-data'],
    ]) {
      expect(failsWithOneLine(await run(args)), args[0]).toBe(expected);
    }
    await expect(lstat(missing)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(lstat(join(dir.path, 'out'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('unwritable target directory: a path under a regular file (fails even for root) and an existing file', async () => {
    const id = await backedUp();
    // mkdir under a regular file is ENOTDIR whatever the caller's privileges, unlike a chmod-ed folder.
    const file = join(dir.path, 'file.txt');
    await writeFile(file, 'not a directory\n');
    const under = await run(['restore', id, '--repo', repo, '--target', join(file, 'sub')]);
    expect(failsWithOneLine(under)).toMatch(/^cairn: cannot write to restore directory .*file\.txt\/sub \(ENOTDIR\): choose a writable directory$/);
    expect(under.stdout).toBe('');
    const onFile = await run(['restore', id, '--repo', repo, '--target', file]);
    expect(failsWithOneLine(onFile)).toMatch(/^cairn: cannot write to restore directory .*file\.txt \((EEXIST|ENOTDIR)\): choose a writable directory$/);
    expect(onFile.stdout).toBe('');
    expect(await readFile(file, 'utf8')).toBe('not a directory\n');
  });

  it('unwritable target directory: a folder the user may not write to (as user nobody when run as root)', async () => {
    const id = await backedUp();
    const locked = join(dir.path, 'locked');
    await mkdir(locked, { mode: 0o755 });
    if (!isRoot) await chmod(locked, 0o555);
    await shareWithNobody();
    const result = await asNobody(() => run(['restore', id, '--repo', repo, '--target', join(locked, 'out')]));
    expect(failsWithOneLine(result)).toMatch(/^cairn: cannot write to restore directory .*locked\/out \(EACCES\): choose a writable directory$/);
    expect(result.stdout).toBe('');
    expect(await readdir(locked)).toEqual([]);
  });

  it('unreadable source file: a counted warning, the snapshot is saved as incomplete, exit 3', async () => {
    await ok(['init', '--repo', repo]);
    await writeFile(join(data, 'docs', 'secret.txt'), 'for root only\n');
    await chmod(join(data, 'docs', 'secret.txt'), 0o000);
    await shareWithNobody();
    const result = await asNobody(() => run(['backup', data, '--repo', repo, '--json']));
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).not.toContain('    at ');
    const output = JSON.parse(result.stdout) as { id: string; summary: { warnings: number; complete: boolean; filesNew: number }; warnings: Array<{ path: string; message: string }> };
    expect(output.warnings).toEqual([{ path: 'data/docs/secret.txt', message: expect.stringMatching(/EACCES/) }]);
    expect(output.summary).toMatchObject({ warnings: 1, complete: false, filesNew: 3 });
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^cairn: warning: data\/docs\/secret\.txt: .*EACCES/);
    expect(lines[1]).toBe(`cairn: warning: 1 entry could not be read; snapshot ${output.id.slice(0, 8)} was saved but is incomplete`);

    // The readable files were saved and restore; the unreadable one is absent, not an empty stand-in.
    const out = join(dir.path, 'out');
    await ok(['restore', output.id, '--repo', repo, '--target', out]);
    expect(await readFile(join(out, 'data', 'docs', 'note.txt'), 'utf8')).toBe('a note\n');
    await expect(lstat(join(out, 'data', 'docs', 'secret.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
