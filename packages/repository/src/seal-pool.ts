import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { MasterKeys } from './crypto.js';
import { RepositoryError } from './errors.js';

interface Reply {
  id: number;
  envelope?: Uint8Array;
  plain?: Uint8Array;
  error?: string;
}

interface Waiter {
  resolve: (reply: Reply) => void;
  reject: (error: unknown) => void;
}

/**
 * Compresses and seals blobs on worker threads, one per core: zstd and AES-GCM are the heaviest
 * per-byte work of a backup, and node:zlib's one-shot calls also cost main-thread time per call.
 */
export class SealPool {
  private readonly workers: Worker[];
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 0;
  private failure: Error | undefined;

  // One core is left to the main thread, which reads, chunks and packs.
  constructor(keys: MasterKeys, size = Math.max(1, availableParallelism() - 1)) {
    // Running from TypeScript sources (tests), the worker is the .ts file; Node strips its types.
    const file = import.meta.url.endsWith('.ts') ? './seal-worker.ts' : './seal-worker.js';
    this.workers = Array.from({ length: size }, () => {
      const worker = new Worker(new URL(file, import.meta.url), { workerData: { key: keys.encryption, idKey: keys.id } });
      worker.on('message', (reply: Reply) => this.settle(reply));
      worker.on('error', (error) => this.fail(error));
      worker.unref();
      return worker;
    });
  }

  /** Compresses `data` at `zstdLevel` (keeping it raw when that is smaller) and seals it into an envelope. */
  async seal(data: Uint8Array, zstdLevel: number): Promise<Buffer> {
    return toBuffer((await this.send({ op: 'seal', data, zstdLevel })).envelope!);
  }

  /** Authenticates, decompresses and checks a blob against its id; damage is REPO_CORRUPT naming `what`. */
  async open(envelope: Uint8Array, blobId: string, rawLength: number, what: string): Promise<Buffer> {
    return toBuffer((await this.unseal('open', envelope, blobId, rawLength, what)).plain!);
  }

  /** As `open`, for `check`: the plaintext stays in the worker, so it never becomes garbage here. */
  async verify(envelope: Uint8Array, blobId: string, rawLength: number, what: string): Promise<void> {
    await this.unseal('verify', envelope, blobId, rawLength, what);
  }

  private async unseal(op: 'open' | 'verify', envelope: Uint8Array, blobId: string, rawLength: number, what: string): Promise<Reply> {
    try {
      // A private copy of just the envelope, handed over without another copy: posting the view
      // itself would copy its whole buffer (a pack window, or a whole pack during check).
      const own = new Uint8Array(envelope);
      return await this.send({ op, envelope: own, blobId, rawLength }, [own.buffer]);
    } catch (error) {
      if (error instanceof WorkerReplyError) throw new RepositoryError('REPO_CORRUPT', `${what} ${error.message}`);
      throw error;
    }
  }

  private send(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const worker = this.workers[id % this.workers.length]!;
    return new Promise((resolve, reject) => {
      // Referenced only while a reply is awaited: an idle pool never keeps the process alive.
      if (this.waiting.size === 0) for (const w of this.workers) w.ref();
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** Stops the workers; work still waiting is refused rather than left hanging. */
  async close(): Promise<void> {
    this.fail(new RepositoryError('REPO_CLOSED', 'the repository was closed while blobs were still being processed'));
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private settle(reply: Reply): void {
    const waiter = this.waiting.get(reply.id);
    if (!waiter) return;
    this.waiting.delete(reply.id);
    if (this.waiting.size === 0) for (const w of this.workers) w.unref();
    if (reply.error === undefined) waiter.resolve(reply);
    else waiter.reject(new WorkerReplyError(reply.error));
  }

  private fail(error: Error): void {
    this.failure = error;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }
}

/** An operation the worker refused (bad data), as opposed to the worker itself failing. */
class WorkerReplyError extends Error {}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
