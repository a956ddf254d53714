import type { BlobStore } from './blob-store.js';
import { RepositoryError } from './errors.js';
import { INDEX_PREFIX } from './layout.js';
import { getJson, listKeys, putJson } from './objects.js';
import type { BlobType, PackedBlob } from './pack.js';

/** Where a blob is: which pack, and the byte range of its envelope in it. */
export interface BlobLocation {
  pack: string;
  offset: number;
  length: number;
  rawLength: number;
  type: BlobType;
}

export interface IndexedPack {
  id: string;
  size: number;
  blobs: PackedBlob[];
}

/** The stored form: compact rows instead of objects, since an index lists every blob. */
interface IndexFile {
  version: 1;
  /** Index files this one replaces (written by prune); they may be deleted once this one exists. */
  supersedes?: string[];
  packs: Array<{ id: string; size: number; blobs: Array<[0 | 1, string, number, number, number]> }>;
}

/** Every index file of the repository merged in memory: blob id → location. */
export class MasterIndex {
  private readonly blobs = new Map<string, BlobLocation>();
  /** Every pack with all the blobs it holds, duplicates included (prune needs them). */
  readonly packs = new Map<string, { size: number; blobs: PackedBlob[] }>();
  /** Ids of the index files loaded. */
  readonly files: string[] = [];

  static async load(store: BlobStore, key: Buffer): Promise<MasterIndex> {
    const index = new MasterIndex();
    const keys = await listKeys(store, INDEX_PREFIX);
    const loaded = await Promise.all(keys.map((k) => getJson<IndexFile>(store, key, k, `index ${k.slice(INDEX_PREFIX.length)}`)));
    loaded.forEach((file, i) => {
      if (file?.version !== 1 || !Array.isArray(file.packs)) {
        throw new RepositoryError('REPO_CORRUPT', `index ${keys[i]} has an unknown layout`);
      }
      index.files.push(keys[i]!.slice(INDEX_PREFIX.length));
      for (const pack of file.packs) {
        index.addPack({
          id: pack.id,
          size: pack.size,
          blobs: pack.blobs.map(([type, id, offset, length, rawLength]) => ({ type: type === 1 ? 'tree' : 'data', id, offset, length, rawLength })),
        });
      }
    });
    return index;
  }

  addPack(pack: IndexedPack): void {
    this.packs.set(pack.id, { size: pack.size, blobs: pack.blobs });
    for (const blob of pack.blobs) {
      if (!this.blobs.has(blob.id)) {
        this.blobs.set(blob.id, { pack: pack.id, offset: blob.offset, length: blob.length, rawLength: blob.rawLength, type: blob.type });
      }
    }
  }

  has(id: string): boolean {
    return this.blobs.has(id);
  }

  get(id: string): BlobLocation | undefined {
    return this.blobs.get(id);
  }

  get size(): number {
    return this.blobs.size;
  }

  entries(): IterableIterator<[string, BlobLocation]> {
    return this.blobs.entries();
  }
}

/** Writes one index file describing `packs`; returns its id. */
export async function writeIndexFile(store: BlobStore, key: Buffer, packs: IndexedPack[], supersedes?: string[]): Promise<string> {
  const file: IndexFile = {
    version: 1,
    ...(supersedes?.length ? { supersedes } : {}),
    packs: packs.map((pack) => ({
      id: pack.id,
      size: pack.size,
      blobs: pack.blobs.map((b) => [b.type === 'tree' ? 1 : 0, b.id, b.offset, b.length, b.rawLength] as [0 | 1, string, number, number, number]),
    })),
  };
  return putJson(store, key, INDEX_PREFIX, file);
}
