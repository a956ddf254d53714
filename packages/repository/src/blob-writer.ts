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
  private readonly builders: Record<BlobType, PackBuilder>;
  /** Pack buffers whose pack is stored, for the next builders: packs never become garbage. */
  private readonly spareBuffers: Buffer[] = [];
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
    this.builders = { data: this.newBuilder(), tree: this.newBuilder() };
  }

  /**
   * Stores a blob under `id` (its blobId, computed by the caller so that known content is never
   * sent to the workers); resolves once the writer has room for it. False: already stored.
   */
  async save(type: BlobType, id: string, data: Uint8Array): Promise<boolean> {
    this.throwIfFailed();
    if (this.index.has(id) || this.pending.has(id)) return false;
    this.pending.add(id);
    await this.compressing.acquire();
    // The pool keeps `data` only until it is copied into a slot and the work below never holds it:
    // a closure over it kept each chunk in flight alive until sealed, into the old generation.
    const rawLength = data.length;
    const sealing = this.sealer.seal(data, this.options.zstdLevel, (envelope) => {
      this.blobsAdded++;
      this.bytesAdded += envelope.length;
      this.builders[type].add(type, id, envelope, rawLength);
    });
    this.track(
      (async () => {
        try {
          await sealing;
          if (this.builders[type].size >= this.packSize) await this.uploadPack(type);
        } finally {
          this.compressing.release();
        }
      })(),
    );
    return true;
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
    this.builders[type] = this.newBuilder();
    const pack = builder.finish(this.keys.encryption);
    this.bytesAdded += pack.size - builder.size;
    await this.uploading.acquire();
    this.track(
      (async () => {
        try {
          try {
            await this.store.put(packKey(pack.id), pack.parts);
          } finally {
            // A settled put no longer reads the parts, whatever its outcome.
            this.spareBuffers.push(pack.buffer);
          }
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

  private newBuilder(): PackBuilder {
    // Room for a full pack plus the blob that takes it past `packSize` (chunks are at most 8 MiB
    // by default); untouched pages of a buffer never count towards RSS.
    return new PackBuilder(this.spareBuffers.pop() ?? Buffer.allocUnsafeSlow(this.packSize + 8 * 1024 * 1024 + 64));
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
