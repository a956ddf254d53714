import { close, createReadStream, fstat, open, write } from 'node:fs';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SourceEntry } from '@cairn/repository';

const openFd = promisify(open);
const closeFd = promisify(close);
const fstatFd = promisify(fstat);
const writeFd = promisify(write);

/** Content parked in a spool: its exact size, readable once. */
export interface Spooled {
  readonly size: number;
  /** Streams the content, then closes the file. */
  open(): AsyncIterable<Uint8Array>;
  /**
   * Hands the file's descriptor over instead, for `SourceEntry.openFile`: the spool forgets it,
   * and the caller closes it (the repository does, once it has read it).
   */
  openFile(): number;
  /** Closes the file without reading it. */
  close(): Promise<void>;
}

/**
 * A spooled file as an entry's content, offered both ways: a stream, or the descriptor the
 * repository's workers read themselves (a large file on every core). It is opened one way only.
 */
export function spooledContent(file: Spooled): Pick<SourceEntry, 'size' | 'open' | 'openFile'> {
  return { size: file.size, open: () => file.open(), openFile: () => file.openFile() };
}

/**
 * Temporary files for a source plugin's content whose exact size an entry must state before it
 * is read (a table's dump, a copied tablespace, a downloaded export). Each file is unlinked as
 * soon as it is opened, so nothing is left on disk whatever happens to the process — also when
 * the repository never opens an entry: its descriptor (a plain number, which garbage collection
 * never closes behind our back) keeps the file until it is read, closed, or `dispose()`d.
 */
export class Spool {
  #dir: Promise<string> | undefined;
  readonly #open = new Set<number>();
  #counter = 0;

  /** `prefix` names the folder in the system's temporary directory (`cairn-mysql-`). */
  constructor(private readonly prefix: string) {}

  /** Writes `chunks` to a new file and parks it. */
  async write(chunks: AsyncIterable<Uint8Array>): Promise<Spooled> {
    const fd = await this.create();
    try {
      let size = 0;
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
    return this.park(fd);
  }

  /** A new, already unlinked file: write it through the returned descriptor, then `park()` it. */
  async create(): Promise<number> {
    return this.#adopt(await this.#path(), 'w+');
  }

  /** Moves `fill`'s file (written at the path it is given) into the spool, unlinked. */
  async take(fill: (path: string) => Promise<void>): Promise<number> {
    const path = await this.#path();
    try {
      await fill(path);
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    }
    return this.#adopt(path, 'r');
  }

  /** The written file as an entry's content. */
  async park(fd: number): Promise<Spooled> {
    const { size } = await fstatFd(fd);
    let opened = false;
    const once = (): void => {
      if (opened) throw new Error('a spooled file is read once');
      opened = true;
    };
    return {
      size,
      open: () => {
        once();
        return this.#read(fd);
      },
      openFile: () => {
        once();
        this.#open.delete(fd); // not closed by the spool any more: that would be twice
        return fd;
      },
      close: () => this.#close(fd),
    };
  }

  /** The folder is empty once every file is opened: it goes at once; the files live on unlinked. */
  async removeDirectory(): Promise<void> {
    const dir = this.#dir;
    this.#dir = undefined;
    if (dir) await rm(await dir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Closes every file not read yet (a failed or aborted run) and removes the folder. */
  async dispose(): Promise<void> {
    await Promise.all([...this.#open].map((fd) => this.#close(fd)));
    await this.removeDirectory();
  }

  async #path(): Promise<string> {
    this.#dir ??= mkdtemp(join(tmpdir(), this.prefix));
    return join(await this.#dir, `${++this.#counter}`);
  }

  async #adopt(path: string, flags: string): Promise<number> {
    const fd = await openFd(path, flags, 0o600);
    this.#open.add(fd);
    await unlink(path);
    return fd;
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
    await closeFd(fd).catch(() => undefined);
  }
}
