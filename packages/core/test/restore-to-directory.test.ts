import { createHash } from 'node:crypto';
import { createReadStream, writeSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RestoreEntry } from '@cairn/repository';
import { AbortedError, RepositoryError, SourceError, writeEntriesToDirectory } from '../src/index.js';

let work: string;
let target: string;
/** A directory next to the target that no restore may ever touch. */
let sentinel: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'cairn-restore-'));
  target = join(work, 'target');
  sentinel = join(work, 'sentinel');
  await mkdir(sentinel);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const T1 = Date.UTC(2021, 4, 6, 7, 8, 9);
const T2 = Date.UTC(2019, 0, 1) + 0.123; // sub-millisecond part must survive
const T3 = Date.UTC(2015, 11, 31, 23, 59, 59);

function dir(path: string, mode = 0o755, mtimeMs = T1): RestoreEntry {
  return { path, type: 'dir', mode, mtimeMs, size: 0, open: () => empty() };
}
function file(path: string, content: Uint8Array | (() => AsyncIterable<Uint8Array>), mode = 0o644, mtimeMs = T1): RestoreEntry {
  const open = typeof content === 'function' ? content : () => chunks(content, 7);
  const size = typeof content === 'function' ? 0 : content.byteLength;
  return { path, type: 'file', mode, mtimeMs, size, open };
}
function link(path: string, linkTarget: string, mtimeMs = T3): RestoreEntry {
  return { path, type: 'symlink', mode: 0o777, mtimeMs, size: 0, linkTarget, open: () => empty() };
}
async function* empty(): AsyncIterable<Uint8Array> {}
async function* chunks(data: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < data.byteLength; i += size) yield data.subarray(i, i + size);
}
async function* listOf(entries: RestoreEntry[]): AsyncIterable<RestoreEntry> {
  yield* entries;
}
/** Deterministic pseudo-random bytes, generated in pieces so a large file is never whole in memory. */
async function* bigContent(bytes: number): AsyncIterable<Uint8Array> {
  let counter = 0;
  for (let done = 0; done < bytes; ) {
    const piece = createHash('sha512').update(String(counter++)).digest();
    const n = Math.min(piece.byteLength * 1024, bytes - done);
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i += piece.byteLength) piece.copy(out, i);
    done += n;
    yield out;
  }
}
async function sha256(iterable: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const part of iterable) hash.update(part);
  return hash.digest('hex');
}
async function expectCode(promise: Promise<unknown>, code: string): Promise<SourceError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error, `expected ${code}`).toBeInstanceOf(Error);
  expect((error as SourceError).code).toBe(code);
  expect((error as Error).message).not.toContain('\n');
  return error as SourceError;
}
async function expectNothingOutside(): Promise<void> {
  expect(await readdir(sentinel)).toEqual([]);
  for (const name of await readdir(work)) expect(['sentinel', 'target']).toContain(name);
}

describe('writeEntriesToDirectory', () => {
  it('restores a tree exactly: names, contents, empty files and dirs, symlinks, modes, mtimes', async () => {
    const text = new TextEncoder().encode('héllo wörld\n');
    const entries = [
      dir('d ü', 0o750, T2),
      file('d ü/ö file.txt', text, 0o640, T2),
      file('d ü/script.sh', new TextEncoder().encode('#!/bin/sh\n'), 0o755),
      dir('d ü/empty dir', 0o700, T3),
      file('empty', new Uint8Array(0), 0o600, T3),
      dir('readonly', 0o555),
      file('readonly/inside', text, 0o444),
      dir('a'), dir('a/b'), dir('a/b/c'),
      file('a/b/c/deep.bin', () => bigContent(3 * 1024 * 1024 + 17)),
      link('rel-link', 'd ü/ö file.txt'),
      link('a/b/up-link', '../../d ü'),
      link('dangling', 'nowhere/at/all', T2),
      link('absolute', '/etc/passwd'),
      file('日本語 ファイル', text),
    ];
    const progress: Array<{ filesDone: number; bytesDone: number }> = [];
    const result = await writeEntriesToDirectory(listOf(entries), target, { onProgress: (p) => progress.push(p) });

    const bigBytes = 3 * 1024 * 1024 + 17;
    expect(result).toEqual({ files: 6, dirs: 6, symlinks: 4, bytes: text.byteLength * 3 + 10 + bigBytes });
    expect(progress.at(-1)).toEqual({ filesDone: 6, bytesDone: result.bytes });

    expect(await readFile(join(target, 'd ü/ö file.txt'))).toEqual(Buffer.from(text));
    expect(await readFile(join(target, '日本語 ファイル'))).toEqual(Buffer.from(text));
    expect(await readFile(join(target, 'empty'))).toEqual(Buffer.alloc(0));
    expect(await readdir(join(target, 'd ü/empty dir'))).toEqual([]);
    expect(await sha256(createReadStream(join(target, 'a/b/c/deep.bin')))).toBe(await sha256(bigContent(bigBytes)));

    const mode = async (p: string) => (await lstat(join(target, p))).mode & 0o7777;
    expect(await mode('d ü')).toBe(0o750);
    expect(await mode('d ü/ö file.txt')).toBe(0o640);
    expect(await mode('d ü/script.sh')).toBe(0o755);
    expect(await mode('d ü/empty dir')).toBe(0o700);
    expect(await mode('empty')).toBe(0o600);
    expect(await mode('readonly')).toBe(0o555);
    expect(await mode('readonly/inside')).toBe(0o444);

    const mtime = async (p: string) => (await lstat(join(target, p), { bigint: true })).mtimeNs;
    const ns = (ms: number) => BigInt(Math.round(ms * 1e6));
    const near = (actual: bigint, expected: number) => expect(Number(actual - ns(expected))).toBeLessThan(1000);
    near(await mtime('d ü'), T2); // set after its contents were written
    near(await mtime('d ü/ö file.txt'), T2);
    near(await mtime('d ü/empty dir'), T3);
    near(await mtime('empty'), T3);
    near(await mtime('a/b'), T1);
    near(await mtime('rel-link'), T3);
    near(await mtime('dangling'), T2);

    expect(await readlink(join(target, 'rel-link'))).toBe('d ü/ö file.txt');
    expect(await readlink(join(target, 'a/b/up-link'))).toBe('../../d ü');
    expect(await readlink(join(target, 'dangling'))).toBe('nowhere/at/all');
    expect(await readlink(join(target, 'absolute'))).toBe('/etc/passwd');
    expect(await readFile(join(target, 'rel-link'), 'utf8')).toBe('héllo wörld\n');
  });

  it('creates a missing target directory, and parents the entries do not list', async () => {
    const nested = join(target, 'x', 'y');
    await writeEntriesToDirectory(listOf([file('p/q/r.txt', new Uint8Array([1, 2, 3]))]), nested);
    expect(await readFile(join(nested, 'p/q/r.txt'))).toEqual(Buffer.from([1, 2, 3]));
  });

  it('restores into an existing directory, replacing existing files', async () => {
    await mkdir(target);
    await writeFile(join(target, 'f'), 'a much longer old content');
    await writeEntriesToDirectory(listOf([file('f', new TextEncoder().encode('new'))]), target);
    expect(await readFile(join(target, 'f'), 'utf8')).toBe('new');
  });

  it('refuses to replace existing files when overwrite is off', async () => {
    await mkdir(target);
    await writeFile(join(target, 'f'), 'old');
    await expectCode(writeEntriesToDirectory(listOf([file('f', new TextEncoder().encode('new'))]), target, { overwrite: false }), 'RESTORE_UNWRITABLE');
    expect(await readFile(join(target, 'f'), 'utf8')).toBe('old');
  });

  describe('never writes outside the target', () => {
    const badPaths: Array<[string, () => string]> = [
      ['a parent segment', () => '../x'],
      ['an absolute path', () => `${sentinel}/x`],
      ['an escape through a subdirectory', () => 'a/../../x'],
      ['a dot segment', () => './x'],
      ['an empty segment', () => 'a//x'],
      ['a trailing slash', () => 'a/'],
      ['an empty path', () => ''],
      ['a NUL byte', () => 'a\0b'],
    ];
    for (const [label, makePath] of badPaths) {
      it(`rejects a path with ${label}`, async () => {
        const path = makePath();
        await expectCode(writeEntriesToDirectory(listOf([file(path, new Uint8Array([1]))]), target), 'RESTORE_UNSAFE_PATH');
        await expectCode(writeEntriesToDirectory(listOf([dir(path)]), target), 'RESTORE_UNSAFE_PATH');
        await expectCode(writeEntriesToDirectory(listOf([link(path, sentinel)]), target), 'RESTORE_UNSAFE_PATH');
        await expectNothingOutside();
      });
    }

    it('treats a backslash as an ordinary character of a name', async () => {
      await writeEntriesToDirectory(listOf([file('..\\x', new Uint8Array([1]))]), target);
      expect(await readdir(target)).toEqual(['..\\x']);
      await expectNothingOutside();
    });

    it('refuses a file written through a symlink from the same snapshot', async () => {
      await expectCode(writeEntriesToDirectory(listOf([link('a', sentinel), file('a/passwd', new Uint8Array([1]))]), target), 'RESTORE_UNSAFE_PATH');
      await expectCode(writeEntriesToDirectory(listOf([link('b', sentinel), dir('b'), file('b/passwd', new Uint8Array([1]))]), target), 'RESTORE_UNSAFE_PATH');
      await expectNothingOutside();
    });

    it('refuses a symlink that replaces a directory it has already written into', async () => {
      await expectCode(writeEntriesToDirectory(listOf([file('a/passwd', new Uint8Array([1])), link('a', sentinel)]), target), 'RESTORE_UNSAFE_PATH');
      await expectNothingOutside();
      expect((await lstat(join(target, 'a'))).isDirectory()).toBe(true);
    });

    it('refuses to write through a symlink that already exists in the target', async () => {
      await mkdir(target);
      await symlink(sentinel, join(target, 'a'));
      await expectCode(writeEntriesToDirectory(listOf([file('a/passwd', new Uint8Array([1]))]), target), 'RESTORE_UNSAFE_PATH');
      await expectNothingOutside();
    });

    it('replaces an existing symlink with the directory the snapshot holds, leaving its target alone', async () => {
      await mkdir(target);
      await symlink(sentinel, join(target, 'a'));
      await writeEntriesToDirectory(listOf([dir('a'), file('a/passwd', new Uint8Array([1]))]), target);
      expect((await lstat(join(target, 'a'))).isDirectory()).toBe(true);
      expect(await readFile(join(target, 'a/passwd'))).toEqual(Buffer.from([1]));
      await expectNothingOutside();
    });

    it('replaces an existing symlink where a file belongs, never writing through it', async () => {
      await mkdir(target);
      await writeFile(join(sentinel, 'keep'), 'precious');
      await symlink(join(sentinel, 'keep'), join(target, 'f'));
      await writeEntriesToDirectory(listOf([file('f', new TextEncoder().encode('restored'))]), target);
      expect(await readFile(join(sentinel, 'keep'), 'utf8')).toBe('precious');
      expect((await lstat(join(target, 'f'))).isFile()).toBe(true);
      expect(await readFile(join(target, 'f'), 'utf8')).toBe('restored');
    });
  });

  it('fails with RESTORE_UNWRITABLE naming the directory when the target cannot be created', async () => {
    await writeFile(join(work, 'a-file'), 'x');
    const bad = join(work, 'a-file', 'restore');
    const error = await expectCode(writeEntriesToDirectory(listOf([file('f', new Uint8Array([1]))]), bad), 'RESTORE_UNWRITABLE');
    expect(error.message).toContain(bad);
  });

  it('fails with RESTORE_UNWRITABLE when the target exists but is not writable', async () => {
    await mkdir(target, { mode: 0o555 });
    const error = await asUnprivileged(() => writeEntriesToDirectory(listOf([file('f', new Uint8Array([1]))]), target).then(() => undefined, (e: unknown) => e));
    expect((error as SourceError).code).toBe('RESTORE_UNWRITABLE');
    expect((error as Error).message).toContain(target);
  });

  it('fails loudly when content cannot be read half-way', async () => {
    async function* broken(): AsyncIterable<Uint8Array> {
      yield new Uint8Array(10);
      throw new Error('blob 1234 is corrupt');
    }
    await expect(writeEntriesToDirectory(listOf([file('ok', new Uint8Array(3)), file('bad', broken)]), target)).rejects.toThrow('blob 1234 is corrupt');
    await expect(lstat(join(target, 'bad'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('leaves no half-written large file behind when its content fails part-way', async () => {
    async function* brokenLarge(): AsyncIterable<Uint8Array> {
      yield new Uint8Array(1024 * 1024);
      throw new Error('pack abcd is missing');
    }
    const large: RestoreEntry = { path: 'large.bin', type: 'file', mode: 0o644, mtimeMs: T1, size: 4 * 1024 * 1024, open: brokenLarge };
    await expect(writeEntriesToDirectory(listOf([large]), target)).rejects.toThrow('pack abcd is missing');
    expect(await readdir(target)).toEqual([]);
  });

  it('keeps the old version of an existing file when the new content fails part-way', async () => {
    async function* brokenLarge(): AsyncIterable<Uint8Array> {
      yield new Uint8Array(1024 * 1024);
      throw new Error('pack abcd is missing');
    }
    await mkdir(target);
    await writeFile(join(target, 'large.bin'), 'the version before the restore');
    const large: RestoreEntry = { path: 'large.bin', type: 'file', mode: 0o644, mtimeMs: T1, size: 4 * 1024 * 1024, open: brokenLarge };
    await expect(writeEntriesToDirectory(listOf([large]), target)).rejects.toThrow('pack abcd is missing');
    expect(await readFile(join(target, 'large.bin'), 'utf8')).toBe('the version before the restore');
    expect(await readdir(target)).toEqual(['large.bin']); // no temporary file left
  });

  it('replaces an empty directory where a file belongs, and refuses a non-empty one', async () => {
    await mkdir(join(target, 'was-dir'), { recursive: true });
    await mkdir(join(target, 'full-dir/inside'), { recursive: true });
    await writeEntriesToDirectory(listOf([file('was-dir', new TextEncoder().encode('now a file'))]), target);
    expect(await readFile(join(target, 'was-dir'), 'utf8')).toBe('now a file');
    await expectCode(writeEntriesToDirectory(listOf([file('full-dir', () => bigContent(300_000))]), target), 'RESTORE_UNWRITABLE');
    expect((await readdir(target)).sort()).toEqual(['full-dir', 'was-dir']);
  });

  describe('entries that write their own content (writeFile)', () => {
    /** A file whose content is written into the descriptor it is given, as the repository's workers do. */
    function byDescriptor(path: string, content: Buffer, fail?: unknown): RestoreEntry {
      return {
        ...file(path, content, 0o640, T2),
        open: () => {
          throw new Error('open() must not be called when writeFile is offered');
        },
        writeFile: async (fd, options) => {
          const half = content.subarray(0, content.length >> 1);
          writeSync(fd, content, half.length, content.length - half.length, half.length); // out of order, as workers may
          writeSync(fd, half, 0, half.length, 0);
          options?.onBytes?.(content.length);
          if (fail) throw fail;
        },
      };
    }

    it('has the entry write into the new file, then sets its mode and time', async () => {
      const content = Buffer.from('written through a descriptor\n'.repeat(100));
      await mkdir(target);
      await writeFile(join(target, 'existing'), 'old');
      const result = await writeEntriesToDirectory(listOf([byDescriptor('new', content), byDescriptor('existing', content)]), target);
      expect(result).toMatchObject({ files: 2, bytes: 2 * content.length });
      for (const name of ['new', 'existing']) {
        expect((await readFile(join(target, name))).equals(content)).toBe(true);
        const info = await stat(join(target, name));
        expect(info.mode & 0o777).toBe(0o640);
        expect(info.mtimeMs).toBe(T2);
      }
      expect((await readdir(target)).sort()).toEqual(['existing', 'new']); // no temporary file left
    });

    it('names the file it could not write, passes damage on as it is, and leaves nothing half-written', async () => {
      const content = Buffer.alloc(1000, 7);
      const full = Object.assign(new Error('no space left on device'), { code: 'ENOSPC', syscall: 'write' });
      const error = await expectCode(writeEntriesToDirectory(listOf([byDescriptor('full', content, full)]), target), 'RESTORE_UNWRITABLE');
      expect(error.message).toContain(join(target, 'full'));
      expect(error.message).toContain('ENOSPC');
      const damage = new RepositoryError('REPO_CORRUPT', 'blob 1234 does not match its id');
      await expect(writeEntriesToDirectory(listOf([byDescriptor('damaged', content, damage)]), target)).rejects.toBe(damage);
      expect(await readdir(target)).toEqual([]);
    });
  });

  it('stops with AbortedError when the signal fires', async () => {
    const controller = new AbortController();
    async function* entries(): AsyncIterable<RestoreEntry> {
      yield file('one', new Uint8Array(1));
      controller.abort();
      yield file('two', new Uint8Array(1));
    }
    await expect(writeEntriesToDirectory(entries(), target, { signal: controller.signal })).rejects.toBeInstanceOf(AbortedError);
    await expect(stat(join(target, 'two'))).rejects.toThrow();
  });
});

/**
 * Runs `fn` as an unprivileged user: tests run as root in CI containers, and root ignores permission
 * bits. vitest runs each test file in its own forked process, so switching the effective uid is local.
 */
async function asUnprivileged<T>(fn: () => Promise<T>): Promise<T> {
  if (process.geteuid?.() !== 0) return fn();
  await chmod(work, 0o755);
  process.seteuid!(65534);
  try {
    return await fn();
  } finally {
    process.seteuid!(0);
  }
}
