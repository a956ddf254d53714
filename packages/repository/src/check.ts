import { createHash } from 'node:crypto';
import type { BlobReader } from './blob-reader.js';
import type { BlobStore } from './blob-store.js';
import { CairnError, RepositoryError, TargetError, throwIfAborted } from './errors.js';
import { DATA_PREFIX, idFromKey, packKey } from './layout.js';
import type { MasterIndex } from './master-index.js';
import { parsePackHeader } from './pack.js';
import type { PackCheck, SealPool } from './seal-pool.js';
import { forEachLimited } from './semaphore.js';
import { loadTree } from './walk.js';
import type { CheckOptions, CheckProblem, CheckReport, Snapshot } from './types.js';

/**
 * Structure check: every indexed pack exists with its size, every snapshot's trees load, and
 * every blob they reference is indexed. With `readData`, each pack is read whole, its SHA-256
 * compared to its name, its header authenticated, and every blob decrypted and re-hashed.
 * Problems are then traced to the snapshots and files they affect.
 */
export async function checkRepository(
  store: BlobStore,
  encryptionKey: Buffer,
  index: MasterIndex,
  reader: BlobReader,
  pool: SealPool,
  snapshots: Snapshot[],
  snapshotProblems: CheckProblem[],
  options: CheckOptions,
): Promise<CheckReport> {
  const problems: CheckProblem[] = [...snapshotProblems];
  const badBlobs = new Map<string, CheckProblem>();
  const stored = new Map<string, number>();
  for await (const info of store.list(DATA_PREFIX)) stored.set(idFromKey(info.key), info.size);

  const blobsByPack = new Map<string, Array<[string, { offset: number; length: number; rawLength: number }]>>();
  for (const [id, location] of index.entries()) {
    const list = blobsByPack.get(location.pack) ?? [];
    list.push([id, location]);
    blobsByPack.set(location.pack, list);
  }
  for (const [pack, { size }] of index.packs) {
    const actual = stored.get(pack);
    const problem = actual === undefined
      ? { kind: 'missing-pack' as const, message: `pack ${pack.slice(0, 12)} is missing` }
      : actual !== size ? { kind: 'pack-size' as const, message: `pack ${pack.slice(0, 12)} is ${actual} bytes, the index says ${size}` } : undefined;
    if (!problem) continue;
    const entry: CheckProblem = { ...problem, key: packKey(pack), affects: [] };
    problems.push(entry);
    for (const [id] of blobsByPack.get(pack) ?? []) badBlobs.set(id, entry);
  }

  let bytesRead = 0;
  if (options.readData) {
    let packsDone = 0;
    const total = index.packs.size;
    const damaged = (id: string, problem: CheckProblem): void => {
      problems.push(problem);
      badBlobs.set(id, problem);
    };
    /** Records what reading a pack found: its hash against its name, its header, its damaged blobs (`bad`, each with its whole message). */
    const record = (pack: string, found: PackCheck): void => {
      const key = packKey(pack);
      const what = `pack ${pack.slice(0, 12)}`;
      if (found.hash !== pack) problems.push({ kind: 'pack-hash', message: `${what} does not match its hash: its content changed`, key, affects: [] });
      try {
        parsePackHeader(encryptionKey, found.tail, index.packs.get(pack)!.size, what);
      } catch (error) {
        problems.push({ kind: 'pack-hash', message: describe(error), key, affects: [] });
      }
      for (const { id, message } of found.bad) damaged(id, { kind: 'blob-unreadable', message, key, affects: [] });
      options.onProgress?.({ packsDone: ++packsDone, packsTotal: total, bytesDone: bytesRead });
    };
    const packs = [...index.packs].filter(([pack, { size }]) => stored.get(pack) === size);
    if (store.localPath) {
      // Each pack read, hashed and verified whole on a worker, a pack per worker at a time: no
      // byte of it comes to this thread, which is left free, so the pool takes every core.
      await forEachLimited(packs, pool.widen(), async ([pack, { size }], lane) => {
        throwIfAborted(options.signal);
        const blobs = (blobsByPack.get(pack) ?? []).map(([id, location]) => ({ id, ...location }));
        let found: PackCheck;
        try {
          found = await pool.checkPack(store.localPath!(packKey(pack)), size, blobs, lane);
        } catch (error) {
          const problem = unreadablePack(pack, error);
          problems.push(problem);
          for (const blob of blobs) badBlobs.set(blob.id, problem);
          return;
        }
        bytesRead += size;
        const what = `in pack ${pack.slice(0, 12)}`;
        record(pack, { ...found, bad: found.bad.map(({ id, message }) => ({ id, message: `blob ${id.slice(0, 12)} ${what} ${message}` })) });
      });
    } else {
      // One buffer for every pack, as packs are checked one at a time: concatenating each pack's
      // parts into a fresh buffer left two pack-sized buffers per pack for the GC to find.
      let scratch = Buffer.alloc(0);
      await forEachLimited(packs, 1, async ([pack, { size }]) => {
        throwIfAborted(options.signal);
        const hash = createHash('sha256');
        if (scratch.length < size) scratch = Buffer.allocUnsafeSlow(size);
        let length = 0;
        for await (const part of await store.get(packKey(pack))) {
          hash.update(part);
          if (length + part.length > scratch.length) {
            // The pack grew since it was listed; its hash will not match, but read it all the same.
            const bigger = Buffer.allocUnsafeSlow(2 * (length + part.length));
            scratch.copy(bigger, 0, 0, length);
            scratch = bigger;
          }
          scratch.set(part, length);
          length += part.length;
        }
        const bytes = scratch.subarray(0, length);
        bytesRead += bytes.length;
        const bad: PackCheck['bad'] = [];
        // A few blobs at a time: their plaintexts can be several times the pack's size.
        await forEachLimited(blobsByPack.get(pack) ?? [], 4, async ([id, location]) => {
          try {
            // The pool copies the envelope out of `bytes`, so the next pack may reuse the buffer.
            await pool.verify(bytes.subarray(location.offset, location.offset + location.length), id, location.rawLength, `blob ${id.slice(0, 12)} in pack ${pack.slice(0, 12)}`);
          } catch (error) {
            if (!(error instanceof CairnError) || error.code !== 'REPO_CORRUPT') throw error;
            bad.push({ id, message: error.message });
          }
        });
        record(pack, { hash: hash.digest('hex'), tail: bytes, bad });
      });
    }
  }

  // Walk every snapshot once: find unindexed blobs and trace damaged ones to files.
  for (const snapshot of snapshots) {
    const visit = async (treeId: string, prefix: string): Promise<void> => {
      const blocked = badBlobs.get(treeId);
      if (blocked || !index.has(treeId)) {
        const problem = blocked ?? addMissing(problems, badBlobs, treeId, `tree ${treeId.slice(0, 12)} is not in any index`);
        problem.affects.push({ snapshot: snapshot.id, path: prefix || '/' });
        return;
      }
      let nodes;
      try {
        nodes = await loadTree(reader, treeId);
      } catch (error) {
        const problem: CheckProblem = { kind: 'tree-unreadable', message: describe(error), affects: [{ snapshot: snapshot.id, path: prefix || '/' }] };
        problems.push(problem);
        badBlobs.set(treeId, problem);
        return;
      }
      for (const node of nodes) {
        const path = prefix ? `${prefix}/${node.name}` : node.name;
        if (node.type === 'dir' && node.subtree) await visit(node.subtree, path);
        for (const id of node.content ?? []) {
          const problem = badBlobs.get(id) ?? (index.has(id) ? undefined : addMissing(problems, badBlobs, id, `data blob ${id.slice(0, 12)} is not in any index`));
          if (problem && !problem.affects.some((a) => a.snapshot === snapshot.id && a.path === path)) problem.affects.push({ snapshot: snapshot.id, path });
        }
      }
    };
    await visit(snapshot.tree, '');
  }
  return { ok: problems.length === 0, snapshots: snapshots.length, packs: index.packs.size, blobs: index.size, bytesRead, problems };
}

/**
 * Why a pack file could not be read whole: gone, or cut short, since it was listed, is damage to
 * report; any other failure is the store's, and ends the check as a failed `get` would.
 */
function unreadablePack(pack: string, error: unknown): CheckProblem {
  const key = packKey(pack);
  if (error instanceof TargetError && error.code === 'TARGET_NOT_FOUND') return { kind: 'missing-pack', message: `pack ${pack.slice(0, 12)} is missing`, key, affects: [] };
  if (error instanceof RepositoryError) return { kind: 'pack-size', message: error.message, key, affects: [] };
  throw error;
}

function addMissing(problems: CheckProblem[], bad: Map<string, CheckProblem>, id: string, message: string): CheckProblem {
  const problem: CheckProblem = { kind: 'blob-missing', message, affects: [] };
  problems.push(problem);
  bad.set(id, problem);
  return problem;
}

function describe(error: unknown): string {
  return error instanceof CairnError || error instanceof Error ? error.message : String(error);
}
