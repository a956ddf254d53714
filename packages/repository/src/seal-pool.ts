import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { MasterKeys } from './crypto.js';
import { RepositoryError } from './errors.js';

export interface Sealed {
  id: string;
  envelope: Buffer;
}

interface Reply {
  id: number;
  blobId?: string;
  envelope?: Uint8Array;
  error?: string;
}

/**
 * Compresses and seals blobs on worker threads, one per core: zstd and AES-GCM are the heaviest
 * per-byte work of a backup, and node:zlib's one-shot calls also cost main-thread time per call.
 */
export class SealPool {
  private readonly workers: Worker[];
  private readonly waiting = new Map<number, { resolve: (sealed: Sealed) => void; reject: (error: unknown) => void }>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(keys: MasterKeys, size = Math.max(1, availableParallelism())) {
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

  /** Names `data` by its blob id, compresses it at `zstdLevel` (keeping it raw when that is smaller) and seals it. */
  seal(data: Uint8Array, zstdLevel: number): Promise<Sealed> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const worker = this.workers[id % this.workers.length]!;
    return new Promise((resolve, reject) => {
      // Referenced only while a reply is awaited: an idle pool never keeps the process alive.
      if (this.waiting.size === 0) for (const w of this.workers) w.ref();
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, data, zstdLevel });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private settle(reply: Reply): void {
    const waiter = this.waiting.get(reply.id);
    if (!waiter) return;
    this.waiting.delete(reply.id);
    if (this.waiting.size === 0) for (const w of this.workers) w.unref();
    if (reply.envelope && reply.blobId) {
      waiter.resolve({ id: reply.blobId, envelope: Buffer.from(reply.envelope.buffer, reply.envelope.byteOffset, reply.envelope.byteLength) });
    }
    else waiter.reject(new RepositoryError('REPO_CORRUPT', `compressing a blob failed: ${reply.error}`));
  }

  private fail(error: Error): void {
    this.failure = error;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }
}
