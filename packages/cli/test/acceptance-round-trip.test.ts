import { appendFile, chmod, lutimes, mkdir, rm, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifest, overwriteRange, writeRandomFile, type ManifestEntry } from './acceptance-helpers.js';
import { cli, tempDir } from './helpers.js';

/**
 * Acceptance: round trip exact. A generated tree (unicode and space names, empty files and
 * directories, nested directories, relative, absolute and dangling symlinks, modes, mtimes,
 * files from 0 B to 200 MiB) is backed up, changed, backed up, changed, backed up. Restoring
 * each snapshot gives back exactly that version, compared by a full manifest (type, mode, size,
 * mtime to the ms, symlink target, SHA-256 of the content), and `--at` picks the right one.
 */

const MiB = 1024 * 1024;
const env = { CAIRN_PASSWORD: 'round trip password' };
/** Whole seconds plus microseconds: the precision a backup keeps. */
const time = (n: number): number => 1_600_000_000 + n * 3600 + 0.123456 + n / 1000;

type Manifest = Record<string, ManifestEntry>;
let dir: { path: string; cleanup: () => Promise<void> };
let data: string;
let repo: string;
const hashes = new Map<string, string>();

beforeAll(async () => {
  dir = await tempDir('cairn-acceptance-rt-');
  data = join(dir.path, 'data');
  repo = join(dir.path, 'repo');
});
afterAll(async () => {
  await dir?.cleanup();
});

async function ok(args: string[]): Promise<string> {
  const result = await cli(args, { env, cwd: dir.path });
  if (result.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

interface BackupOutput {
  id: string;
  summary: { filesNew: number; filesChanged: number; filesUnchanged: number; bytesRead: number; bytesAdded: number; bytesTotal: number };
  warnings: unknown[];
}

async function backup(): Promise<BackupOutput> {
  return JSON.parse(await ok(['backup', data, '--repo', repo, '--json'])) as BackupOutput;
}

/** Sets the mtime of a node without following symlinks. */
async function stamp(rel: string, n: number): Promise<void> {
  await lutimes(join(data, rel), time(n), time(n));
}

/** Version 1: every kind of node, mode and size the acceptance criteria name. */
async function buildVersion1(): Promise<void> {
  const d = (rel: string): string => join(data, rel);
  for (const rel of ['nested/deep/deeper', 'empty dir', 'empty nested/inner empty', 'space dir', 'ünïcödé 目录 😀', 'private dir', 'readonly dir', 'sizes', 'big', 'swap later']) {
    await mkdir(d(rel), { recursive: true });
  }
  await writeFile(d('a.txt'), 'alpha\n');
  await writeFile(d('empty.txt'), '');
  await writeFile(d('one.bin'), 'x');
  await writeFile(d('space dir/file with  two spaces .txt'), 'spaces\n');
  await writeFile(d('ünïcödé 目录 😀/naïve café.txt'), 'composed é\n');
  await writeFile(d('ünïcödé 目录 😀/naïve cafe\u0301.txt'), 'decomposed é: another name\n');
  await writeFile(d('nested/deep/deeper/leaf.txt'), 'leaf\n');
  await writeFile(d('private dir/secret.key'), 'key material\n', { mode: 0o600 });
  await writeFile(d('run.sh'), '#!/bin/sh\necho hi\n');
  await writeFile(d('readonly.txt'), 'do not edit\n');
  await writeFile(d('readonly dir/inside.txt'), 'in a read-only directory\n');
  await writeFile(d('swap later/inside'), 'will become a file\n');
  await writeFile(d('compressible.txt'), 'the same line again and again\n'.repeat(150_000));
  const sizes = [0, 1, 4095, 4096, 65_537, MiB - 1, MiB + 1, 3 * MiB + 7, 17 * MiB];
  for (const [i, size] of sizes.entries()) await writeRandomFile(d(`sizes/${size}.bin`), 100 + i, size);
  await writeRandomFile(d('big/200 MiB.bin'), 1, 200 * MiB);
  await symlink('a.txt', d('link-rel'));
  await symlink('nested/deep', d('link-dir'));
  await symlink('../../a.txt', d('nested/deep/up-link'));
  await symlink('does/not/exist', d('dangling'));
  await symlink('/etc/hostname', d('abs-link'));

  await chmod(d('private dir/secret.key'), 0o600);
  await chmod(d('run.sh'), 0o755);
  await chmod(d('readonly.txt'), 0o444);
  await chmod(d('private dir'), 0o700);
  await chmod(d('space dir'), 0o750);
  await chmod(d('empty dir'), 0o711);

  const nodes = [
    'a.txt', 'empty.txt', 'one.bin', 'space dir/file with  two spaces .txt', 'ünïcödé 目录 😀/naïve café.txt',
    'ünïcödé 目录 😀/naïve cafe\u0301.txt', 'nested/deep/deeper/leaf.txt', 'private dir/secret.key', 'run.sh', 'readonly.txt',
    'readonly dir/inside.txt', 'swap later/inside', 'compressible.txt', ...sizes.map((s) => `sizes/${s}.bin`), 'big/200 MiB.bin',
    'link-rel', 'link-dir', 'nested/deep/up-link', 'dangling', 'abs-link',
    // Directories last, deepest first: creating their contents changed their mtimes.
    'nested/deep/deeper', 'nested/deep', 'nested', 'empty nested/inner empty', 'empty nested', 'empty dir', 'space dir',
    'ünïcödé 目录 😀', 'private dir', 'readonly dir', 'sizes', 'big', 'swap later',
  ];
  for (const [i, rel] of nodes.entries()) await stamp(rel, i);
  // A read-only directory: its mode is set after its mtime, as chmod does not touch mtime.
  await chmod(d('readonly dir'), 0o555);
}

/** Version 2: modify, delete, add, chmod, touch, retarget a symlink, turn a directory into a file. */
async function changeToVersion2(): Promise<void> {
  const d = (rel: string): string => join(data, rel);
  await writeFile(d('a.txt'), 'alpha, modified and longer\n');
  await overwriteRange(d('sizes/17825792.bin'), 7, 8 * MiB + 12_345, 100); // a mid-file edit, same size
  await rm(d('one.bin'));
  await rm(d('empty nested'), { recursive: true });
  await mkdir(d('new dir'));
  await writeFile(d('new dir/new file.txt'), 'new\n');
  await writeRandomFile(d('added 😀.bin'), 42, 2 * MiB + 3);
  await chmod(d('private dir/secret.key'), 0o640);
  await chmod(d('run.sh'), 0o700);
  await utimes(d('readonly.txt'), time(50), time(50)); // touched: same content, new mtime
  await rm(d('link-rel'));
  await symlink('space dir/file with  two spaces .txt', d('link-rel'));
  await rm(d('swap later'), { recursive: true });
  await writeFile(d('swap later'), 'now a file\n');
  for (const [i, rel] of ['a.txt', 'sizes/17825792.bin', 'new dir/new file.txt', 'link-rel', 'swap later', 'new dir', 'sizes'].entries()) {
    await stamp(rel, 60 + i);
  }
}

/** Version 3: append to the large file, empty a file, delete a symlink and files, touch a directory. */
async function changeToVersion3(): Promise<void> {
  const d = (rel: string): string => join(data, rel);
  await appendFile(d('big/200 MiB.bin'), Buffer.from('appended tail\n'));
  await truncate(d('compressible.txt'), 0);
  await rm(d('dangling'));
  await rm(d('sizes/4095.bin'));
  await rm(d('added 😀.bin'));
  await writeFile(d('empty dir/no longer empty'), '');
  await chmod(d('readonly dir'), 0o755);
  await writeFile(d('readonly dir/inside.txt'), 'writable now\n');
  await chmod(d('readonly.txt'), 0o644);
  for (const [i, rel] of ['big/200 MiB.bin', 'compressible.txt', 'readonly dir/inside.txt', 'empty dir', 'readonly dir', 'big'].entries()) {
    await stamp(rel, 80 + i);
  }
}

describe('acceptance: round trip exact', () => {
  it('restores every version exactly, and --at picks the snapshot in force at that time', async () => {
    await mkdir(data);
    await buildVersion1();
    await ok(['init', '--repo', repo]);

    const versions: Array<{ manifest: Manifest; backup: BackupOutput }> = [];
    const v1 = await manifest(data, hashes);
    versions.push({ manifest: v1, backup: await backup() });
    expect(versions[0]!.backup.warnings).toEqual([]);

    await changeToVersion2();
    const v2 = await manifest(data, hashes);
    versions.push({ manifest: v2, backup: await backup() });

    await changeToVersion3();
    const v3 = await manifest(data, hashes);
    versions.push({ manifest: v3, backup: await backup() });

    // The tree really holds what the criteria ask for, so a restore of it proves something.
    expect(v1['big/200 MiB.bin']).toMatchObject({ type: 'file', size: 200 * MiB });
    expect(v1['empty.txt']).toMatchObject({ type: 'file', size: 0 });
    expect(v1['empty dir']).toMatchObject({ type: 'dir', mode: 0o711 });
    expect(v1['dangling']).toMatchObject({ type: 'symlink', linkTarget: 'does/not/exist' });
    expect(v1['readonly dir']).toMatchObject({ type: 'dir', mode: 0o555 });
    expect(v1['readonly.txt']).toMatchObject({ mode: 0o444 });
    expect(v1['private dir/secret.key']).toMatchObject({ mode: 0o600 });
    expect(v1['run.sh']).toMatchObject({ mode: 0o755 });
    expect(v2['swap later']).toMatchObject({ type: 'file' });
    expect(v3['big/200 MiB.bin']!.size).toBe(200 * MiB + 14);

    // Incremental: unchanged content is not read again, and a 100-byte edit inside 17 MiB stores little.
    const s2 = versions[1]!.backup.summary;
    expect(s2.bytesRead).toBeLessThan(17 * MiB + 3 * MiB); // the edited 17 MiB file and the new 2 MiB one, not the 200 MiB one
    expect(s2.bytesAdded).toBeLessThan(8 * MiB);
    expect(s2.filesChanged).toBeGreaterThanOrEqual(3); // a.txt, the 17 MiB file, the touched readonly.txt
    expect(versions[2]!.backup.summary.bytesAdded).toBeLessThan(8 * MiB); // an append to 200 MiB reuses its chunks

    for (const [i, version] of versions.entries()) {
      const out = join(dir.path, `restore-${i + 1}`);
      const restored = JSON.parse(await ok(['restore', version.backup.id, '--repo', repo, '--target', out, '--json'])) as { snapshot: string };
      expect(restored.snapshot).toBe(version.backup.id);
      expect(await manifest(join(out, 'data'))).toEqual(version.manifest);
      await rm(out, { recursive: true, force: true }); // keeps the disk footprint to one restore at a time
    }

    // Point in time: the newest snapshot taken at or before --at, checked through a small --include.
    const snapshots = JSON.parse(await ok(['snapshots', '--repo', repo, '--json'])) as Array<{ id: string; time: string }>;
    expect(snapshots.map((s) => s.id)).toEqual(versions.map((v) => v.backup.id));
    const times = snapshots.map((s) => Date.parse(s.time));
    const probes: Array<{ at: number; version: number }> = [
      { at: times[0]!, version: 0 },
      { at: Math.floor((times[0]! + times[1]!) / 2), version: 0 },
      { at: times[1]! - 1, version: 0 },
      { at: times[1]!, version: 1 },
      { at: Math.floor((times[1]! + times[2]!) / 2), version: 1 },
      { at: times[2]!, version: 2 },
      { at: times[2]! + 86_400_000, version: 2 },
    ];
    expect(times[1]! - times[0]!).toBeGreaterThan(1);
    for (const [i, probe] of probes.entries()) {
      const out = join(dir.path, `at-${i}`);
      const restored = JSON.parse(await ok([
        'restore', '--at', new Date(probe.at).toISOString(), '--repo', repo, '--target', out, '--include', 'data/a.txt', '--json',
      ])) as { snapshot: string };
      expect(restored.snapshot, `--at ${new Date(probe.at).toISOString()}`).toBe(versions[probe.version]!.backup.id);
      const got = await manifest(join(out, 'data'));
      expect(got['a.txt']).toEqual(versions[probe.version]!.manifest['a.txt']);
      expect(Object.keys(got)).toEqual(['a.txt']);
    }
    const tooEarly = await cli(['restore', '--at', new Date(times[0]! - 1).toISOString(), '--repo', repo, '--target', join(dir.path, 'never')], { env });
    expect(tooEarly.code).toBe(1);
    expect(tooEarly.stderr).toMatch(/^cairn: no snapshot was taken at or before /);
  });
});
