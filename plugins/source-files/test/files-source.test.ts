import { execFileSync } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, SourceError } from '@cairn/core';
import type { RestoreEntry, SourceEntry, SourceInstance } from '@cairn/core';
import { asUnprivileged, backupContext, collect, describeSourceConformance, digest } from '@cairn/testkit';
import { filesSource } from '../src/index.js';

describeSourceConformance('files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-files-conf-'));
  await buildTree(join(dir, 'tree'));
  return { source: filesSource({ path: join(dir, 'tree') }), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

const T1 = new Date(Date.UTC(2020, 1, 2, 3, 4, 5, 678));
const T2 = new Date(Date.UTC(2011, 10, 9, 8, 7, 6));

/** A tree with the awkward cases: unicode and space names, empty files and dirs, symlinks, nesting. */
async function buildTree(root: string): Promise<void> {
  await mkdir(join(root, 'space dir'), { recursive: true });
  await mkdir(join(root, 'empty-dir'));
  await mkdir(join(root, 'nested/deep/deeper'), { recursive: true });
  await writeFile(join(root, 'a.txt'), 'alpha\n');
  await writeFile(join(root, 'b.txt'), 'bravo bravo\n');
  await writeFile(join(root, 'Z upper.txt'), 'zulu');
  await writeFile(join(root, 'ä unicode.txt'), 'ümlaut');
  await writeFile(join(root, '\uFF21 fullwidth'), 'fullwidth A'); // UTF-8 EF BC A1: sorts before the emoji by bytes,
  await writeFile(join(root, '😀 emoji'), 'smile'); //                  although its UTF-16 unit FF21 sorts after D83D.
  await writeFile(join(root, 'empty.txt'), '');
  await writeFile(join(root, 'space dir/inner file.txt'), 'inner');
  await writeFile(join(root, 'nested/deep/deeper/file.bin'), Buffer.alloc(3 * 1024 * 1024 + 3, 7));
  await chmod(join(root, 'b.txt'), 0o600);
  await chmod(join(root, 'space dir'), 0o750);
  await symlink('a.txt', join(root, 'link-rel'));
  await symlink('does/not/exist', join(root, 'link-dangling'));
  await utimes(join(root, 'a.txt'), T1, T1);
  await utimes(join(root, 'empty-dir'), T2, T2);
}

const EXPECTED_ORDER = [
  'Z upper.txt', 'a.txt', 'b.txt', 'empty-dir', 'empty.txt', 'link-dangling', 'link-rel',
  'nested', 'nested/deep', 'nested/deep/deeper', 'nested/deep/deeper/file.bin',
  'space dir', 'space dir/inner file.txt', 'ä unicode.txt', '\uFF21 fullwidth', '😀 emoji',
];

async function entriesOf(source: SourceInstance, signal?: AbortSignal) {
  const ctx = backupContext(signal);
  const entries: SourceEntry[] = [];
  for await (const entry of source.entries(ctx)) entries.push(entry);
  return { entries, warnings: ctx.warnings, byPath: new Map(entries.map((e) => [e.path, e])) };
}

async function contentOf(entry: SourceEntry | undefined): Promise<string> {
  return (await collect(await entry!.open!())).toString('utf8');
}

describe('files source', () => {
  let work: string;
  let root: string;
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'cairn-files-'));
    root = join(work, 'tree');
  });
  afterEach(async () => {
    await chmod(work, 0o700);
    await rm(work, { recursive: true, force: true });
  });

  it('walks depth-first in UTF-8 byte order, relative to the root, with metadata and content', async () => {
    await buildTree(root);
    const { entries, byPath, warnings } = await entriesOf(filesSource({ path: root }));
    expect(warnings).toEqual([]);
    expect(entries.map((e) => e.path)).toEqual(EXPECTED_ORDER);

    expect(byPath.get('a.txt')).toMatchObject({ type: 'file', size: 6, mode: 0o644, mtimeMs: T1.getTime() });
    expect(await contentOf(byPath.get('a.txt'))).toBe('alpha\n');
    expect(await contentOf(byPath.get('ä unicode.txt'))).toBe('ümlaut');
    expect(await contentOf(byPath.get('empty.txt'))).toBe('');
    expect(byPath.get('b.txt')!.mode).toBe(0o600);
    expect(byPath.get('space dir')).toMatchObject({ type: 'dir', mode: 0o750, size: 0 });
    expect(byPath.get('empty-dir')).toMatchObject({ type: 'dir', mtimeMs: T2.getTime() });
    expect(byPath.get('link-rel')).toMatchObject({ type: 'symlink', linkTarget: 'a.txt', size: 0 });
    expect(byPath.get('link-dangling')).toMatchObject({ type: 'symlink', linkTarget: 'does/not/exist' });

    const big = byPath.get('nested/deep/deeper/file.bin')!;
    expect(await digest(await big.open!())).toEqual(await digest((async function* () { yield Buffer.alloc(3 * 1024 * 1024 + 3, 7); })()));
    const onDisk = await stat(join(root, 'a.txt'), { bigint: true });
    expect(byPath.get('a.txt')!.changeKey).toBe(`${onDisk.dev}:${onDisk.ino}`);
    expect(byPath.get('space dir')!.changeKey).toBeUndefined();
  });

  it('keeps sub-millisecond modification times', async () => {
    await mkdir(root);
    await writeFile(join(root, 'f'), 'x');
    await utimes(join(root, 'f'), 1_600_000_000.123456, 1_600_000_000.123456);
    const { entries } = await entriesOf(filesSource({ path: root }));
    expect(entries[0]!.mtimeMs).toBeCloseTo(1_600_000_000_123.456, 2);
  });

  it('names itself after the directory, or as told', () => {
    expect(filesSource({ path: '/srv/photos/' })).toMatchObject({ name: 'photos', description: '/srv/photos', plugin: 'files', kind: 'source' });
    expect(filesSource({ path: '/' }).name).toBe('root');
    expect(filesSource({ path: 'rel/dir' }).description).toBe(resolve('rel/dir'));
    expect(filesSource({ path: '/srv/photos', name: 'pics' }).name).toBe('pics');
    expect(filesSource({ path: '/x' }).capabilities).toEqual({ incremental: true, restoreModes: ['directory'] });
  });

  it('rejects invalid options with a ConfigError naming the plugin and key', () => {
    expect(() => filesSource({ path: '/x', name: 'a/b' })).toThrow(ConfigError);
    expect(() => filesSource({ path: '/x', name: 'a/b' })).toThrow(/\[files\] invalid options: name/);
    expect(() => filesSource({ path: '' })).toThrow(/path/);
    expect(() => filesSource({ path: '/x', excludes: 'x' as unknown as string[] })).toThrow(/excludes/);
  });

  it('leaves out excluded paths: by name at any depth, directories only, anchored globs', async () => {
    const files = ['app.log', 'src/x.log', 'src/main.ts', 'node_modules/pkg/index.js', 'src/node_modules/y.js', 'lib/node_modules',
      'cache/a/b.txt', 'sub/cache/keep.txt', 'build/out.js', 'docs/build/page.html'];
    for (const file of files) {
      await mkdir(join(root, file, '..'), { recursive: true });
      await writeFile(join(root, file), file);
    }
    const source = filesSource({ path: root, excludes: ['*.log', 'node_modules/', 'cache/**', '/build'] });
    const { entries } = await entriesOf(source);
    expect(entries.map((e) => e.path)).toEqual([
      'docs', 'docs/build', 'docs/build/page.html',
      'lib', 'lib/node_modules', // a file called node_modules: `node_modules/` matches directories only
      'src', 'src/main.ts',
      'sub', 'sub/cache', 'sub/cache/keep.txt', // `cache/**` is anchored at the root
    ]);
  });

  it('follows symlinks only when asked', async () => {
    await mkdir(join(root, 'real'), { recursive: true });
    await writeFile(join(root, 'real/f'), 'data');
    await symlink('real', join(root, 'via'));
    const plain = await entriesOf(filesSource({ path: root }));
    expect(plain.entries.map((e) => `${e.type}:${e.path}`)).toEqual(['dir:real', 'file:real/f', 'symlink:via']);
    const followed = await entriesOf(filesSource({ path: root, followSymlinks: true }));
    expect(followed.entries.map((e) => `${e.type}:${e.path}`)).toEqual(['dir:real', 'file:real/f', 'dir:via', 'file:via/f']);
    expect(await contentOf(followed.byPath.get('via/f'))).toBe('data');
  });

  it('backs up a single file given as the path', async () => {
    await mkdir(root);
    await writeFile(join(root, 'only.txt'), 'one');
    const { entries } = await entriesOf(filesSource({ path: join(root, 'only.txt') }));
    expect(entries.map((e) => e.path)).toEqual(['only.txt']);
    expect(await contentOf(entries[0])).toBe('one');
  });

  it('fails with SOURCE_NOT_FOUND when iteration starts on a missing path', async () => {
    const source = filesSource({ path: join(work, 'missing') }); // creating it is fine
    const error = await entriesOf(source).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).code).toBe('SOURCE_NOT_FOUND');
    expect((error as Error).message).toContain(join(work, 'missing'));
    expect((error as Error).message).not.toContain('\n');
  });

  it('skips sockets, FIFOs and devices with a warning', async () => {
    await mkdir(root);
    await writeFile(join(root, 'a'), 'a');
    execFileSync('mkfifo', [join(root, 'pipe')]);
    const { entries, warnings } = await entriesOf(filesSource({ path: root }));
    expect(entries.map((e) => e.path)).toEqual(['a']);
    expect(warnings).toEqual([{ path: 'pipe', message: expect.stringContaining('FIFO'), code: 'SOURCE_UNSUPPORTED_TYPE' }]);
  });

  // Tests run as root in CI containers, and root reads files whatever their mode. So these run the
  // walk as user nobody (seteuid; vitest forks one process per test file, so the switch stays here).
  it('reports an unreadable file as SOURCE_UNREADABLE when its content is read', async () => {
    await mkdir(root);
    await writeFile(join(root, 'ok'), 'fine');
    await writeFile(join(root, 'secret'), 'hidden');
    await chmod(join(root, 'secret'), 0o000);
    const outcome = await asUnprivileged(work, async () => {
      const { entries, warnings } = await entriesOf(filesSource({ path: root }));
      const read = await contentOf(entries.find((e) => e.path === 'secret')).then(() => undefined, (e: unknown) => e);
      return { paths: entries.map((e) => e.path), warnings, read, ok: await contentOf(entries.find((e) => e.path === 'ok')) };
    });
    expect(outcome.paths).toEqual(['ok', 'secret']);
    expect(outcome.warnings).toEqual([]);
    expect(outcome.ok).toBe('fine');
    expect(outcome.read).toBeInstanceOf(SourceError);
    expect((outcome.read as SourceError).code).toBe('SOURCE_UNREADABLE');
    expect((outcome.read as Error).message).toContain(join(root, 'secret'));
  });

  it('warns about an unreadable directory and leaves it out', async () => {
    await mkdir(join(root, 'locked'), { recursive: true });
    await writeFile(join(root, 'locked/inside'), 'x');
    await writeFile(join(root, 'z'), 'z');
    await chmod(join(root, 'locked'), 0o000);
    const { entries, warnings } = await asUnprivileged(work, () => entriesOf(filesSource({ path: root })));
    expect(entries.map((e) => e.path)).toEqual(['z']);
    expect(warnings).toEqual([{ path: 'locked', message: expect.stringContaining('EACCES'), code: 'SOURCE_UNREADABLE' }]);
  });

  it('reports a file deleted between the walk and the read as SOURCE_UNREADABLE', async () => {
    await mkdir(root);
    await writeFile(join(root, 'vanishing'), 'soon gone');
    const { entries } = await entriesOf(filesSource({ path: root }));
    await rm(join(root, 'vanishing'));
    const error = await contentOf(entries[0]).then(() => undefined, (e: unknown) => e);
    expect((error as SourceError).code).toBe('SOURCE_UNREADABLE');
    expect((error as Error).message).toContain('ENOENT');
  });

  it('does not read through a file swapped for a symlink after the walk', async () => {
    await mkdir(root);
    await writeFile(join(root, 'f'), 'original');
    await writeFile(join(work, 'outside'), 'outside data');
    const { entries } = await entriesOf(filesSource({ path: root }));
    await rm(join(root, 'f'));
    await symlink(join(work, 'outside'), join(root, 'f'));
    const error = await contentOf(entries[0]).then(() => undefined, (e: unknown) => e);
    expect((error as SourceError).code).toBe('SOURCE_UNREADABLE');
  });

  it('stops at other file systems with oneFileSystem, keeping the mount point as an empty directory', async () => {
    const dev = (await lstat('/dev')).dev;
    const shm = await lstat('/dev/shm').catch(() => undefined);
    if (!shm || shm.dev === dev) return; // no mount point to test with on this machine
    const marker = join('/dev/shm', `cairn-test-${process.pid}`);
    await writeFile(marker, 'x');
    try {
      const { byPath, entries } = await entriesOf(filesSource({ path: '/dev', oneFileSystem: true }));
      expect(byPath.get('shm')?.type).toBe('dir');
      expect(entries.some((e) => e.path.startsWith('shm/'))).toBe(false);
      const all = await entriesOf(filesSource({ path: '/dev', oneFileSystem: false }));
      expect(all.byPath.has(`shm/cairn-test-${process.pid}`)).toBe(true);
    } finally {
      await rm(marker);
    }
  });

  it('restores what it backed up, exactly, into a directory', async () => {
    await buildTree(root);
    await chmod(join(root, 'space dir/inner file.txt'), 0o755);
    const source = filesSource({ path: root });
    const before = await entriesOf(source);
    const asRestore = async function* (): AsyncIterable<RestoreEntry> {
      for (const entry of before.entries) {
        yield { ...entry, open: () => (async function* () { if (entry.open) yield* await entry.open(); })() };
      }
    };
    const progress: number[] = [];
    const restored = join(work, 'restored');
    const controller = new AbortController();
    const result = await source.restore(asRestore(), {
      mode: 'directory', targetDir: restored, signal: controller.signal, logger: backupContext().logger, onProgress: (p) => progress.push(p.filesDone),
    });
    expect(result).toMatchObject({ files: 9, dirs: 5, symlinks: 2 });
    expect(progress.at(-1)).toBe(9);

    const after = await entriesOf(filesSource({ path: restored }));
    const comparable = async (entries: SourceEntry[]) => Promise.all(entries.map(async ({ open, openFile: _f, changeKey: _k, ...rest }) => ({
      ...rest, content: open ? (await digest(await open())).sha256 : undefined,
    })));
    expect(await comparable(after.entries)).toEqual(await comparable(before.entries));
  });

  it('refuses restore modes other than directory', async () => {
    const source = filesSource({ path: '/x' });
    await expect(source.restore((async function* () {})(), { mode: 'origin', signal: new AbortController().signal, logger: backupContext().logger }))
      .rejects.toThrow(ConfigError);
  });
});

describe('files source and odd names', () => {
  it('warns about a name that is not valid UTF-8 instead of dropping it silently', async () => {
    const work = await mkdtemp(join(tmpdir(), 'cairn-files-latin1-'));
    try {
      await writeFile(Buffer.concat([Buffer.from(`${work}/caf`), Buffer.from([0xe9])]), 'latin-1 name');
      await writeFile(join(work, 'ok'), 'ok');
      const { entries, warnings } = await entriesOf(filesSource({ path: work }));
      expect(entries.map((e) => e.path)).toEqual(['ok']);
      expect(warnings).toEqual([{ path: 'caf\uFFFD', message: expect.stringContaining('not valid UTF-8'), code: 'SOURCE_UNREADABLE' }]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
