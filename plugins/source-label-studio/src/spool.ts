import { close, createReadStream, open, write } from 'node:fs';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const openFd = promisify(open);
const writeFd = promisify(write);
const closeFd = promisify(close);

/** A downloaded body parked in a temporary file: its exact size, readable once. */
export interface Spooled {
  size: number;
  /** Streams the content, then closes the file. */
  open(): AsyncIterable<Uint8Array>;
  /** Closes the file without reading it. */
  close(): Promise<void>;
}

/**
 * Temporary files for bodies whose size must be known before they are read. Each file is unlinked
 * as soon as it is created, so nothing is ever left on disk, whatever happens to the process;
 * its descriptor (a plain number, so garbage collection never closes it behind our back) keeps it
 * until it is read or closed.
 */
export class Spool {
  #dir: string | undefined;
  readonly #open = new Set<number>();
  #counter = 0;

  async write(chunks: AsyncIterable<Uint8Array>): Promise<Spooled> {
    this.#dir ??= await mkdtemp(join(tmpdir(), 'cairn-label-studio-'));
    const path = join(this.#dir, `${++this.#counter}.json`);
    const fd = await openFd(path, 'w+', 0o600);
    this.#open.add(fd);
    let size = 0;
    try {
      await unlink(path);
      for await (const chunk of chunks) {
        for (let done = 0; done < chunk.byteLength;) {
          const { bytesWritten } = await writeFd(fd, chunk, done, chunk.byteLength - done, size);
          done += bytesWritten;
          size += bytesWritten;
        }
      }
    } catch (error) {
      await this.#close(fd);
      throw error;
    }
    let opened = false;
    return {
      size,
      open: () => {
        if (opened) throw new Error('a spooled body is read once');
        opened = true;
        return this.#read(fd);
      },
      close: () => this.#close(fd),
    };
  }

  /** Closes every file not read yet and removes the (empty) directory. */
  async dispose(): Promise<void> {
    await Promise.all([...this.#open].map((fd) => this.#close(fd)));
    await this.removeDirectory();
  }

  /** The files live on unlinked; their directory is no longer needed once they are written. */
  async removeDirectory(): Promise<void> {
    const dir = this.#dir;
    this.#dir = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  }

  async *#read(fd: number): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of createReadStream('', { fd, start: 0, autoClose: false, highWaterMark: 1024 * 1024 })) yield chunk as Buffer;
    } finally {
      await this.#close(fd);
    }
  }

  async #close(fd: number): Promise<void> {
    if (!this.#open.delete(fd)) return;
    await closeFd(fd).catch(() => {});
  }
}
