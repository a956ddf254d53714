import { readAll, type BlobStore } from './blob-store.js';
import { decompress } from './compression.js';
import { blobId, unseal, type MasterKeys } from './crypto.js';
import { RepositoryError, TargetError } from './errors.js';
import { packKey } from './layout.js';
import type { BlobLocation, MasterIndex } from './master-index.js';
import type { LentBlob, SealPool } from './seal-pool.js';

/** Small blobs are read as part of a window of their pack: neighbours are usually read next. */
const WINDOW_BYTES = 4 * 1024 * 1024;
const WINDOWS_KEPT = 6;

/** A blob this large is read with a range of its own, not through a window. */
function readsAlone(length: number): boolean {
  return length * 4 > WINDOW_BYTES;
}

interface Window {
  pack: string;
  offset: number;
  /** Bytes asked for; the read may return fewer only where the pack ends. */
  length: number;
  data: Promise<Buffer>;
}

/**
 * Where one blob of a reader's read-ahead stands in line for a pool slot: it asks for one only
 * `after` the blob before it has one, and calls `seated` once it has one (or needs none). The
 * slots a reader holds are then always its next blobs, so the reader can always go on. Taken as
 * envelopes arrive instead, a reader's later blobs could hold every slot while the readers all
 * wait for their first ones (a remote store answers ranged reads in any order).
 */
export interface SlotTurn {
  after: Promise<void>;
  seated: () => void;
}

/**
 * Reads blobs back: a ranged read of the envelope (small ones through a window of their pack),
 * then authenticate, decompress and check that the plaintext still hashes to the blob's id, so a
 * mixed-up index cannot go unnoticed. With a pool, that work runs on worker threads.
 */
export class BlobReader {
  private windows: Window[] = [];

  constructor(
    private readonly store: BlobStore,
    private readonly keys: MasterKeys,
    private readonly index: MasterIndex,
    private readonly pool?: SealPool,
  ) {}

  async read(id: string): Promise<Buffer> {
    const { location, envelope, what } = await this.locate(id);
    if (this.pool) return this.pool.open(envelope, id, location.rawLength, what);
    return this.open(id, envelope, location.rawLength, what);
  }

  /**
   * As `read`, but the plaintext may be lent from the pool's memory: call `release()` once done
   * with `data`. A reader that lends several blobs ahead passes each one's `turn` (see SlotTurn).
   */
  async lend(id: string, turn?: SlotTurn): Promise<LentBlob> {
    try {
      if (!this.pool) return { data: await this.read(id), release: () => {} };
      this.pool.widen(); // a restore's main thread only writes files: decoding may have every core
      const { location, envelope, what } = await this.locate(id);
      await turn?.after;
      return await this.pool.openInSlot(envelope, id, location.rawLength, what, turn?.seated);
    } finally {
      turn?.seated(); // failed, or lent without a slot: the blobs after it must not wait for one
    }
  }

  /**
   * Writes blob `id`'s plaintext into the open file `fd` at `position` on a worker (see
   * SealPool.writeInto); resolves with its length once nothing writes for it any more.
   */
  async writeInto(id: string, fd: number, position: number): Promise<number> {
    if (!this.pool) throw new Error('BlobReader.writeInto needs a worker pool');
    this.pool.widen(); // as for lend: the main thread only creates files
    const location = this.index.get(id);
    if (!location) throw notIndexed(id);
    const path = this.store.localPath?.(packKey(location.pack));
    if (path === undefined) {
      const { envelope, what } = await this.locate(id);
      return this.pool.writeInto(envelope, id, location.rawLength, what, fd, position);
    }
    const range = { path, offset: location.offset, length: location.length };
    const pool = this.pool;
    return this.missingIsDamage(location, () => pool.writeInto(range, id, location.rawLength, describe(id, location), fd, position));
  }

  /** The plaintext length of blob `id`, from the index. */
  rawLength(id: string): number {
    const location = this.index.get(id);
    if (!location) throw notIndexed(id);
    return location.rawLength;
  }

  private async locate(id: string): Promise<{ location: BlobLocation; envelope: Buffer; what: string }> {
    const location = this.index.get(id);
    if (!location) throw notIndexed(id);
    const what = describe(id, location);
    const envelope = await this.envelope(location);
    if (envelope.length !== location.length) throw new RepositoryError('REPO_CORRUPT', `${what} is truncated`);
    return { location, envelope, what };
  }

  /** Authenticates, decompresses and verifies an envelope already in memory (as seal-worker.ts's `open`). */
  private async open(id: string, envelope: Buffer, rawLength: number, what: string): Promise<Buffer> {
    const plain = await decompress(unseal(this.keys.encryption, envelope, what), what);
    if (blobId(this.keys.id, plain) !== id) throw new RepositoryError('REPO_CORRUPT', `${what} does not match its id`);
    if (plain.length !== rawLength) throw new RepositoryError('REPO_CORRUPT', `${what} holds ${plain.length} bytes where the index says ${rawLength}`);
    return plain;
  }

  private envelope(location: BlobLocation): Promise<Buffer> {
    return this.missingIsDamage(location, () => this.readEnvelope(location));
  }

  /** Runs a read of `location`'s pack: a pack the index names but the store lacks is damage. */
  private async missingIsDamage<T>(location: BlobLocation, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (error instanceof TargetError && error.code === 'TARGET_NOT_FOUND') {
        throw new RepositoryError('REPO_CORRUPT', `pack ${location.pack.slice(0, 12)} (${packKey(location.pack)}) is missing`, { cause: error });
      }
      throw error;
    }
  }

  private async readEnvelope(location: BlobLocation): Promise<Buffer> {
    const key = packKey(location.pack);
    if (readsAlone(location.length)) {
      return readAll(await this.store.get(key, { range: { offset: location.offset, length: location.length } }));
    }
    const end = location.offset + location.length;
    const covering = this.windows.find((w) => w.pack === location.pack && w.offset <= location.offset && end <= w.offset + w.length);
    if (covering) {
      const data = await covering.data;
      if (end <= covering.offset + data.length) return data.subarray(location.offset - covering.offset, end - covering.offset);
    }
    // A blob that starts in a window but ends past it: the next window starts where that one
    // ends, so consecutive windows never read a byte twice and each starts where the last one
    // stopped (a store can then carry on with the same transfer, as FTP's does).
    const head = this.windows.find((w) => w.pack === location.pack && w.offset < location.offset && location.offset < w.offset + w.length);
    const offset = head ? head.offset + head.length : location.offset;
    const length = this.windowLength(location.pack, offset, end);
    const window: Window = {
      pack: location.pack,
      offset,
      length,
      data: this.store.get(key, { range: { offset, length } }).then(readAll),
    };
    window.data.catch(() => undefined); // awaited below; a failed window is dropped from the cache
    this.windows = [window, ...this.windows.slice(0, WINDOWS_KEPT - 1)];
    try {
      const data = await window.data;
      if (!head) return data.subarray(0, location.length);
      const start = (await head.data).subarray(location.offset - head.offset);
      return Buffer.concat([start, data.subarray(0, end - offset)]);
    } catch (error) {
      this.windows = this.windows.filter((w) => w !== window);
      throw error;
    }
  }

  /**
   * How much of `pack` a window from `offset` reads: at least up to `end`, at most WINDOW_BYTES,
   * and not into a blob read on its own or a window already read (those bytes would come twice).
   */
  private windowLength(pack: string, offset: number, end: number): number {
    const info = this.index.packs.get(pack);
    let stop = Math.min(offset + WINDOW_BYTES, info?.size ?? end);
    for (const blob of info?.blobs ?? []) {
      if (readsAlone(blob.length) && blob.offset >= end && blob.offset < stop) stop = blob.offset;
    }
    for (const window of this.windows) {
      if (window.pack === pack && window.offset >= end && window.offset < stop) stop = window.offset;
    }
    return Math.max(end, stop) - offset;
  }
}

function notIndexed(id: string): RepositoryError {
  return new RepositoryError('REPO_CORRUPT', `blob ${id.slice(0, 12)} is not in any index; run \`cairn check\``);
}

function describe(id: string, location: BlobLocation): string {
  return `blob ${id.slice(0, 12)} in pack ${location.pack.slice(0, 12)}`;
}
