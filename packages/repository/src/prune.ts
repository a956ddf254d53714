import type { BlobReader } from './blob-reader.js';
import { readAll, type BlobStore } from './blob-store.js';
import type { MasterKeys } from './crypto.js';
import { DATA_PREFIX, INDEX_PREFIX, idFromKey, packKey } from './layout.js';
import { writeIndexFile, type IndexedPack, type MasterIndex } from './master-index.js';
import { PackBuilder, type PackedBlob } from './pack.js';
import { loadTree } from './walk.js';
import type { PruneResult, Snapshot } from './types.js';

/** A pack whose unused part is at least this share of it is rewritten; below, the space is left. */
const REWRITE_THRESHOLD = 0.2;
const PACK_SIZE = 16 * 1024 * 1024;

/**
 * Removes data no snapshot references. Runs under an exclusive lock. Crash-safe order: new packs
 * are uploaded, then one index naming every pack kept (superseding all old index files), then old
 * index files are deleted, and only then packs. A crash at any point leaves every snapshot readable.
 */
export async function pruneRepository(
  store: BlobStore,
  keys: MasterKeys,
  index: MasterIndex,
  reader: BlobReader,
  snapshots: Snapshot[],
  dryRun: boolean,
): Promise<PruneResult> {
  const used = await usedBlobs(reader, snapshots);
  const keep: IndexedPack[] = [];
  const rewrite: Array<{ id: string; blobs: PackedBlob[] }> = [];
  const remove = new Set<string>();
  let bytesFreed = 0;
  const placed = new Set<string>();
  for (const [id, pack] of index.packs) {
    // A blob stored twice (two backups racing) counts as used only in the first pack holding it.
    const live = pack.blobs.filter((blob) => used.has(blob.id) && !placed.has(blob.id));
    live.forEach((blob) => placed.add(blob.id));
    const liveBytes = live.reduce((sum, blob) => sum + blob.length, 0);
    if (live.length === 0) {
      remove.add(id);
      bytesFreed += pack.size;
    } else if (live.length < pack.blobs.length && 1 - liveBytes / pack.size >= REWRITE_THRESHOLD) {
      rewrite.push({ id, blobs: live });
      remove.add(id);
      bytesFreed += pack.size - liveBytes;
    } else {
      keep.push({ id, size: pack.size, blobs: pack.blobs });
    }
  }
  const orphans: string[] = [];
  for await (const info of store.list(DATA_PREFIX)) {
    const id = idFromKey(info.key);
    if (!index.packs.has(id)) {
      orphans.push(info.key);
      bytesFreed += info.size;
    }
  }
  const result: PruneResult = { packsDeleted: remove.size + orphans.length, packsRewritten: rewrite.length, bytesFreed, dryRun };
  if (dryRun || (remove.size === 0 && orphans.length === 0)) return result;

  keep.push(...(await repack(store, keys, rewrite)));
  const oldIndexFiles = [...index.files];
  await writeIndexFile(store, keys.encryption, keep, oldIndexFiles);
  for (const file of oldIndexFiles) await store.delete(INDEX_PREFIX + file);
  for (const id of remove) await store.delete(packKey(id));
  for (const key of orphans) await store.delete(key);
  return result;
}

/** Copies still-used envelopes into new packs as they are: no decryption needed. */
async function repack(store: BlobStore, keys: MasterKeys, packs: Array<{ id: string; blobs: PackedBlob[] }>): Promise<IndexedPack[]> {
  const written: IndexedPack[] = [];
  let builder = new PackBuilder();
  const upload = async (): Promise<void> => {
    if (builder.blobs.length === 0) return;
    const pack = builder.finish(keys.encryption);
    await store.put(packKey(pack.id), [pack.bytes]);
    // The put is done with the bytes: the next pack may fill the same buffer.
    builder = new PackBuilder(pack.buffer);
    written.push({ id: pack.id, size: pack.bytes.length, blobs: pack.blobs });
  };
  for (const pack of packs) {
    for (const blob of pack.blobs) {
      const envelope = await readAll(await store.get(packKey(pack.id), { range: { offset: blob.offset, length: blob.length } }));
      builder.add(blob.type, blob.id, envelope, blob.rawLength);
      if (builder.size >= PACK_SIZE) await upload();
    }
  }
  await upload();
  return written;
}

/** Every blob reachable from any snapshot; shared subtrees are visited once. */
async function usedBlobs(reader: BlobReader, snapshots: Snapshot[]): Promise<Set<string>> {
  const used = new Set<string>();
  const visit = async (treeId: string): Promise<void> => {
    if (used.has(treeId)) return;
    used.add(treeId);
    for (const node of await loadTree(reader, treeId)) {
      for (const id of node.content ?? []) used.add(id);
      if (node.subtree) await visit(node.subtree);
    }
  };
  for (const snapshot of snapshots) await visit(snapshot.tree);
  return used;
}
