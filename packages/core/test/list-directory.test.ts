import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createCairn } from '../src/index.js';
import type { Cairn, DirectoryEntry } from '../src/index.js';
import { dirTarget, memorySource, tempDir } from './helpers.js';

// Through the real @cairn/repository: a snapshot of nested folders, listed one level at a time.
const kdf = { N: 1024, r: 8, p: 1 };
const files = {
  'top.txt': 'top',
  'a/one.txt': 'x'.repeat(10),
  'a/b/two.txt': 'y'.repeat(200),
  'a/b/c/three.bin': 'z'.repeat(3000),
  'a/b/c/d/four.txt': '4444',
  'e/five.txt': '55555',
};

let dir: { path: string; remove(): Promise<void> };
let cairn: Cairn;
let repository: { target: string; password: string };
let snapshot: string;
beforeEach(async () => {
  dir = await tempDir('cairn-list-directory-');
  cairn = createCairn({ targets: [dirTarget] });
  repository = { target: join(dir.path, 'repo'), password: 'correct horse' };
  await cairn.init({ repository, kdf });
  snapshot = (await cairn.backup({ repository, sources: [memorySource({ name: 'mem', files })] })).snapshot.id;
});
afterEach(async () => {
  await cairn.close();
  await dir.remove();
});

/** `[name, path, type, size]` of each entry. */
async function level(path: string, sizes = true): Promise<Array<[string, string, string, number]>> {
  const entries: DirectoryEntry[] = await cairn.listDirectory({ repository, snapshot, path, sizes });
  return entries.map((entry) => [entry.name, entry.path, entry.type, entry.size]);
}

it('lists one directory of a snapshot by name, a directory sized by the bytes of all files under it', async () => {
  expect(await level('')).toEqual([['mem', 'mem', 'dir', 3 + 10 + 200 + 3000 + 4 + 5]]);
  expect(await level('mem')).toEqual([['a', 'mem/a', 'dir', 10 + 200 + 3000 + 4], ['e', 'mem/e', 'dir', 5], ['top.txt', 'mem/top.txt', 'file', 3]]);
  expect(await level('mem/a/b')).toEqual([['c', 'mem/a/b/c', 'dir', 3000 + 4], ['two.txt', 'mem/a/b/two.txt', 'file', 200]]);
  expect(await level('mem/a/b/c/d')).toEqual([['four.txt', 'mem/a/b/c/d/four.txt', 'file', 4]]);
  // Paths as people write them; the entries carry what the snapshot stores.
  expect(await level('/mem/./a/')).toEqual([['b', 'mem/a/b', 'dir', 200 + 3000 + 4], ['one.txt', 'mem/a/one.txt', 'file', 10]]);
  const [file] = await cairn.listDirectory({ repository, snapshot, path: 'mem/e' });
  expect(file).toMatchObject({ name: 'five.txt', path: 'mem/e/five.txt', type: 'file', mode: 0o644, mtimeMs: Date.UTC(2024, 0, 2, 3, 4, 5), size: 5 });
  expect(file).not.toHaveProperty('open');
});

it('leaves directory sizes at 0 unless asked for them, and takes `latest` and id prefixes', async () => {
  expect(await level('mem', false)).toEqual([['a', 'mem/a', 'dir', 0], ['e', 'mem/e', 'dir', 0], ['top.txt', 'mem/top.txt', 'file', 3]]);
  const latest = await cairn.listDirectory({ repository, snapshot: 'latest' });
  expect(latest.map((entry) => [entry.name, entry.size])).toEqual([['mem', 0]]);
  expect(await cairn.listDirectory({ repository, snapshot: snapshot.slice(0, 8), path: 'mem/e' })).toHaveLength(1);
});

it('refuses a path that is not there (PATH_NOT_FOUND) or not a directory (NOT_A_DIRECTORY), and a bad request (CONFIG_INVALID)', async () => {
  for (const path of ['nope', 'mem/a/nope', 'mem/top.txt/below', 'mem/..']) {
    await expect(cairn.listDirectory({ repository, snapshot, path }), path).rejects.toMatchObject({ code: 'PATH_NOT_FOUND', message: expect.stringContaining(path) });
  }
  await expect(cairn.listDirectory({ repository, snapshot, path: 'mem/a/one.txt' })).rejects.toMatchObject({
    code: 'NOT_A_DIRECTORY', message: expect.stringContaining('mem/a/one.txt is a file, not a directory'),
  });
  await expect(cairn.listDirectory({ repository, snapshot: 'ffffffff' })).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
  await expect(cairn.listDirectory({ repository, snapshot, path: 42 as unknown as string })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  await expect(cairn.listDirectory({ repository, snapshot, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
});
