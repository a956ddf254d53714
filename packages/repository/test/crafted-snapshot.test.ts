import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// Imported by path: a package dependency would make a cycle (core builds on repository).
import { createCairn } from '../../core/src/index.js';
import { localTarget } from '../../../plugins/target-local/src/index.js';
import { BlobWriter } from '../src/blob-writer.js';
import { blobId, type MasterKeys } from '../src/crypto.js';
import { CairnError, type Repository } from '../src/index.js';
import { SNAPSHOTS_PREFIX } from '../src/layout.js';
import { MasterIndex } from '../src/master-index.js';
import { putJson } from '../src/objects.js';
import { SealPool } from '../src/seal-pool.js';
import { encodeTree, type TreeNode } from '../src/tree.js';
import { newRepository, tempDir } from './helpers.js';

/**
 * Acceptance: a snapshot crafted to hold `../`, absolute paths, names with a slash, or a symlink
 * followed by a path through it cannot make restore write outside the target directory. The
 * snapshots are written with the repository's own internals (valid packs, index and encryption),
 * as an attacker holding the password could; restore goes through the orchestrator, as users do.
 */

const PASSWORD = 'correct horse';

/** Content-free description of a node to craft; directories list their children. */
type Crafted =
  | { name: string; type: 'file'; data: string; mode?: number }
  | { name: string; type: 'dir'; children: Crafted[]; mode?: number }
  | { name: string; type: 'symlink'; target: string };

interface Scene {
  repoDir: string;
  /** Everything the test owns; restore may only write under `target`. */
  base: string;
  /** Deep inside `base`, so `../` sequences land in `base`, where the sentinel listing sees them. */
  target: string;
  /** A folder next to the target with a file in it: it must stay exactly as it is. */
  sentinel: string;
  repo: Repository;
}

async function scene(): Promise<Scene> {
  const { repo, dir: repoDir } = await newRepository(PASSWORD);
  const base = await tempDir();
  const target = join(base, 'a', 'b', 'c', 'target');
  const sentinel = join(base, 'sentinel');
  await mkdir(join(base, 'a', 'b', 'c'), { recursive: true });
  await mkdir(sentinel);
  await writeFile(join(sentinel, 'keep.txt'), 'untouched\n');
  return { repoDir, base, target, sentinel, repo };
}

/** Stores the crafted tree as a snapshot of one source named `data`; returns the snapshot id. */
async function craftSnapshot(s: Scene, nodes: Crafted[]): Promise<string> {
  // The keys are private to Repository; a crafted snapshot needs them, as an attacker with the password has them.
  const keys = (s.repo as unknown as { keys: MasterKeys }).keys;
  const index = await MasterIndex.load(s.repo.store, keys.encryption);
  const pool = new SealPool(keys, 1);
  const writer = new BlobWriter(s.repo.store, keys, index, { zstdLevel: 3 }, pool);
  const mtime = 1_700_000_000_000;

  const store = async (type: 'tree' | 'data', bytes: Buffer): Promise<string> => {
    const id = blobId(keys.id, bytes);
    await writer.save(type, id, [bytes]);
    return id;
  };
  const storeTree = async (children: Crafted[]): Promise<string> => {
    const encoded: TreeNode[] = [];
    for (const child of children) {
      if (child.type === 'file') {
        const data = Buffer.from(child.data);
        encoded.push({ name: child.name, type: 'file', mode: child.mode ?? 0o644, mtime, size: data.length, content: [await store('data', data)] });
      } else if (child.type === 'dir') {
        encoded.push({ name: child.name, type: 'dir', mode: child.mode ?? 0o755, mtime, size: 0, subtree: await storeTree(child.children) });
      } else {
        encoded.push({ name: child.name, type: 'symlink', mode: 0o777, mtime, size: 0, target: child.target });
      }
    }
    return store('tree', encodeTree(encoded));
  };

  let tree: string;
  try {
    tree = await storeTree([{ name: 'data', type: 'dir', children: nodes }]);
    await writer.flush();
  } finally {
    await pool.close();
  }
  return putJson(s.repo.store, keys.encryption, SNAPSHOTS_PREFIX, {
    time: new Date().toISOString(),
    host: 'attacker',
    username: 'mallory',
    sources: [{ name: 'data', kind: 'files', description: '/crafted' }],
    paths: ['/crafted'],
    tags: [],
    tree,
    summary: { filesNew: 0, filesChanged: 0, filesUnchanged: 0, dirs: 0, bytesRead: 0, bytesTotal: 0, bytesAdded: 0, blobsAdded: 0, warnings: 0, complete: true, durationMs: 0 },
    programVersion: 'crafted',
  });
}

/** Every node under `root` except the restore target's own folder, with content hashes and link targets. */
async function listing(root: string, skip: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (abs: string): Promise<void> => {
    for (const name of (await readdir(abs)).sort()) {
      const path = join(abs, name);
      if (path === skip) continue;
      const info = await lstat(path);
      if (info.isSymbolicLink()) out[path] = `link ${await readlink(path)}`;
      else if (info.isDirectory()) {
        out[path] = `dir ${(info.mode & 0o7777).toString(8)}`;
        await walk(path);
      } else out[path] = `file ${createHash('sha256').update(await readFile(path)).digest('hex')}`;
    }
  };
  await walk(root);
  return out;
}

async function restore(s: Scene, snapshot: string, options: { include?: string[] } = {}): Promise<unknown> {
  const cairn = createCairn({ targets: [localTarget] });
  try {
    await cairn.restore({ repository: { target: s.repoDir, password: PASSWORD }, snapshot, targetDir: s.target, ...options });
    return undefined;
  } catch (error) {
    return error;
  } finally {
    await cairn.close();
  }
}

/** Restores `nodes` into a fresh scene and expects a coded error, with nothing outside the target changed. */
async function expectRefused(nodes: Crafted[], code: string, message: RegExp): Promise<void> {
  await expectRefusedIn(await scene(), nodes, code, message);
}

const payload = (name: string): Crafted => ({ name, type: 'file', data: 'written outside the target\n' });

describe('a crafted snapshot cannot make restore write outside the target', () => {
  it.each([
    ['a file named ".."', [payload('..')]],
    ['a file named "."', [payload('.')]],
    ['an empty name', [payload('')]],
    ['a name "../../../../escaped"', [payload('../../../../escaped')]],
    ['a name "../../etc"', [payload('../../etc')]],
    ['a name "a/b"', [payload('a/b')]],
    ['a name with a NUL byte', [payload('x\0y')]],
    ['a directory named ".." holding a file', [{ name: '..', type: 'dir', children: [{ name: '..', type: 'dir', children: [payload('escaped')] }] }]],
    ['an unsafe name deep in a subtree', [{ name: 'ok', type: 'dir', children: [{ name: 'deeper', type: 'dir', children: [payload('../../../../../escaped')] }] }]],
  ] as Array<[string, Crafted[]]>)('%s: refused as a damaged repository', async (_label, nodes) => {
    await expectRefused(nodes, 'REPO_CORRUPT', /unsafe name/);
  });

  it('an absolute name pointing into the sentinel folder is refused', async () => {
    const s = await scene();
    const id = await craftSnapshot(s, [payload(join(s.sentinel, 'planted.txt'))]);
    const before = await listing(s.base, s.target);
    const error = await restore(s, id);
    expect((error as CairnError).code).toBe('REPO_CORRUPT');
    expect(await listing(s.base, s.target)).toEqual(before);
    await expect(lstat(join(s.sentinel, 'planted.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a symlink to the outside followed by a directory of the same name holding a file is refused', async () => {
    const s = await scene();
    await expectRefusedIn(s, [
      { name: 'link', type: 'symlink', target: s.sentinel },
      { name: 'link', type: 'dir', children: [payload('x')] },
    ], 'RESTORE_UNSAFE_PATH', /link/);
  });

  it('the same in a subtree, and with the directory listed before the symlink', async () => {
    const s = await scene();
    await expectRefusedIn(s, [{
      name: 'sub', type: 'dir', children: [
        { name: 'link', type: 'symlink', target: '../../../../../sentinel' },
        { name: 'link', type: 'dir', children: [payload('x')] },
      ],
    }], 'RESTORE_UNSAFE_PATH', /sub\/link/);
    const t = await scene();
    await expectRefusedIn(t, [{
      name: 'sub', type: 'dir', children: [
        { name: 'link', type: 'dir', children: [payload('x')] },
        { name: 'link', type: 'symlink', target: t.sentinel },
      ],
    }], 'RESTORE_UNSAFE_PATH', /sub\/link/);
  });

  it('a symlink and a file of the same name: the file is not written through the link', async () => {
    const s = await scene();
    await writeFile(join(s.base, 'victim.txt'), 'original\n');
    await expectRefusedIn(s, [
      { name: 'victim', type: 'symlink', target: join(s.base, 'victim.txt') },
      { name: 'victim', type: 'file', data: 'overwritten through a symlink\n' },
    ], 'RESTORE_UNSAFE_PATH', /victim/);
    expect(await readFile(join(s.base, 'victim.txt'), 'utf8')).toBe('original\n');
  });

  it('a symlink pointing outside is restored as a link, and a later restore does not write through it', async () => {
    const s = await scene();
    const planted = await craftSnapshot(s, [{ name: 'link', type: 'symlink', target: s.sentinel }]);
    expect(await restore(s, planted)).toBeUndefined();
    expect(await readlink(join(s.target, 'data', 'link'))).toBe(s.sentinel);

    // A second snapshot uses the planted link as a directory; restoring it into the same target
    // replaces the link (removing only the link) or refuses, but never writes into the sentinel.
    const follow = await craftSnapshot(s, [{ name: 'link', type: 'dir', children: [payload('x')] }]);
    const before = await listing(s.base, s.target);
    const error = await restore(s, follow);
    expect(await listing(s.base, s.target)).toEqual(before);
    await expect(lstat(join(s.sentinel, 'x'))).rejects.toMatchObject({ code: 'ENOENT' });
    if (error === undefined) {
      expect((await lstat(join(s.target, 'data', 'link'))).isDirectory()).toBe(true);
      expect(await readFile(join(s.target, 'data', 'link', 'x'), 'utf8')).toBe('written outside the target\n');
    } else {
      expect((error as CairnError).code).toBe('RESTORE_UNSAFE_PATH');
    }
  });

  it('an --include of "../.." finds nothing and writes nothing', async () => {
    const s = await scene();
    const id = await craftSnapshot(s, [payload('fine.txt')]);
    const before = await listing(s.base, s.target);
    const error = await restore(s, id, { include: ['../..'] });
    expect((error as CairnError).code).toBe('PATH_NOT_FOUND');
    expect(await listing(s.base, s.target)).toEqual(before);
  });
});

async function expectRefusedIn(s: Scene, nodes: Crafted[], code: string, message: RegExp): Promise<void> {
  const id = await craftSnapshot(s, nodes);
  const before = await listing(s.base, s.target);
  const error = await restore(s, id);
  expect(error, 'restore should have failed').toBeInstanceOf(CairnError);
  expect((error as CairnError).code).toBe(code);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).not.toContain('\n');
  expect(await listing(s.base, s.target)).toEqual(before);
  expect(await readFile(join(s.sentinel, 'keep.txt'), 'utf8')).toBe('untouched\n');
}
