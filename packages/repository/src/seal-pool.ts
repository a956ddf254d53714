import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { localReadError } from './blob-store.js';
import { copyBytes } from './bytes.js';
import { gearTable, type CutRules } from './chunker.js';
import type { MasterKeys } from './crypto.js';
import { RepositoryError } from './errors.js';
import { Semaphore } from './semaphore.js';

interface Reply {
  id: number;
  /** Length of the compressed form a `compress` wrote into its slot (none: keep the data raw), or of the plaintext an `open` into its slot. */
  length?: number;
  /** The compressed form of data sent in a buffer of its own (none: keep it raw). */
  packed?: Uint8Array;
  /** What a `hash` found: the blob's id. */
  blobId?: string;
  plain?: Uint8Array;
  error?: string;
  /** Of a `file` request: new chunks sealed into the worker's ring since its last message; `more`, the file is not done; `read`, the bytes read since its last message. */
  sealed?: SealedNote[];
  more?: boolean;
  read?: number;
  /** Of a `file` request, its end: the stretch's chunk ids, and where in the file it starts and ends. */
  ids?: string[];
  start?: number;
  end?: number;
  unreadable?: { message: string; code: string };
  /** Of a `checkPack`: the pack's SHA-256, its sealed header with its length, and the blobs that failed. */
  hash?: string;
  tail?: Uint8Array;
  bad?: Array<{ id: string; message: string }>;
  /** A system call failed: reading a pack file or writing a restored one. */
  systemError?: { message: string; code: string; syscall: string };
  aborted?: boolean;
}

/** A chunk sealed at `offset` of the shared ring, which holds `reserved` bytes for it. */
interface SealedNote {
  blob: string;
  offset: number;
  length: number;
  reserved: number;
  rawLength: number;
}

/** What `storeFile` hands over for each new chunk: valid until `release()`, which must follow. */
export interface SealedChunk {
  id: string;
  envelope: Uint8Array;
  rawLength: number;
  release: () => void;
}

export type FileOutcome =
  | { ids: string[]; size: number }
  | { unreadable: { message: string; code: string } }
  | { aborted: true };

/** One file for `storeFile`: its size as the source gave it (a hint, to cut it in stretches and spread them over the workers), and who hears of it. */
export interface FileHandlers {
  size: number;
  onChunk: (chunk: SealedChunk) => void;
  onRead?: (bytes: number) => void;
}

/** How a backup wants files stored: its compression, its cut rules, what it need not store, and a flag that stops it. */
export interface FileJob {
  zstdLevel: number;
  rules: CutRules;
  known: Uint8Array;
  /** Set [0] to 1 to stop every file of the job between reads. */
  abort: Int32Array;
}

/** A file being stored, its size (0: unknown), and the bytes read of it in all its stretches. */
interface FileState {
  handlers: FileHandlers;
  size: number;
  read: number;
}

interface Waiter {
  resolve: (reply: Reply) => void;
  reject: (error: unknown) => void;
}

/** A slot holds the largest chunk the default chunker cuts (8 MiB), or an envelope of one. */
export const SLOT_BYTES = 8 * 1024 * 1024 + 64 * 1024;
/** Two slots per worker keep each busy while the main thread fills the next one. */
const SLOTS_PER_WORKER = 2;
/**
 * A worker's ring for sealed chunks of files: the largest with room to spare, or many small ones,
 * so that a main thread busy for a while (walking, uploading) does not hold the worker up at once.
 */
const RING_BYTES = SLOT_BYTES + 1024 * 1024;
/** The largest chunk `storeFile` takes: its envelope must fit in a ring. Larger (a custom chunker) go through `hashAndCompress`'s own buffers. */
export const FILE_CHUNK_MAX = SLOT_BYTES - 1024;
/**
 * Workers hold ~5 MiB of objects, but V8 paces its collections by the heap limit, and the zstd
 * and AES outputs they freed (buffers outside the heap: no blob can exhaust it) waited for one
 * 60–100 MiB later. 64 MiB made that wait shorter at no measured cost in speed; 32–48 MiB saved
 * 20–40 MiB more but slowed restore by 10–12 % (and check). File workers, which make such
 * garbage fastest, take 32 MiB: two of them peaked ~35 MiB lower at the same backup speed.
 */
const SEAL_HEAP_MB = 64;
const FILE_HEAP_MB = 32;
/** Files queued per worker: small files take a worker less time than the main thread's pauses (a batch of stats). */
const FILES_PER_WORKER = 16;
/** What a file weighs in a worker's queue on top of its size: its opening, messages and last chunk. */
const FILE_WEIGHT = 256 * 1024;
const FLAG_RAW = Uint8Array.of(0);
const FLAG_ZSTD = Uint8Array.of(1);

/**
 * Compresses new blobs, and opens and verifies stored ones, on worker threads: zstd is the heaviest
 * per-byte work of a backup (AES-GCM, HMAC and zstd of a restore), and node:zlib's one-shot calls
 * also cost main-thread time per call.
 *
 * Blobs and envelopes cross between the threads through a fixed set of slots in one
 * SharedArrayBuffer rather than as a new buffer per message (copied in, or allocated on one
 * thread and freed on another): the memory they use is bounded and reused, never garbage. A
 * request waits for a free slot, which also bounds how many are in flight. Larger blobs (big
 * tree blobs, chunks from a custom chunker) take the old road: copied over, transferred back.
 */
export class SealPool {
  private readonly workers: Worker[] = [];
  private readonly size: number;
  private readonly waiting = new Map<number, Waiter>();
  private readonly slots: SharedArrayBuffer;
  private readonly freeSlots: number[];
  /** Slots kept for the workers `widen` adds. */
  private readonly spareSlots: number[];
  /** Given a slot, or undefined when the pool failed. */
  private readonly slotWaiters: Array<(slot: number | undefined) => void> = [];
  private nextId = 0;
  private failure: Error | undefined;
  /** Settles once every worker has stopped, after a failure. */
  private halted: Promise<void> = Promise.resolve();
  /**
   * Workers that store files (storeFile), one per core, started on the first file: apart from the
   * others, with a smaller heap (see spawn), so restores and checks keep theirs.
   */
  private readonly fileWorkers: Worker[] = [];
  /** The rings of the file workers, and the bytes of each not given back yet. */
  private readonly ring: SharedArrayBuffer;
  private readonly ringUsed: Int32Array;
  /** Per file worker, what its ring holds, in the order written: given back in that order. */
  private readonly ringHeld: Array<Array<{ reserved: number; released: boolean }>> = [];
  /** The files of `file` requests in flight, by request id: a file split in stretches has several. */
  private readonly filesInFlight = new Map<number, FileState>();
  /** Bytes queued on each file worker (see FILE_WEIGHT), and the places in all their queues. */
  private readonly fileLoad: number[] = [];
  private fileSeats: Semaphore | undefined;

  private readonly spawn: (heapMb: number, ring?: number) => Worker;
  private widened = false;

  // One core is left to the main thread, which reads, chunks and packs.
  constructor(keys: MasterKeys, size = Math.max(1, availableParallelism() - 1), slotCount = SLOTS_PER_WORKER * size + 2) {
    // Running from TypeScript sources (tests), the worker is the .ts file; Node strips its types.
    const file = import.meta.url.endsWith('.ts') ? './seal-worker.ts' : './seal-worker.js';
    // Room for the slots of the workers `widen` may add: pages count towards RSS only once written.
    const total = slotCount + SLOTS_PER_WORKER * Math.max(0, availableParallelism() - size);
    this.slots = new SharedArrayBuffer(total * SLOT_BYTES);
    this.freeSlots = Array.from({ length: slotCount }, (_, i) => slotCount - 1 - i);
    this.spareSlots = Array.from({ length: total - slotCount }, (_, i) => slotCount + i);
    this.ring = new SharedArrayBuffer(availableParallelism() * RING_BYTES);
    this.ringUsed = new Int32Array(new SharedArrayBuffer(availableParallelism() * 4));
    const gear = gearTable(keys.chunker);
    this.spawn = (heapMb, ringIndex = -1) => {
      const worker = new Worker(new URL(file, import.meta.url), {
        workerData: { key: keys.encryption, idKey: keys.id, slots: this.slots, slotBytes: SLOT_BYTES, gear, ring: this.ring, ringUsed: this.ringUsed.buffer, ringIndex, ringBytes: RING_BYTES },
        resourceLimits: { maxOldGenerationSizeMb: heapMb },
      });
      worker.on('message', (reply: Reply) => this.settle(ringIndex, reply));
      worker.on('error', (error) => this.fail(error));
      worker.unref();
      return worker;
    };
    this.size = size;
  }

  /**
   * The workers for everything but storing files, started on first use. While a backup has file
   * workers and nothing else needed these, its trees go to the file workers: a thread less.
   */
  private sealWorker(id: number): Worker {
    if (this.workers.length === 0 && this.fileWorkers.length > 0) return this.fileWorkers[id % this.fileWorkers.length]!;
    while (this.workers.length < this.size) this.workers.push(this.started(this.spawn(SEAL_HEAP_MB)));
    return this.workers[id % this.workers.length]!;
  }

  /**
   * Gives the pool a worker on every core, once (it keeps them until closed), and returns how many
   * it has. For work whose main thread leaves a core idle: a restore only creates files, so the
   * workers' decoding is what takes the time (restore 5.8 → 5.3 s on 2 cores, for one more worker:
   * +50 MiB RSS). Also for `check` of a local repository, whose workers read the packs themselves;
   * not when it reads them here (its peak memory went past 300 MiB).
   */
  widen(): number {
    if (!this.widened && !this.failure) {
      this.widened = true;
      while (this.workers.length < availableParallelism()) this.workers.push(this.started(this.spawn(SEAL_HEAP_MB)));
      for (const slot of this.spareSlots.splice(0)) this.releaseSlot(slot);
    }
    return this.workers.length;
  }

  /**
   * Stores the content of the open file `fd` on the workers, which read it to its end, cut, name,
   * compress and seal it: its bytes never reach the main thread. A large file is cut in stretches
   * between anchors (see ChunkerParams), one per worker, into the chunks one pass would cut.
   * `file.onChunk` gets each chunk that is in neither `job.known` nor elsewhere in its stretch, and
   * must release it; `file.onRead`, now and then, the bytes read so far (a large file's progress).
   * Resolves once the file has its places in the workers' queues, with its outcome to come; the
   * caller keeps `fd` open until then.
   */
  async storeFile(fd: number, job: FileJob, file: FileHandlers): Promise<{ outcome: Promise<FileOutcome> }> {
    if (job.rules.max > FILE_CHUNK_MAX) throw new RangeError(`storeFile takes chunks of at most ${FILE_CHUNK_MAX} bytes`);
    if (this.failure) throw this.failure;
    // A file worker on every core: the main thread is left only walking the tree and packing.
    while (this.fileWorkers.length < availableParallelism()) {
      this.fileLoad.push(0);
      this.ringHeld.push([]);
      this.fileWorkers.push(this.started(this.spawn(FILE_HEAP_MB, this.fileWorkers.length)));
    }
    // The size is the source's word (a hint): a missing or odd one counts as an empty file.
    const size = Number.isFinite(file.size) && file.size > 0 ? file.size : 0;
    const state = { handlers: file, size, read: 0 };
    const splits = splitPoints(size, job.rules.anchorSpacing, this.fileWorkers.length);
    const bounds = [0, ...splits, 0];
    const stretches: Array<Promise<Reply>> = [];
    for (let i = 0; i + 1 < bounds.length; i++) {
      const from = bounds[i]!;
      const until = bounds[i + 1]!;
      stretches.push((await this.queueStretch(fd, job, state, from, until, (until || size) - from)).reply);
    }
    const outcome = Promise.all(stretches).then(async (replies): Promise<FileOutcome> => {
      const joined = joinStretches(replies);
      if (joined) return joined;
      // The file changed between the reads of two stretches: read it again in one pass.
      state.read = 0;
      return joinStretches([await (await this.queueStretch(fd, job, state, 0, 0, size)).reply])!;
    });
    return { outcome };
  }

  /**
   * Queues the stretch of a file from the anchor after `from` to the one after `until` (see
   * storeFile) on the worker with the fewest bytes queued; resolves once it has a seat there, with
   * its reply to come. `bytes` is what it weighs there.
   */
  private async queueStretch(fd: number, job: FileJob, file: FileState, from: number, until: number, bytes: number): Promise<{ reply: Promise<Reply> }> {
    const seats = (this.fileSeats ??= new Semaphore(FILES_PER_WORKER * this.fileWorkers.length));
    await seats.acquire();
    // Counted in files, small ones queued behind a large one waited for it, and the walk with them
    // once every seat was taken.
    const worker = this.leastLoaded();
    const weight = bytes + FILE_WEIGHT;
    this.fileLoad[worker]! += weight;
    const id = this.nextId++;
    this.filesInFlight.set(id, file);
    const reply = this.send({ op: 'file', fd, from, until, zstdLevel: job.zstdLevel, rules: job.rules, known: job.known, abort: job.abort }, [], { id, worker: this.fileWorkers[worker]! });
    void reply
      .catch(() => undefined)
      .finally(() => {
        this.filesInFlight.delete(id);
        this.fileLoad[worker]! -= weight;
        seats.release();
      });
    return { reply };
  }

  private leastLoaded(): number {
    let best = 0;
    for (let i = 1; i < this.fileWorkers.length; i++) if (this.fileLoad[i]! < this.fileLoad[best]!) best = i;
    return best;
  }

  /** A chunk a worker sealed into its ring, for the handler of its file. */
  private sealedChunk(worker: number, requestId: number, note: SealedNote): void {
    const held = { reserved: note.reserved, released: false };
    const ring = this.ringHeld[worker]!;
    ring.push(held);
    const release = (): void => {
      if (held.released) return;
      held.released = true;
      let freed = 0;
      while (ring[0]?.released) freed += ring.shift()!.reserved;
      if (freed === 0) return;
      Atomics.sub(this.ringUsed, worker, freed);
      Atomics.notify(this.ringUsed, worker);
    };
    const handler = this.filesInFlight.get(requestId)?.handlers.onChunk;
    if (!handler) return release();
    handler({ id: note.blob, envelope: new Uint8Array(this.ring, note.offset, note.length), rawLength: note.rawLength, release });
  }

  /**
   * Compresses the concatenation of `parts` (`length` bytes) at `zstdLevel` and gives `consume`
   * its stored form: flag (1 zstd, 0 raw) and body, the data itself when zstd does not make it
   * smaller. `consume` must use them before it returns: they may live in a reused slot.
   */
  async compress<T>(parts: readonly Uint8Array[], length: number, zstdLevel: number, consume: (stored: Uint8Array[]) => T): Promise<T> {
    if (length > SLOT_BYTES) {
      const data = Buffer.concat(parts, length);
      const { packed } = await this.send({ op: 'compress', data, zstdLevel });
      return consume(packed ? [FLAG_ZSTD, packed] : [FLAG_RAW, data]);
    }
    return this.withSlot(parts, async (slot, view) => consume(await this.compressSlot(slot, view, length, zstdLevel)));
  }

  /**
   * As `compress`, for a chunk whose id is not known yet: the worker names it first, `claim(id)`
   * says whether the repository needs it, and only then is it compressed and given to `consume`.
   * Resolves with the id. The main thread, which reads and chunks, thus hashes nothing.
   */
  async hashAndCompress(
    parts: readonly Uint8Array[],
    length: number,
    zstdLevel: number,
    claim: (id: string) => boolean,
    consume: (id: string, stored: Uint8Array[]) => void,
  ): Promise<string> {
    if (length > SLOT_BYTES) throw new RangeError(`hashAndCompress takes at most ${SLOT_BYTES} bytes`);
    return this.withSlot(parts, async (slot, view) => {
      const id = (await this.send({ op: 'hash', slot, length })).blobId!;
      if (!claim(id)) return id;
      consume(id, await this.compressSlot(slot, view, length, zstdLevel));
      return id;
    });
  }

  /** The stored form of the `length` bytes in `slot`, which stays in the slot. */
  private async compressSlot(slot: number, view: Uint8Array, length: number, zstdLevel: number): Promise<Uint8Array[]> {
    const reply = await this.send({ op: 'compress', slot, length, zstdLevel });
    // Raw, the data is still in the slot; `parts` are not held past the copy (see BlobWriter.save).
    return reply.length === undefined ? [FLAG_RAW, view.subarray(0, length)] : [FLAG_ZSTD, view.subarray(0, reply.length)];
  }

  /** Authenticates, decompresses and checks a blob against its id; damage is REPO_CORRUPT naming `what`. */
  async open(envelope: Uint8Array, blobId: string, rawLength: number, what: string): Promise<Buffer> {
    return toBuffer((await this.unseal('open', envelope, blobId, rawLength, what)).plain!);
  }

  /**
   * As `open`, but the plaintext stays in a slot, lent: `data` is valid until `release()`, which
   * must follow. A restore writes blobs out and is done with them, so this spares it a new buffer
   * per blob (and the collections they caused). Blobs too large for a slot come as `open` does.
   * `seated` is called once the blob holds its slot (or needs none).
   */
  async openInSlot(envelope: Uint8Array, blobId: string, rawLength: number, what: string, seated?: () => void): Promise<LentBlob> {
    if (envelope.length > SLOT_BYTES || rawLength > SLOT_BYTES) {
      seated?.();
      return { data: await this.open(envelope, blobId, rawLength, what), release: () => {} };
    }
    const slot = await this.acquireSlot();
    seated?.();
    try {
      const view = this.slotView(slot);
      copyBytes(envelope, view);
      const { length } = await this.send({ op: 'open', slot, length: envelope.length, blobId, rawLength, intoSlot: true });
      let released = false;
      const release = (): void => {
        if (!released) this.releaseSlot(slot);
        released = true;
      };
      return { data: view.subarray(0, length), release };
    } catch (error) {
      this.releaseSlot(slot);
      if (error instanceof WorkerReplyError) throw new RepositoryError('REPO_CORRUPT', `${what} ${error.message}`);
      throw error;
    }
  }

  /** As `open`, for `check`: the plaintext stays in the worker, so it never becomes garbage here. */
  async verify(envelope: Uint8Array, blobId: string, rawLength: number, what: string): Promise<void> {
    await this.unseal('verify', envelope, blobId, rawLength, what);
  }

  /**
   * As `open`, but the worker writes the plaintext into the open file `fd` at `position`: it never
   * comes back to this thread. The envelope is given, or read by the worker from a pack file on
   * this machine (`PackRange`), so that it never comes here either. Resolves with the plaintext's
   * length. A failed write rejects with the system's error (`code`, e.g. ENOSPC, and `syscall`
   * 'write'), a failed read of the pack file as the store would (see localReadError), damage with
   * REPO_CORRUPT. However it ends, no worker writes into `fd` for this call afterwards: the caller
   * may close `fd` once its calls have settled.
   */
  async writeInto(envelope: Uint8Array | PackRange, blobId: string, rawLength: number, what: string, fd: number, position: number): Promise<number> {
    try {
      if (envelope instanceof Uint8Array) return (await this.unseal('write', envelope, blobId, rawLength, what, { fd, position })).length!;
      return (await this.send({ op: 'write', pack: envelope, blobId, rawLength, fd, position })).length!;
    } catch (error) {
      if (error instanceof WorkerReplyError) throw new RepositoryError('REPO_CORRUPT', `${what} ${error.message}`);
      // The pool failed under us: a worker may still be in this write until it is stopped.
      if (error === this.failure) await this.halted;
      if (!(envelope instanceof Uint8Array) && isFailedRead(error)) throw localReadError(envelope.path, error);
      throw error;
    }
  }

  /**
   * Checks the pack file at `path` on a worker, for check --read-data on a local repository: it
   * reads the file whole (`size` bytes), hashes it, and opens and verifies each of `blobs` as
   * `verify` does, so no byte of it comes to this thread. Resolves with the pack's SHA-256, its
   * last bytes (the sealed header and its length, for parsePackHeader) and the blobs that failed,
   * with why. A failed read rejects as in `writeInto`; a file shorter than `size`, with
   * REPO_CORRUPT. `lane`, from 0 to the count `widen` returned, says which worker: a caller
   * checking that many packs at once then keeps each busy.
   */
  async checkPack(path: string, size: number, blobs: PackBlob[], lane: number): Promise<PackCheck> {
    try {
      const workers = this.widen();
      const reply = await this.send({ op: 'checkPack', path, size, blobs }, [], { id: this.nextId++, worker: this.workers[lane % workers]! });
      return { hash: reply.hash!, tail: toBuffer(reply.tail!), bad: reply.bad! };
    } catch (error) {
      if (error instanceof WorkerReplyError) throw new RepositoryError('REPO_CORRUPT', `pack file ${path} ${error.message}`);
      if (isFailedRead(error)) throw localReadError(path, error);
      throw error;
    }
  }

  private async unseal(op: 'open' | 'verify' | 'write', envelope: Uint8Array, blobId: string, rawLength: number, what: string, extra = {}): Promise<Reply> {
    try {
      if (envelope.length <= SLOT_BYTES) {
        return await this.withSlot([envelope], (slot) => this.send({ op, slot, length: envelope.length, blobId, rawLength, ...extra }));
      }
      // A private copy of just the envelope, handed over without another copy: posting the view
      // itself would copy its whole buffer (a pack window, or a whole pack during check).
      const own = new Uint8Array(envelope);
      return await this.send({ op, envelope: own, blobId, rawLength, ...extra }, [own.buffer]);
    } catch (error) {
      if (error instanceof WorkerReplyError) throw new RepositoryError('REPO_CORRUPT', `${what} ${error.message}`);
      throw error;
    }
  }

  /** Copies `parts`, one after the other, into a free slot for the length of `work`; the slot is free again however `work` ends. */
  private async withSlot<T>(parts: readonly Uint8Array[], work: (slot: number, view: Uint8Array) => Promise<T>): Promise<T> {
    const slot = await this.acquireSlot();
    try {
      const view = this.slotView(slot);
      let at = 0;
      for (const part of parts) at += copyBytes(part, view, at);
      return await work(slot, view);
    } finally {
      this.releaseSlot(slot);
    }
  }

  /**
   * A free slot, first come first served: a freed slot goes straight to the longest waiter. Lent
   * plaintexts (`openInSlot`) hold theirs until their reader is done; readers ask for slots in
   * their own order (SlotTurn in blob-reader.ts), so every slot holder can go on and give it back.
   */
  private async acquireSlot(): Promise<number> {
    if (this.failure) throw this.failure;
    const free = this.slotWaiters.length === 0 ? this.freeSlots.pop() : undefined;
    if (free !== undefined) return free;
    const slot = await new Promise<number | undefined>((resolve) => this.slotWaiters.push(resolve));
    if (slot === undefined) throw this.failure;
    return slot;
  }

  private releaseSlot(slot: number): void {
    const waiter = this.slotWaiters.shift();
    if (waiter) waiter(slot);
    else this.freeSlots.push(slot);
  }

  private slotView(slot: number): Buffer {
    return Buffer.from(this.slots, slot * SLOT_BYTES, SLOT_BYTES);
  }

  private send(message: Record<string, unknown>, transfer: ArrayBuffer[] = [], to?: { id: number; worker: Worker }): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = to?.id ?? this.nextId++;
    const worker = to?.worker ?? this.sealWorker(id);
    return new Promise((resolve, reject) => {
      // Referenced only while a reply is awaited: an idle pool never keeps the process alive.
      if (this.waiting.size === 0) for (const w of this.everyWorker()) w.ref();
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ ...message, id }, transfer);
    });
  }

  private everyWorker(): Worker[] {
    return [...this.workers, ...this.fileWorkers];
  }

  /** A worker started while replies are awaited is referenced, as the others then are. */
  private started(worker: Worker): Worker {
    if (this.waiting.size > 0) worker.ref();
    return worker;
  }

  /** Stops the workers; work still waiting is refused rather than left hanging. */
  async close(): Promise<void> {
    this.fail(new RepositoryError('REPO_CLOSED', 'the repository was closed while blobs were still being processed'));
    await this.halted;
  }

  private settle(worker: number, reply: Reply): void {
    if (reply.sealed) for (const note of reply.sealed) this.sealedChunk(worker, reply.id, note);
    const file = reply.read ? this.filesInFlight.get(reply.id) : undefined;
    if (file) {
      // Stretches read on a little into the next to find where they end: no more than the whole is told.
      const read = Math.min(file.read + reply.read!, file.size || Infinity);
      if (read > file.read) file.handlers.onRead?.(read);
      file.read = read;
    }
    if (reply.more) return;
    const waiter = this.waiting.get(reply.id);
    if (!waiter) return;
    this.waiting.delete(reply.id);
    if (this.waiting.size === 0) for (const w of this.everyWorker()) w.unref();
    if (reply.systemError) waiter.reject(Object.assign(new Error(reply.systemError.message), reply.systemError));
    else if (reply.error === undefined) waiter.resolve(reply);
    else waiter.reject(new WorkerReplyError(reply.error));
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    // Every worker stops, not only one that failed: one may be writing into a file for a request
    // rejected here (see writeInto).
    this.halted = Promise.all(this.everyWorker().map((worker) => worker.terminate())).then(() => undefined);
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
    for (const wake of this.slotWaiters.splice(0)) wake(undefined);
  }
}

/** A blob of a pack, where it lies in it. */
export interface PackBlob {
  id: string;
  offset: number;
  length: number;
  rawLength: number;
}

/** What `checkPack` found. */
export interface PackCheck {
  hash: string;
  tail: Buffer;
  bad: Array<{ id: string; message: string }>;
}

/** Where an envelope lies in a pack file on this machine (see BlobStore.localPath). */
export interface PackRange {
  path: string;
  offset: number;
  length: number;
}

/** A blob's plaintext in memory that is only borrowed: give it back with `release()` once done with `data`. */
export interface LentBlob {
  data: Buffer;
  release: () => void;
}

/**
 * Multiples of `spacing` that split a file of `size` bytes into stretches of about equal length,
 * at most one per worker and at least one spacing long: none for a file shorter than two.
 */
export function splitPoints(size: number, spacing: number, workers: number): number[] {
  const stretches = Math.min(workers, Math.floor(size / spacing));
  const points: number[] = [];
  for (let i = 1; i < stretches; i++) {
    const point = Math.round((i * size) / stretches / spacing) * spacing;
    if (point > (points.at(-1) ?? 0) && point < size) points.push(point);
  }
  return points;
}

/**
 * The outcome of a file from the replies of its stretches, in order: their chunks joined, when
 * each stretch starts where the one before ended (an empty one, start = end, aside); undefined
 * when one does not, as when the file changed between their reads.
 */
export function joinStretches(replies: ReadonlyArray<Pick<Reply, 'ids' | 'start' | 'end' | 'unreadable' | 'aborted'>>): FileOutcome | undefined {
  const unreadable = replies.find((reply) => reply.unreadable)?.unreadable;
  if (unreadable) return { unreadable };
  if (replies.some((reply) => reply.aborted)) return { aborted: true };
  const ids: string[] = [];
  let size = 0;
  for (const reply of replies) {
    if (reply.start === reply.end) continue;
    if (reply.start !== size) return undefined;
    ids.push(...reply.ids!);
    size = reply.end!;
  }
  return { ids, size };
}

/** An operation the worker refused (bad data), as opposed to the worker itself failing. */
class WorkerReplyError extends Error {}

/** A system call of a worker's that failed, other than the write into a restored file. */
function isFailedRead(error: unknown): boolean {
  const { syscall } = error as NodeJS.ErrnoException;
  return typeof syscall === 'string' && syscall !== 'write';
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
