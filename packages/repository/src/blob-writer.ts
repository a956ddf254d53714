import { availableParallelism } from 'node:os';
import type { BlobStore } from './blob-store.js';
import type { CutRules } from './chunker.js';
import { blobId, type MasterKeys } from './crypto.js';
import { KnownIds } from './known-ids.js';
import { packKey } from './layout.js';
import { writeIndexFile, type IndexedPack, type MasterIndex } from './master-index.js';
import { PackBuilder, type BlobType } from './pack.js';
import { SLOT_BYTES, type FileOutcome, type SealPool, type SealedChunk } from './seal-pool.js';
import { Semaphore } from './semaphore.js';

/**
 * Chunks from this size on are hashed by a worker: their bytes go there anyway when new, and the
 * main thread, which reads and chunks, is what limits a backup. Smaller ones (most small files)
 * are hashed here, which costs less than the extra round trip.
 */
const WORKER_HASH_MIN = 256 * 1024;

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
  /** Copies of sealed chunks into the data pack, one after another (see takeSealed). */
  private copying: Promise<void> = Promise.resolve();
  /** Made on the first file stored by descriptor: what the workers need not store. */
  private known: KnownIds | undefined;
  /** Tells workers to stop reading this backup's files. */
  private readonly abortFiles = new Int32Array(new SharedArrayBuffer(4));
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
    private readonly pool: SealPool,
  ) {
    this.packSize = options.packSize ?? 16 * 1024 * 1024;
    this.packsPerIndex = options.packsPerIndex ?? 4;
    this.compressing = new Semaphore(Math.max(2, availableParallelism()) * 2);
    // Packs on this machine's disk go one at a time: a second write in flight was no faster, and
    // held another pack buffer (first backups peaked 15–20 MiB higher).
    this.uploading = new Semaphore(store.localPath ? 1 : Math.max(1, Math.min(store.capabilities.maxParallel, 2)));
    this.builders = { data: this.newBuilder(), tree: this.newBuilder() };
  }

  /**
   * Stores a chunk of file data unless the repository has it. Resolves once the writer has room
   * for more, with the chunk's id to come: hashing may still be under way on a worker.
   */
  async saveChunk(parts: readonly Uint8Array[], length: number): Promise<{ id: Promise<string> }> {
    if (length < WORKER_HASH_MIN || length > SLOT_BYTES) {
      const id = blobId(this.keys.id, ...parts);
      await this.save('data', id, parts);
      return { id: Promise.resolve(id) };
    }
    this.throwIfFailed();
    await this.compressing.acquire();
    const id = this.pool.hashAndCompress(parts, length, this.options.zstdLevel, (found) => this.claim(found), (found, stored) => this.seal('data', found, stored, length));
    // A failure reaches the caller through `id` and, should it have moved on (a file it skips), through flush.
    id.catch(() => undefined);
    this.track(this.afterSealing('data', id));
    return { id };
  }

  /**
   * Stores a blob under `id` (its blobId, computed by the caller so that known content is never
   * sent to the workers); resolves once the writer has room for it. False: already stored.
   */
  async save(type: BlobType, id: string, parts: readonly Uint8Array[]): Promise<boolean> {
    this.throwIfFailed();
    if (!this.claim(id)) return false;
    await this.compressing.acquire();
    // The pool keeps `parts` only until they are copied into a slot and the work below never holds
    // them: a closure over them kept each chunk in flight alive until sealed, into the old generation.
    let rawLength = 0;
    for (const part of parts) rawLength += part.length;
    this.track(this.afterSealing(type, this.pool.compress(parts, rawLength, this.options.zstdLevel, (stored) => this.seal(type, id, stored, rawLength))));
    return true;
  }

  /**
   * Stores the content of the open file `fd`: a worker reads, cuts, names, compresses and seals it,
   * and new chunks come back sealed. Resolves once the file is queued, with its outcome to come
   * (its chunk ids; or why it could not be read, for a warning); `fd` must stay open until then.
   */
  async saveFile(fd: number, file: { rules: CutRules; size: number; onRead?: (bytes: number) => void }): Promise<{ outcome: Promise<FileOutcome> }> {
    this.throwIfFailed();
    if (!this.known) {
      this.known = KnownIds.of(this.index);
      for (const id of this.pending) this.known.add(id);
    }
    const job = { zstdLevel: this.options.zstdLevel, rules: file.rules, known: this.known.table, abort: this.abortFiles };
    const { outcome } = await this.pool.storeFile(fd, job, { size: file.size, onChunk: (chunk) => this.takeSealed(chunk), ...(file.onRead ? { onRead: file.onRead } : {}) });
    const checked = outcome.then((result) => {
      // The workers skip what the shared table calls stored; it is a hint, this is the rule.
      if ('ids' in result) for (const id of result.ids) if (!this.index.has(id) && !this.pending.has(id)) throw new Error(`a worker skipped chunk ${id}, which is not stored`);
      return result;
    });
    checked.catch(() => undefined);
    this.track(checked.then(() => undefined));
    return { outcome: checked };
  }

  /**
   * A chunk a worker sealed: copied into the data pack in arrival order, behind any pack upload
   * that must start first, so packs waiting in memory stay bounded; its ring slot is free once copied.
   */
  private takeSealed(chunk: SealedChunk): void {
    if (!this.claim(chunk.id)) return chunk.release();
    this.copying = this.copying.then(async () => {
      try {
        if (this.failure !== undefined) return;
        // A pack goes before it would pass its size, not after: the pages a pack buffer ever
        // touched stay resident while it is reused, so overshooting by up to a chunk costs memory.
        const builder = this.builders.data;
        if (builder.size > 0 && builder.size + chunk.envelope.length > this.packSize) await this.uploadPack('data');
        this.builders.data.add('data', chunk.id, chunk.envelope, chunk.rawLength);
        this.blobsAdded++;
        this.bytesAdded += chunk.envelope.length;
      } catch (error) {
        this.failure ??= error;
      } finally {
        chunk.release();
      }
    });
    this.track(this.copying);
  }

  /** True, and marked as on its way, when the repository does not have blob `id` yet. */
  private claim(id: string): boolean {
    if (this.index.has(id) || this.pending.has(id)) return false;
    this.pending.add(id);
    this.known?.add(id);
    return true;
  }

  private seal(type: BlobType, id: string, stored: Uint8Array[], rawLength: number): void {
    this.blobsAdded++;
    this.bytesAdded += this.builders[type].seal(type, id, this.keys.encryption, stored, rawLength);
  }

  /** Once a blob is in its pack builder: uploads the pack when full, and frees the blob's place in flight. */
  private async afterSealing(type: BlobType, sealing: Promise<unknown>): Promise<void> {
    try {
      await sealing;
      if (this.builders[type].size >= this.packSize) await this.uploadPack(type);
    } finally {
      this.compressing.release();
    }
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

  /** Tells the workers to stop reading this backup's files: their outcomes become `aborted`. */
  stopFiles(): void {
    Atomics.store(this.abortFiles, 0, 1);
  }

  /** After a failure or abort: index the packs already uploaded, so the next backup reuses them. */
  async abandon(): Promise<void> {
    this.stopFiles();
    await this.settle();
    // Best effort: the error that stopped the backup is the one the caller reports.
    if (this.unindexed.length > 0) await this.writeIndex().catch(() => undefined);
  }

  private async uploadPack(type: BlobType): Promise<void> {
    const builder = this.builders[type];
    if (builder.blobs.length === 0) return;
    this.builders[type] = this.newBuilder();
    const pack = builder.finish(this.keys.encryption);
    this.bytesAdded += pack.bytes.length - builder.size;
    await this.uploading.acquire();
    this.track(
      (async () => {
        try {
          try {
            await this.store.put(packKey(pack.id), [pack.bytes]);
          } finally {
            // A settled put no longer reads the bytes, whatever its outcome.
            this.spareBuffers.push(pack.buffer);
          }
          const indexed: IndexedPack = { id: pack.id, size: pack.bytes.length, blobs: pack.blobs };
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
