import { availableParallelism } from 'node:os';
import type { BlobStore } from './blob-store.js';
import type { MasterKeys } from './crypto.js';
import { packKey } from './layout.js';
import { writeIndexFile, type IndexedPack, type MasterIndex } from './master-index.js';
import { PackBuilder, type BlobType } from './pack.js';
import type { SealPool } from './seal-pool.js';
import { Semaphore } from './semaphore.js';

export interface BlobWriterOptions {
  zstdLevel: number;
  /** Packs are uploaded once they reach this size. */
  packSize?: number;
  /** An index file is written after this many new packs, so an interrupted backup's data is reused. */
  packsPerIndex?: number;
}

/**
 * Turns blobs into sealed envelopes, gathers them into packs, uploads the packs and indexes them:
 * the write path of a backup. Data and tree blobs go to separate packs, so reading metadata
 * never drags file content along. Order on the store: a pack is uploaded before any index
 * names it, and the caller writes the snapshot only after `flush`.
 */
export class BlobWriter {
  private readonly pending = new Set<string>();
  private readonly builders: Record<BlobType, PackBuilder> = { data: new PackBuilder(), tree: new PackBuilder() };
  private readonly compressing: Semaphore;
  private readonly uploading: Semaphore;
  private readonly inFlight = new Set<Promise<void>>();
  private unindexed: IndexedPack[] = [];
  private indexWrite: Promise<void> = Promise.resolve();
  private failure: unknown;
  private readonly packSize: number;
  private readonly packsPerIndex: number;
  bytesAdded = 0;
  blobsAdded = 0;
  readonly indexFiles: string[] = [];

  constructor(
    private readonly store: BlobStore,
    private readonly keys: MasterKeys,
    private readonly index: MasterIndex,
    private readonly options: BlobWriterOptions,
    private readonly sealer: SealPool,
  ) {
    this.packSize = options.packSize ?? 16 * 1024 * 1024;
    this.packsPerIndex = options.packsPerIndex ?? 4;
    this.compressing = new Semaphore(Math.max(2, availableParallelism()) * 2);
    this.uploading = new Semaphore(Math.max(1, Math.min(store.capabilities.maxParallel, 2)));
  }

  /** Stores a tree blob whose id the caller computed; true when it was new. */
  async save(type: BlobType, id: string, data: Uint8Array): Promise<boolean> {
    this.throwIfFailed();
    if (this.index.has(id) || this.pending.has(id)) return false;
    await this.enqueue(type, data);
    return true;
  }

  /**
   * Stores a chunk of file data, hashed on a worker: resolves once the writer has room for it, to
   * the blob id's promise. A chunk already stored is dropped when its id comes back, which costs
   * a wasted compression, but keeps hashing off the main thread.
   */
  async saveData(data: Uint8Array): Promise<{ id: Promise<string> }> {
    this.throwIfFailed();
    return this.enqueue('data', data);
  }

  /** Wrapped in an object: an async function would otherwise wait for the id itself. */
  private async enqueue(type: BlobType, data: Uint8Array): Promise<{ id: Promise<string> }> {
    await this.compressing.acquire();
    const stored = (async () => {
      try {
        const { id, envelope } = await this.sealer.seal(data, this.options.zstdLevel);
        if (this.index.has(id) || this.pending.has(id)) return id;
        this.pending.add(id);
        this.blobsAdded++;
        this.bytesAdded += envelope.length;
        const builder = this.builders[type];
        builder.add(type, id, envelope, data.length);
        if (builder.size >= this.packSize) await this.uploadPack(type);
        return id;
      } finally {
        this.compressing.release();
      }
    })();
    this.track(stored.then(() => undefined));
    return { id: stored };
  }

  /** Stores everything still buffered and indexes it. After this, a snapshot may reference any saved blob. */
  async flush(): Promise<void> {
    await this.settle();
    this.throwIfFailed();
    await Promise.all([this.uploadPack('data'), this.uploadPack('tree')]);
    await this.settle();
    this.throwIfFailed();
    await this.writeIndex();
  }

  /** After a failure or abort: index the packs already uploaded, so the next backup reuses them. */
  async abandon(): Promise<void> {
    await this.settle();
    // Best effort: the error that stopped the backup is the one the caller reports.
    if (this.unindexed.length > 0) await this.writeIndex().catch(() => undefined);
  }

  private async uploadPack(type: BlobType): Promise<void> {
    const builder = this.builders[type];
    if (builder.blobs.length === 0) return;
    this.builders[type] = new PackBuilder();
    const pack = builder.finish(this.keys.encryption);
    this.bytesAdded += pack.size - builder.size;
    await this.uploading.acquire();
    this.track(
      (async () => {
        try {
          await this.store.put(packKey(pack.id), streamParts(pack.parts));
          const indexed: IndexedPack = { id: pack.id, size: pack.size, blobs: pack.blobs };
          this.index.addPack(indexed);
          for (const blob of pack.blobs) this.pending.delete(blob.id);
          this.unindexed.push(indexed);
          if (this.unindexed.length >= this.packsPerIndex) await this.writeIndex();
        } finally {
          this.uploading.release();
        }
      })(),
    );
  }

  /** Index writes are serialised so each pack lands in exactly one index file. */
  private writeIndex(): Promise<void> {
    this.indexWrite = this.indexWrite.then(async () => {
      if (this.unindexed.length === 0) return;
      const packs = this.unindexed;
      this.unindexed = [];
      this.indexFiles.push(await writeIndexFile(this.store, this.keys.encryption, packs));
    });
    return this.indexWrite;
  }

  private track(work: Promise<void>): void {
    const tracked = work.catch((error: unknown) => {
      this.failure ??= error;
    });
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    await this.indexWrite.catch((error: unknown) => {
      this.failure ??= error;
    });
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

async function* streamParts(parts: Buffer[]): AsyncGenerator<Uint8Array> {
  yield* parts;
}
