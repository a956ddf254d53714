import { closeSync, openSync } from 'node:fs';
import { readdir, readFile, rm, writeFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { CairnError, Repository, type BlobStore, type RestoreEntry, type Snapshot } from '../src/index.js';
import { DerivedKeys, openWithPassword } from '../src/keys.js';
import { DATA_PREFIX, INDEX_PREFIX, LOCKS_PREFIX } from '../src/layout.js';
import { MasterIndex, writeIndexFile } from '../src/master-index.js';
import { putJson } from '../src/objects.js';
import { collect, entriesOf, FAST_KDF, newRepository, randomData, tempDir, tempStore, type MemoryFile } from './helpers.js';

const tree: MemoryFile[] = [
  { path: 'docs', type: 'dir', mode: 0o750 },
  { path: 'docs/empty', type: 'dir' },
  { path: 'docs/héllo wörld.txt', data: Buffer.from('hello\n'.repeat(1000)), mode: 0o600 },
  { path: 'docs/zero', data: Buffer.alloc(0) },
  { path: 'link', type: 'symlink', linkTarget: '../outside/target' },
  { path: 'big.bin', data: randomData(1, 3 * 1024 * 1024 + 17) },
];

/** The file entries of a snapshot, each to be opened once. */
async function reopen(repo: Repository, snapshot: Snapshot): Promise<RestoreEntry[]> {
  const entries: RestoreEntry[] = [];
  for await (const entry of repo.walk(snapshot)) if (entry.type === 'file') entries.push(entry);
  return entries;
}

async function backup(repo: Repository, files: MemoryFile[], opened: string[] = [], time?: Date) {
  return repo.backup([{ name: 'data', kind: 'test', description: 'test data', entries: entriesOf(files, opened) }], { time, host: 'test-host' });
}

describe('Repository', () => {
  it('round-trips a tree byte for byte, with metadata', async () => {
    const { repo } = await newRepository();
    const snapshot = await backup(repo, tree);
    expect(snapshot.summary).toMatchObject({ filesNew: 3, filesChanged: 0, filesUnchanged: 0, complete: true });
    const restored = await collect(repo.walk(snapshot));
    expect([...restored.keys()]).toEqual(['data', 'data/big.bin', 'data/docs', 'data/docs/empty', 'data/docs/héllo wörld.txt', 'data/docs/zero', 'data/link']);
    for (const file of tree) {
      const got = restored.get(`data/${file.path}`)!;
      expect(got.entry.type).toBe(file.type ?? 'file');
      if (file.data) expect(got.data!.equals(file.data)).toBe(true);
      if (file.mode) expect(got.entry.mode).toBe(file.mode);
    }
    expect(restored.get('data/link')!.entry.linkTarget).toBe('../outside/target');
  });

  it('reads no content of an unchanged tree and stores almost nothing', async () => {
    const { repo } = await newRepository();
    await backup(repo, tree);
    const opened: string[] = [];
    const second = await backup(repo, tree, opened);
    expect(opened).toEqual([]);
    expect(second.summary).toMatchObject({ filesNew: 0, filesChanged: 0, filesUnchanged: 3, bytesRead: 0 });
    expect(second.summary.bytesAdded).toBeLessThan(4096);
    expect(second.parent).toBeDefined();
  });

  it('stores only the chunks around a 100-byte insertion in a 64 MiB file', async () => {
    const { repo } = await newRepository();
    const original = randomData(7, 64 * 1024 * 1024);
    await backup(repo, [{ path: 'f.bin', data: original, changeKey: 'a' }]);
    const half = original.length >> 1;
    const changed = Buffer.concat([original.subarray(0, half), randomData(8, 100), original.subarray(half)]);
    const second = await backup(repo, [{ path: 'f.bin', data: changed, changeKey: 'b' }]);
    expect(second.summary.filesChanged).toBe(1);
    expect(second.summary.bytesAdded).toBeLessThan(5 * 1024 * 1024);
    const restored = await collect(repo.walk(second));
    expect(restored.get('data/f.bin')!.data!.equals(changed)).toBe(true);
  });

  it('lends chunks to readers that reuse them, each given back as its reader moves on or stops', async () => {
    const { repo } = await newRepository();
    // More files read at once, each several chunks long with read-ahead, than the pool has slots.
    const files = Array.from({ length: 8 }, (_, i) => ({ path: `f${i}.bin`, data: randomData(40 + i, 3 * 1024 * 1024 + i) }));
    const snapshot = await backup(repo, files);
    const entries = await reopen(repo, snapshot);
    const readAll = async (entry: RestoreEntry): Promise<Buffer> => {
      const copies: Buffer[] = [];
      for await (const chunk of entry.open({ reuseChunks: true })) copies.push(Buffer.from(chunk)); // a copy: the chunk is only lent
      return Buffer.concat(copies);
    };
    const read = await Promise.all(entries.map(readAll));
    for (const [i, file] of files.entries()) expect(read[i]!.equals(file.data)).toBe(true);

    // Readers that stop after one chunk give back what they read ahead: another full pass still goes through.
    for (const entry of await reopen(repo, snapshot)) {
      for await (const chunk of entry.open({ reuseChunks: true })) {
        expect(chunk.length).toBeGreaterThan(0);
        break;
      }
    }
    const again = await Promise.all((await reopen(repo, snapshot)).map(readAll));
    for (const [i, file] of files.entries()) expect(again[i]!.equals(file.data)).toBe(true);
  });

  it('lends chunks to many readers whose reads complete out of order', async () => {
    const { repo, store } = await newRepository();
    const files = Array.from({ length: 8 }, (_, i) => ({ path: `f${i}.bin`, data: randomData(60 + i, 4 * 1024 * 1024 + i) }));
    const snapshot = await backup(repo, files);
    // A remote store answers ranged reads in any order: here every other one comes late, so each
    // reader's read-ahead arrives before the chunk it needs first. Were slots taken in arrival
    // order, the read-ahead would hold them all while every reader waits for its first chunk.
    let ranged = 0;
    const slow: BlobStore = {
      ...store,
      get: async (key, options) => {
        if (options?.range && ranged++ % 2 === 0) await new Promise((resolve) => setTimeout(resolve, 100));
        return store.get(key, options);
      },
    };
    const reader = await Repository.open(slow, { password: 'correct horse' });
    const read = await Promise.all(
      (await reopen(reader, snapshot)).map(async (entry) => {
        const copies: Buffer[] = [];
        for await (const chunk of entry.open({ reuseChunks: true })) copies.push(Buffer.from(chunk));
        return Buffer.concat(copies);
      }),
    );
    for (const [i, file] of files.entries()) expect(read[i]!.equals(file.data)).toBe(true);
    await reader.close();
  }, 20_000);

  it('reads each byte of a pack at most once when files are restored in order', async () => {
    const { repo, store } = await newRepository();
    // Small files (read through windows of their pack) between large ones (blobs read on their own).
    const files = Array.from({ length: 12 }, (_, i) => ({ path: `f${i}.bin`, data: randomData(80 + i, i % 3 === 2 ? 3 * 1024 * 1024 : 60 * 1024) }));
    await backup(repo, files);
    let packBytes = 0;
    for await (const pack of store.list(DATA_PREFIX)) packBytes += pack.size;
    let read = 0;
    const counting: BlobStore = {
      ...store,
      get: (key, options) => {
        if (key.startsWith(DATA_PREFIX)) read += options?.range?.length ?? 0;
        return store.get(key, options);
      },
    };
    const reader = await Repository.open(counting, { password: 'correct horse' });
    const entries = await reopen(reader, await reader.findSnapshot('latest'));
    read = 0; // trees are read again by each walk; the file contents are what counts
    for (const entry of entries) {
      const parts: Buffer[] = [];
      for await (const part of entry.open()) parts.push(Buffer.from(part));
      expect(Buffer.concat(parts).equals(files.find((f) => `data/${f.path}` === entry.path)!.data)).toBe(true);
    }
    expect(read).toBeGreaterThan(0);
    expect(read).toBeLessThanOrEqual(packBytes);
    await reader.close();
  });

  it('finds snapshots by prefix, latest and point in time', async () => {
    const { repo } = await newRepository();
    const a = await backup(repo, tree, [], new Date('2026-01-01T00:00:00Z'));
    const b = await backup(repo, tree.slice(0, 2), [], new Date('2026-02-01T00:00:00Z'));
    expect((await repo.findSnapshot('latest')).id).toBe(b.id);
    expect((await repo.findSnapshot(a.id.slice(0, 8))).id).toBe(a.id);
    expect((await repo.findSnapshot('latest', { at: new Date('2026-01-15T00:00:00Z') })).id).toBe(a.id);
    await expect(repo.findSnapshot('latest', { at: new Date('2025-01-01T00:00:00Z') })).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
    await expect(repo.findSnapshot('ffffffff')).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
    const changes = [];
    for await (const change of repo.diff(a, b)) changes.push(change);
    expect(changes.map((c) => `${c.change} ${c.path}`)).toContain('removed data/big.bin');
  });

  it('refuses a wrong password, a missing repository and a second init', async () => {
    const { store } = await newRepository('right');
    await expect(Repository.open(store, { password: 'wrong' })).rejects.toMatchObject({ code: 'REPO_WRONG_PASSWORD' });
    await expect(Repository.init(store, { password: 'x', kdf: FAST_KDF })).rejects.toMatchObject({ code: 'REPO_EXISTS' });
    const empty = await tempStore();
    await expect(Repository.open(empty.store, { password: 'x' })).rejects.toMatchObject({ code: 'REPO_NOT_FOUND' });
  });

  it('changes the password without rewriting data', async () => {
    const { repo, store } = await newRepository('old');
    const snapshot = await backup(repo, tree);
    await repo.changePassword('new');
    await expect(Repository.open(store, { password: 'old' })).rejects.toMatchObject({ code: 'REPO_WRONG_PASSWORD' });
    const reopened = await Repository.open(store, { password: 'new' });
    expect((await reopened.findSnapshot('latest')).id).toBe(snapshot.id);
  });

  it('opens again without scrypt, yet never with a wrong or removed password', async () => {
    const { repo, store } = await newRepository('old');
    const cache = new DerivedKeys();
    const first = await openWithPassword(store, 'old', cache);
    const again = await openWithPassword(store, 'old', cache);
    expect(cache.hits).toBe(1);
    expect(again).toEqual(first);
    await expect(openWithPassword(store, 'wrong', cache)).rejects.toMatchObject({ code: 'REPO_WRONG_PASSWORD' });
    await expect(openWithPassword(store, 'wrong', cache)).rejects.toMatchObject({ code: 'REPO_WRONG_PASSWORD' });
    expect(cache.hits).toBe(1); // failures are never remembered
    // The old password's key file is gone: its remembered key is never asked for again.
    await repo.changePassword('new');
    await expect(openWithPassword(store, 'old', cache)).rejects.toMatchObject({ code: 'REPO_WRONG_PASSWORD' });
    expect((await openWithPassword(store, 'new', cache)).keys).toEqual(first.keys);
    expect(cache.hits).toBe(1);
  });

  it('forgets derived keys past their age and beyond its capacity', async () => {
    const a = await newRepository('a');
    const b = await newRepository('b');
    const expired = new DerivedKeys(16, 0);
    await openWithPassword(a.store, 'a', expired);
    await openWithPassword(a.store, 'a', expired);
    expect(expired.hits).toBe(0);
    const small = new DerivedKeys(1);
    await openWithPassword(a.store, 'a', small);
    await openWithPassword(b.store, 'b', small); // pushes out a's
    await openWithPassword(a.store, 'a', small);
    expect(small.hits).toBe(0);
    await openWithPassword(a.store, 'a', small);
    expect(small.hits).toBe(1);
  });

  it('keeps file names and content unreadable without the password', async () => {
    const { repo, dir } = await newRepository();
    await backup(repo, [{ path: 'secret-name.txt', data: Buffer.from('secret-content '.repeat(100)) }]);
    const all = await readdir(dir, { recursive: true, withFileTypes: true });
    for (const file of all.filter((f) => f.isFile())) {
      const bytes = await readFile(join(file.parentPath, file.name));
      expect(bytes.includes('secret-name')).toBe(false);
      expect(bytes.includes('secret-content')).toBe(false);
    }
  });

  it('reports a corrupted pack with the snapshots and files it affects', async () => {
    const { repo, dir } = await newRepository();
    const snapshot = await backup(repo, [{ path: 'only.bin', data: randomData(3, 100_000) }]);
    expect((await repo.check({ readData: true })).ok).toBe(true);
    // The data pack is the large one; the tree pack stays intact so the damage can be traced to the file.
    const packs = (await readdir(join(dir, 'data'), { recursive: true, withFileTypes: true })).filter((f) => f.isFile());
    const sized = await Promise.all(packs.map(async (f) => ({ path: join(f.parentPath, f.name), size: (await readFile(join(f.parentPath, f.name))).length })));
    const dataPack = sized.sort((a, b) => b.size - a.size)[0]!.path;
    const bytes = await readFile(dataPack);
    bytes[40] = bytes[40]! ^ 0xff;
    await writeFile(dataPack, bytes);
    const report = await repo.check({ readData: true });
    expect(report.ok).toBe(false);
    expect(report.problems.flatMap((p) => p.affects)).toContainEqual({ snapshot: snapshot.id, path: 'data/only.bin' });
    await expect(collect(repo.walk(snapshot))).rejects.toMatchObject({ code: 'REPO_CORRUPT' });
  });

  it('checks data the same way whether packs are read on the workers from local files or through the store', async () => {
    const { repo, store, dir } = await newRepository();
    const snapshot = await backup(repo, [{ path: 'only.bin', data: randomData(4, 100_000) }]);
    const { localPath: _, ...remote } = store;
    const remoteRepo = await Repository.open(remote, { password: 'correct horse' });
    for (const reader of [repo, remoteRepo]) expect(await reader.check({ readData: true })).toMatchObject({ ok: true, problems: [] });
    const packs = (await readdir(join(dir, 'data'), { recursive: true, withFileTypes: true })).filter((f) => f.isFile()).map((f) => join(f.parentPath, f.name));
    const dataPack = (await Promise.all(packs.map(async (path) => ({ path, size: (await readFile(path)).length })))).sort((a, b) => b.size - a.size)[0]!.path;
    const bytes = await readFile(dataPack);
    bytes[40] = bytes[40]! ^ 0xff;
    await writeFile(dataPack, bytes);
    const reports = [await repo.check({ readData: true }), await remoteRepo.check({ readData: true })];
    for (const report of reports) {
      expect(report.problems.map((p) => p.kind).sort()).toEqual(['blob-unreadable', 'pack-hash']);
      expect(report.problems.find((p) => p.kind === 'blob-unreadable')).toMatchObject({ message: expect.stringMatching(/^blob \w{12} in pack \w{12} failed authentication/), affects: [{ snapshot: snapshot.id, path: 'data/only.bin' }] });
    }
    expect(reports[0]!.problems.map((p) => p.message)).toEqual(reports[1]!.problems.map((p) => p.message));
    await remoteRepo.close();

    // A pack file gone or cut short after the listing is damage too, traced to its files.
    for (const [kind, replacement] of [['missing-pack', undefined], ['pack-size', bytes.subarray(0, 1000)]] as const) {
      const elsewhere = join(await tempDir(), 'pack');
      if (replacement) await writeFile(elsewhere, replacement);
      const moved = await Repository.open({ ...store, localPath: (key: string) => (key === `data/${dataPack.split('/').slice(-2).join('/')}` ? elsewhere : store.localPath!(key)) }, { password: 'correct horse' });
      const report = await moved.check({ readData: true });
      expect(report.problems).toContainEqual(expect.objectContaining({ kind, affects: [{ snapshot: snapshot.id, path: 'data/only.bin' }] }));
      await moved.close();
    }
    await repo.close();
  });

  it('refuses a blob whose length is not the one its index gives, in check and in restore', async () => {
    const { repo, store } = await newRepository();
    const snapshot = await backup(repo, [{ path: 'only.bin', data: randomData(5, 100_000) }]);
    // An index that says the file's chunk is one byte longer than it is.
    const { keys } = await openWithPassword(store, 'correct horse');
    const index = await MasterIndex.load(store, keys.encryption);
    const [old] = index.files;
    const [chunk] = [...index.entries()].filter(([, at]) => at.type === 'data').map(([id]) => id); // 100 kB: one chunk
    const packs = [...index.packs].map(([id, pack]) => ({ id, size: pack.size, blobs: pack.blobs.map((b) => (b.id === chunk ? { ...b, rawLength: b.rawLength + 1 } : b)) }));
    await writeIndexFile(store, keys.encryption, packs);
    await store.delete(`${INDEX_PREFIX}${old}`);
    const { localPath: _, ...remote } = store;
    for (const reader of [await Repository.open(store, { password: 'correct horse' }), await Repository.open(remote, { password: 'correct horse' })]) {
      const report = await reader.check({ readData: true });
      expect(report.problems).toEqual([expect.objectContaining({ kind: 'blob-unreadable', message: expect.stringMatching(/holds 100000 bytes where the index says 100001/), affects: [{ snapshot: snapshot.id, path: 'data/only.bin' }] })]);
      const [entry] = await reopen(reader, snapshot);
      const fd = openSync(join(await tempDir(), 'only.bin'), 'wx');
      await expect(entry!.writeFile!(fd)).rejects.toMatchObject({ code: 'REPO_CORRUPT', message: expect.stringMatching(/where the index says/) });
      closeSync(fd);
      await reader.close();
    }
    await repo.close();
  });

  it('reports a truncated index as damage, not a crash', async () => {
    const { repo, dir } = await newRepository();
    const snapshot = await backup(repo, tree);
    const [index] = await readdir(join(dir, 'index'));
    await truncate(join(dir, 'index', index!), 10);
    await expect(collect(repo.walk(snapshot))).rejects.toMatchObject({ code: 'REPO_CORRUPT' });
    const report = await repo.check();
    expect(report.ok).toBe(false);
    expect(report.problems[0]!.kind).toBe('index-unreadable');
  });

  it('forgets by policy and prunes unreferenced data, keeping the rest restorable', async () => {
    const { repo, dir } = await newRepository();
    await backup(repo, [{ path: 'a.bin', data: randomData(10, 2_000_000) }], [], new Date('2026-01-01T00:00:00Z'));
    const kept = await backup(repo, [{ path: 'b.bin', data: randomData(11, 2_000_000) }], [], new Date('2026-01-02T00:00:00Z'));
    const before = (await readdir(join(dir, 'data'), { recursive: true })).length;
    const result = await repo.forget({ keepLast: 1 }, { prune: true });
    expect(result.remove).toHaveLength(1);
    expect(result.prune!.packsDeleted).toBeGreaterThan(0);
    expect((await readdir(join(dir, 'data'), { recursive: true })).length).toBeLessThan(before);
    const restored = await collect(repo.walk(kept));
    expect(restored.get('data/b.bin')!.data!.equals(randomData(11, 2_000_000))).toBe(true);
    expect((await repo.check({ readData: true })).ok).toBe(true);
    await expect(repo.forget({})).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('rejects entries with unsafe paths or out of order', async () => {
    const { repo } = await newRepository();
    await expect(backup(repo, [{ path: '../escape', data: Buffer.from('x') }])).rejects.toMatchObject({ code: 'BAD_ENTRY' });
    await expect(backup(repo, [{ path: 'a/b', data: Buffer.from('x') }, { path: 'c', data: Buffer.from('x') }, { path: 'a/d', data: Buffer.from('x') }])).rejects.toMatchObject({ code: 'BAD_ENTRY' });
  });

  it('counts an unreadable file as a warning and marks the snapshot incomplete', async () => {
    const { repo } = await newRepository();
    const failing = (async function* () {
      yield* entriesOf([{ path: 'ok.txt', data: Buffer.from('fine') }]);
      yield {
        path: 'broken.txt', type: 'file' as const, mode: 0o644, mtimeMs: 0, size: 10,
        open: async function* (): AsyncGenerator<Uint8Array> {
          yield Buffer.from('par');
          throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
        },
      };
    })();
    const warnings: string[] = [];
    const snapshot = await repo.backup([{ name: 'data', kind: 'test', description: 't', entries: failing }], { onWarning: (w) => warnings.push(w.path) });
    expect(warnings).toEqual(['data/broken.txt']);
    expect(snapshot.summary).toMatchObject({ warnings: 1, complete: false, filesNew: 1 });
    expect([...(await collect(repo.walk(snapshot))).keys()]).toEqual(['data', 'data/ok.txt']);
  });

  it('stores files a source opens as descriptors on the workers, and warns of those it cannot open or read', async () => {
    const { repo } = await newRepository();
    const dir = await tempDir();
    const data = randomData(31, 20 * 1024 * 1024 + 3); // the worker tells how far it has read before the end
    await writeFile(join(dir, 'big.bin'), data);
    const file = (path: string, size: number, openFile: () => number) => ({ path, type: 'file' as const, mode: 0o644, mtimeMs: 1, size, openFile });
    const entries = (async function* () {
      yield file('a/big.bin', data.length, () => openSync(join(dir, 'big.bin'), 'r'));
      // A directory opens, but reading it fails on the worker: left out once it has its place.
      yield file('a/not-a-file', 0, () => openSync(dir, 'r'));
      yield file('gone', 4, () => {
        throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
      });
      yield* entriesOf([{ path: 'z.txt', data: Buffer.from('streamed') }]);
    })();
    const warnings: Array<{ path: string; code: string | undefined }> = [];
    const bytesDone: number[] = [];
    const snapshot = await repo.backup([{ name: 'data', kind: 'test', description: 't', entries }], {
      onWarning: ({ path, code }) => warnings.push({ path, code }),
      onProgress: (progress) => bytesDone.push(progress.bytesDone),
    });
    // A read failure comes back from the worker whenever it does: order aside.
    expect(warnings.sort((x, y) => x.path.localeCompare(y.path))).toEqual([{ path: 'data/a/not-a-file', code: 'SOURCE_UNREADABLE' }, { path: 'data/gone', code: 'ENOENT' }]);
    expect(snapshot.summary).toMatchObject({ filesNew: 2, warnings: 2, complete: false, bytesRead: data.length + 8 });
    // Counted as read while the worker reads, then once whole: never twice.
    expect(bytesDone.at(-1)).toBe(data.length + 8);
    expect(Math.max(...bytesDone)).toBe(data.length + 8);
    const restored = await collect(repo.walk(snapshot));
    expect([...restored.keys()]).toEqual(['data', 'data/a', 'data/a/big.bin', 'data/z.txt']);
    expect(restored.get('data/a/big.bin')!.data!.equals(data)).toBe(true);
    expect((await repo.check({ readData: true })).ok).toBe(true);
  });

  it('stops reading a file on a worker when the backup is aborted, and leaves a valid repository', async () => {
    const { repo } = await newRepository();
    const dir = await tempDir();
    await writeFile(join(dir, 'huge.bin'), randomData(32, 96 * 1024 * 1024));
    const controller = new AbortController();
    const entries = (async function* () {
      yield {
        path: 'huge.bin', type: 'file' as const, mode: 0o644, mtimeMs: 1, size: 96 * 1024 * 1024,
        openFile: () => {
          setImmediate(() => controller.abort('aborted by the test'));
          return openSync(join(dir, 'huge.bin'), 'r');
        },
      };
    })();
    await expect(repo.backup([{ name: 'data', kind: 'test', description: 't', entries }], { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED', message: 'aborted by the test' });
    expect((await repo.check({ readData: true })).ok).toBe(true);
    const again = await repo.backup([{ name: 'data', kind: 'test', description: 't', entries: entriesOf([{ path: 'x', data: Buffer.from('x') }]) }]);
    expect(again.summary.filesNew).toBe(1);
  });
});

describe('locks', () => {
  it('ignores and removes a lock left by a process that is gone, and refuses prune while a backup holds one', async () => {
    const { repo, store } = await newRepository('pw');
    const { keys } = await openWithPassword(store, 'pw');
    const now = new Date().toISOString();
    const dead = { exclusive: true, host: hostname(), pid: 2 ** 22 + 7, username: 'x', time: now, refreshed: now };
    await putJson(store, keys.encryption, LOCKS_PREFIX, dead, 'a'.repeat(64));
    // The dead process's exclusive lock does not block a backup...
    await backup(repo, tree);
    // ...and unlock removes it; a live lock is kept.
    const live = { ...dead, exclusive: false, pid: process.pid };
    await putJson(store, keys.encryption, LOCKS_PREFIX, live, 'b'.repeat(64));
    expect(await repo.unlock()).toBe(1);
    await expect(repo.prune()).rejects.toMatchObject({ code: 'REPO_LOCKED' });
    expect(await repo.unlock({ all: true })).toBe(1);
    await expect(repo.prune()).resolves.toMatchObject({ dryRun: false });
  });
});

describe('RestoreEntry.writeFile', () => {
  const files: MemoryFile[] = [
    { path: 'big.bin', data: randomData(21, 5 * 1024 * 1024 + 3) }, // several chunks, each at its place
    { path: 'small.txt', data: Buffer.from('small\n'.repeat(300)) },
    { path: 'empty', data: Buffer.alloc(0) },
  ];

  /** Writes every file of the snapshot through a descriptor into `dir`, returning the contents by path. */
  async function writeAll(repo: Repository, snapshot: Snapshot, dir: string, options: { signal?: AbortSignal } = {}): Promise<Map<string, Buffer>> {
    const written = new Map<string, Buffer>();
    for (const [i, entry] of (await reopen(repo, snapshot)).entries()) {
      const path = join(dir, String(i));
      const fd = openSync(path, 'wx');
      let bytes = 0;
      try {
        await entry.writeFile!(fd, { ...options, onBytes: (n) => (bytes += n) });
      } finally {
        closeSync(fd);
      }
      expect(bytes).toBe(entry.size);
      written.set(entry.path, await readFile(path));
    }
    return written;
  }

  it('writes files on the workers, reading envelopes from local pack files or through the store', async () => {
    const { repo, store } = await newRepository();
    const snapshot = await backup(repo, files);
    expect(store.localPath).toBeTypeOf('function');
    const { localPath: _, ...remote } = store; // a store whose packs can only be read through get
    const remoteRepo = await Repository.open(remote, { password: 'correct horse' });
    for (const reader of [repo, remoteRepo]) {
      const written = await writeAll(reader, snapshot, await tempDir());
      expect([...written.keys()].sort()).toEqual(files.map((f) => `data/${f.path}`).sort());
      for (const file of files) expect(written.get(`data/${file.path}`)!.equals(file.data!)).toBe(true);
    }
    await remoteRepo.close();
    await repo.close();
  });

  it('reports damage and a missing pack as REPO_CORRUPT, a file it cannot write with the system error, and an abort', async () => {
    const { repo, dir } = await newRepository();
    const snapshot = await backup(repo, [files[0]!]);
    const [dataPack] = (await readdir(join(dir, 'data'), { recursive: true, withFileTypes: true })).filter((f) => f.isFile()).map((f) => join(f.parentPath, f.name));
    const out = await tempDir();

    const readOnly = openSync(join(out, 'read-only'), 'wx');
    closeSync(readOnly);
    const fd = openSync(join(out, 'read-only'), 'r');
    const [entry] = await reopen(repo, snapshot);
    const failure = await entry!.writeFile!(fd).then(() => undefined, (error: unknown) => error);
    closeSync(fd);
    expect(failure).toMatchObject({ code: 'EBADF', syscall: 'write' });
    expect(failure).not.toBeInstanceOf(CairnError); // the caller names the file it could not write

    const controller = new AbortController();
    controller.abort();
    await expect(writeAll(repo, snapshot, await tempDir(), { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });

    const bytes = await readFile(dataPack!);
    bytes[40] = bytes[40]! ^ 0xff;
    await writeFile(dataPack!, bytes);
    await expect(writeAll(repo, snapshot, await tempDir())).rejects.toMatchObject({ code: 'REPO_CORRUPT', message: expect.stringMatching(/failed authentication/) });
    await rm(dataPack!);
    await expect(writeAll(repo, snapshot, await tempDir())).rejects.toMatchObject({ code: 'REPO_CORRUPT', message: expect.stringMatching(/is missing/) });
    await repo.close();
  });
});
