import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { AbortedError, TargetError, isReplayable, isTransientNetworkError, throwIfAborted, withRetry, withTimeout } from '@cairn/core';
import type { BlobInfo, BlobStore, ByteRange, Logger } from '@cairn/core';
import type { ConnectionPool } from './connection-pool.js';
import type { RawSftp, SftpConnection } from './connection.js';
import { checkKey, TEMP_SUFFIX } from './keys.js';
import { SFTP_STATUS, codeOf, isNoSuchFile, toTargetError } from './sftp-errors.js';
import type { ParsedSftpOptions } from './sftp-options.js';
import { writeBody } from './write-file.js';

/** Bytes per READ request (OpenSSH answers at most 256 KiB) and requests kept in flight per read. */
const READ_PIECE = 256 * 1024;
const READS_IN_FLIGHT = 16;
const STALE_TEMP_MS = 24 * 60 * 60 * 1000;

export interface StoreSettings {
  options: ParsedSftpOptions;
  /** `user@host:port`, for messages. */
  server: string;
  pool: ConnectionPool;
  logger: Logger;
}

/** The blob-store methods over a directory on an SFTP server. */
export function sftpStore(settings: StoreSettings): Omit<BlobStore, 'capabilities' | 'location'> {
  const { options, server, pool, logger } = settings;
  const root = options.path.replace(/\/+$/, '');
  const pathOf = (key: string) => `${root}/${checkKey(key)}`;
  /** Directories known to exist, so a put creates its parents once per store, not once per object. */
  const knownDirs = new Set<string>();

  /** Runs `operation` on a pooled connection with a deadline, mapping what it throws. */
  async function onConnection<T>(action: string, path: string, operation: (connection: SftpConnection) => Promise<T>): Promise<T> {
    const { connection, release } = await pool.acquire();
    try {
      return await withTimeout(operation(connection), options.timeoutMs, `${action} ${path} on ${server}`, { plugin: 'sftp', onTimeout: () => pool.drop(connection) });
    } catch (error) {
      const mapped = toTargetError(error, { action, path, server, connectionBroken: connection.broken });
      if ((mapped as TargetError).code === 'TARGET_UNAVAILABLE') pool.drop(connection);
      throw mapped;
    } finally {
      release();
    }
  }

  /** Retries what may pass (a lost connection, a timeout) with back-off, on a fresh connection. */
  function retrying<T>(operation: () => Promise<T>, signal?: AbortSignal, attempts = options.retries + 1): Promise<T> {
    return withRetry(operation, {
      attempts,
      ...(signal ? { signal } : {}),
      retryable: (error) => error instanceof TargetError ? error.code === 'TARGET_UNAVAILABLE' : isTransientNetworkError(error),
      onRetry: (error, attempt, delayMs) => logger.debug(`[sftp] ${(error as Error).message}; trying again in ${Math.round(delayMs)} ms (attempt ${attempt + 1} of ${attempts})`),
    });
  }

  /** `mkdir -p`, remembering what exists. Racing puts may create the same folder: "already there" is fine. */
  async function makeDirs(sftp: RawSftp, dir: string): Promise<void> {
    if (knownDirs.has(dir) || dir === '/' || dir === '' || dir === '.') return;
    try {
      await makeDir(sftp, dir);
    } catch (error) {
      const parent = posix.dirname(dir);
      if (!isNoSuchFile(error) || parent === dir) throw error;
      await makeDirs(sftp, parent);
      await makeDir(sftp, dir);
    }
    knownDirs.add(dir);
  }

  async function makeDir(sftp: RawSftp, dir: string): Promise<void> {
    try {
      await call<void>((cb) => sftp.mkdir(dir, cb));
    } catch (error) {
      if (isNoSuchFile(error)) throw error;
      // OpenSSH answers FAILURE for a folder that exists; anything else is the real error.
      const info = await call<{ isDirectory(): boolean }>((cb) => sftp.stat(dir, cb)).catch(() => undefined);
      if (!info) throw error;
      if (!info.isDirectory()) throw new TargetError('TARGET_IO', `${dir} on ${server} is a file, where a folder of the repository should be: the repository is damaged or its path mistyped`, { plugin: 'sftp' });
    }
  }

  async function openForWrite(sftp: RawSftp, path: string): Promise<Buffer> {
    const dir = posix.dirname(path);
    await makeDirs(sftp, dir);
    try {
      return await call<Buffer>((cb) => sftp.open(path, 'w', { mode: 0o644 }, cb));
    } catch (error) {
      if (!isNoSuchFile(error)) throw error;
      // Someone removed the folder since we made it.
      knownDirs.delete(dir);
      await makeDirs(sftp, dir);
      return call<Buffer>((cb) => sftp.open(path, 'w', { mode: 0o644 }, cb));
    }
  }

  /** When a write fails with the server's catch-all FAILURE, says whether its disk is full. */
  async function noSpaceError(connection: SftpConnection, path: string, cause: unknown): Promise<TargetError | undefined> {
    if (codeOf(cause) !== SFTP_STATUS.FAILURE || connection.broken || !connection.supports('statvfs@openssh.com')) return undefined;
    const info = await withTimeout(call<{ f_bavail: number; f_frsize: number }>((cb) => connection.sftp.ext_openssh_statvfs(posix.dirname(path), cb)), options.timeoutMs, 'statvfs').catch(() => undefined);
    if (!info || info.f_bavail * info.f_frsize > 1024 * 1024) return undefined;
    const free = info.f_bavail * info.f_frsize;
    return new TargetError('TARGET_IO', `no space left on ${server} writing ${path} (${free} bytes free on that file system): free some space on the server or use another directory`, { plugin: 'sftp', cause });
  }

  /** One attempt at an atomic put: a temporary file in the same folder, then a rename over the key. */
  async function putOnce(key: string, final: string, body: Parameters<BlobStore['put']>[1], signal: AbortSignal | undefined): Promise<void> {
    const temp = `${final}.tmp-${randomBytes(6).toString('hex')}`;
    const { connection, release } = await pool.acquire();
    const { sftp } = connection;
    const deadline = <T>(promise: Promise<T>, what: string) => withTimeout(promise, options.timeoutMs, `${what} ${temp} on ${server}`, { plugin: 'sftp', onTimeout: () => pool.drop(connection) });
    let handle: Buffer | undefined;
    let created = false;
    try {
      handle = await deadline(openForWrite(sftp, temp), 'creating');
      created = true;
      await writeBody(connection, handle, body, { signal, idleMs: options.timeoutMs, what: `writing ${temp} on ${server}` });
      // fsync before the rename, so a crash of the server never leaves a complete-looking but empty object.
      if (connection.supports('fsync@openssh.com')) await deadline(call((cb) => sftp.ext_openssh_fsync(handle!, cb)), 'syncing');
      const closing = handle;
      handle = undefined;
      await deadline(call((cb) => sftp.close(closing, cb)), 'closing');
      throwIfAborted(signal);
      await deadline(renameOver(connection, temp, final), 'renaming');
      created = false;
    } catch (error) {
      const full = await noSpaceError(connection, temp, error);
      const mapped = full ?? toTargetError(error, { action: 'writing', path: final, server, connectionBroken: connection.broken });
      if ((mapped as TargetError).code === 'TARGET_UNAVAILABLE') pool.drop(connection);
      else if (created) await cleanUp(connection, handle, temp);
      throw mapped;
    } finally {
      release();
    }
  }

  /** Best effort: a leftover temporary file is never listed, and a listing removes it after a day. */
  async function cleanUp(connection: SftpConnection, handle: Buffer | undefined, temp: string): Promise<void> {
    const { sftp } = connection;
    const quick = <T>(promise: Promise<T>) => withTimeout(promise, options.timeoutMs, 'cleaning up').catch(() => undefined);
    if (handle) await quick(call((cb) => sftp.close(handle, cb)));
    await quick(call((cb) => sftp.unlink(temp, cb)));
  }

  /**
   * posix-rename@openssh.com replaces the target atomically. Without it, SFTP's RENAME refuses to
   * overwrite: the old object is deleted first, so a reader could briefly find no object at all
   * (never a partial one) until the rename lands.
   */
  async function renameOver(connection: SftpConnection, from: string, to: string): Promise<void> {
    if (connection.supports('posix-rename@openssh.com')) {
      await connection.client.posixRename(from, to);
      return;
    }
    try {
      await connection.client.rename(from, to);
    } catch (error) {
      if (codeOf(error) !== SFTP_STATUS.FAILURE) throw error;
      await connection.client.delete(to, true);
      await connection.client.rename(from, to);
    }
  }

  async function openRead(path: string): Promise<OpenFile> {
    const { connection, release } = await pool.acquire();
    try {
      const handle = await withTimeout(call<Buffer>((cb) => connection.sftp.open(path, 'r', cb)), options.timeoutMs, `opening ${path} on ${server}`, { plugin: 'sftp', onTimeout: () => pool.drop(connection) });
      return { handle, connection, release };
    } catch (error) {
      release();
      const mapped = toTargetError(error, { action: 'reading', path, server, connectionBroken: connection.broken });
      if ((mapped as TargetError).code === 'TARGET_UNAVAILABLE') pool.drop(connection);
      throw mapped;
    }
  }

  /** Closes a file opened for reading, quietly: the read is over either way. */
  function closeRead(file: OpenFile): void {
    if (!file.connection.broken) {
      try {
        file.connection.sftp.close(file.handle, () => undefined);
      } catch {
        // The channel closed under us; the handle went with it.
      }
    }
    file.release();
  }

  /**
   * Streams a file (or a range of it) with many READ requests in flight, as the writes do: one
   * request at a time would cap a read at one buffer per round trip. When the connection drops
   * mid-way, reading resumes where it stopped on a new connection (within the retry budget); a
   * read is only ever complete when every byte came.
   */
  async function* readFrom(path: string, range: ByteRange | undefined, first: OpenFile, signal: AbortSignal | undefined): AsyncIterable<Uint8Array> {
    let current: OpenFile | undefined = first;
    const start = range?.offset ?? 0;
    const end = range ? range.offset + range.length : Infinity;
    let position = start;
    let resumes = 0;
    try {
      for (;;) {
        const file: OpenFile = current!;
        try {
          for await (const chunk of readPipelined(file, position, end, signal)) {
            position += chunk.length;
            yield chunk;
          }
          if (file.connection.broken) throw new TargetError('TARGET_UNAVAILABLE', `lost the connection to ${server} while reading ${path}`, { plugin: 'sftp' });
          // A range past the end of the object comes back short, as a local file read would.
          return;
        } catch (error) {
          const mapped = error instanceof AbortedError ? error : toTargetError(error, { action: 'reading', path, server, connectionBroken: file.connection.broken });
          if (!(mapped instanceof TargetError) || mapped.code !== 'TARGET_UNAVAILABLE' || resumes >= options.retries) throw mapped;
          pool.drop(file.connection);
          closeRead(file);
          current = undefined;
          resumes++;
          logger.debug(`[sftp] ${mapped.message}; resuming at byte ${position - start}`);
          current = await retrying(() => openRead(path), signal, options.retries + 1 - resumes);
        }
      }
    } finally {
      if (current) closeRead(current);
    }
  }

  /** READ requests of one piece each, up to READS_IN_FLIGHT ahead of the one being yielded, in order. */
  async function* readPipelined(file: OpenFile, from: number, end: number, signal: AbortSignal | undefined): AsyncIterable<Uint8Array> {
    const piece = Math.min(READ_PIECE, file.connection.maxReadLength);
    const pending: Array<{ position: number; length: number; result: Promise<Buffer> }> = [];
    let next = from;
    const fill = () => {
      while (pending.length < READS_IN_FLIGHT && next < end) {
        const length = Math.min(piece, end - next);
        const position = next;
        next += length;
        const result = withTimeout(
          call<Buffer>((cb) => file.connection.sftp.read(file.handle, Buffer.allocUnsafe(length), 0, length, position, (error, bytes, buffer) => cb(error, error ? buffer : buffer.subarray(0, bytes)))),
          options.timeoutMs, `reading at byte ${position} on ${server}`, { plugin: 'sftp', onTimeout: () => pool.drop(file.connection) },
        );
        result.catch(() => undefined); // awaited in order below; one asked past the end may be abandoned
        pending.push({ position, length, result });
      }
    };
    fill();
    while (pending.length > 0) {
      throwIfAborted(signal);
      const { position, length, result } = pending.shift()!;
      const data = await result;
      if (data.length > 0) yield data;
      if (data.length < length) {
        // A short answer: the end of the file, or a server that sends less. What was asked beyond
        // it is dropped; an empty answer ends the read, any other continues right after it.
        pending.length = 0;
        if (data.length === 0) return;
        next = position + data.length;
      }
      fill();
    }
  }

  return {
    async put(key, body, { signal } = {}) {
      const final = pathOf(key);
      throwIfAborted(signal);
      // A stream cannot be sent again: its put gets one attempt.
      await retrying(() => putOnce(key, final, body, signal), signal, isReplayable(body) ? options.retries + 1 : 1);
    },

    async get(key, { range, signal } = {}) {
      const path = pathOf(key);
      throwIfAborted(signal);
      const opened = await retrying(() => openRead(path), signal).catch((error: unknown) => {
        if (error instanceof TargetError && error.code === 'TARGET_NOT_FOUND') {
          throw new TargetError('TARGET_NOT_FOUND', `no object ${key} in ${root} on ${server}`, { plugin: 'sftp', cause: error });
        }
        throw error;
      });
      if (range && range.length <= 0) {
        closeRead(opened);
        return (async function* () {})();
      }
      return readFrom(path, range, opened, signal);
    },

    list(prefix, { signal } = {}) {
      return listKeys(prefix, signal);
    },

    async delete(key) {
      const path = pathOf(key);
      await retrying(() => onConnection('deleting', path, (connection) => connection.client.delete(path, true)));
    },

    async stat(key): Promise<BlobInfo | undefined> {
      const path = pathOf(key);
      try {
        const info = await retrying(() => onConnection('checking', path, (connection) => connection.client.stat(path)));
        return info.isFile ? { key, size: info.size } : undefined;
      } catch (error) {
        if (error instanceof TargetError && error.code === 'TARGET_NOT_FOUND') return undefined;
        throw error;
      }
    },

    async close() {
      await pool.close();
    },
  };

  /**
   * Walks only the folder the prefix points into and the subfolders that can hold matches,
   * reading up to `connections` folders at once.
   */
  async function* listKeys(prefix: string, signal: AbortSignal | undefined): AsyncIterable<BlobInfo> {
    const slash = prefix.lastIndexOf('/');
    const startKey = slash < 0 ? '' : prefix.slice(0, slash + 1);
    if (startKey) checkKey(startKey.slice(0, -1));
    const queue = [startKey];
    const pending = new Map<number, Promise<{ id: number; dirKey: string; entries: Entry[] }>>();
    let nextId = 0;
    while (queue.length > 0 || pending.size > 0) {
      throwIfAborted(signal);
      while (queue.length > 0 && pending.size < options.connections) {
        const dirKey = queue.shift()!;
        const id = nextId++;
        const reading = readDir(dirKey, signal).then((entries) => ({ id, dirKey, entries }));
        reading.catch(() => undefined); // awaited below; this only keeps an abandoned walk quiet
        pending.set(id, reading);
      }
      const { id, dirKey, entries } = await Promise.race(pending.values());
      pending.delete(id);
      for (const entry of entries) {
        const key = dirKey + entry.name;
        if (entry.kind === 'dir') {
          const sub = `${key}/`;
          if (sub.startsWith(prefix) || prefix.startsWith(sub)) queue.push(sub);
        } else if (TEMP_SUFFIX.test(entry.name)) {
          // Left by a writer that was killed: invisible, it only costs space. A day's age keeps it clear of a write in progress.
          if (Date.now() - entry.modifyTime > STALE_TEMP_MS) await removeQuietly(`${root}/${key}`);
        } else if (key.startsWith(prefix)) {
          yield { key, size: entry.size };
        }
      }
    }
  }

  async function readDir(dirKey: string, signal: AbortSignal | undefined): Promise<Entry[]> {
    const dirPath = dirKey ? `${root}/${dirKey.slice(0, -1)}` : root || '/';
    let listing: Array<{ type: string; name: string; size: number; modifyTime: number }>;
    try {
      listing = await retrying(() => onConnection('listing', dirPath, (connection) => connection.client.list(dirPath)), signal);
    } catch (error) {
      if (error instanceof TargetError && error.code === 'TARGET_NOT_FOUND') return [];
      throw error;
    }
    const entries: Entry[] = [];
    for (const item of listing) {
      if (item.name === '.' || item.name === '..') continue;
      let kind: Entry['kind'] | undefined = item.type === 'd' ? 'dir' : item.type === '-' ? 'file' : undefined;
      let size = item.size;
      if (item.type === 'l') {
        // A symlink (the user's choice of layout) is followed.
        const path = `${dirPath}/${item.name}`;
        const info = await retrying(() => onConnection('checking', path, (connection) => connection.client.stat(path)), signal).catch((error: unknown) => {
          if (error instanceof TargetError && error.code === 'TARGET_NOT_FOUND') return undefined;
          throw error;
        });
        kind = info?.isDirectory ? 'dir' : info?.isFile ? 'file' : undefined;
        size = info?.size ?? 0;
      }
      if (kind) entries.push({ name: item.name, kind, size, modifyTime: item.modifyTime });
    }
    return entries;
  }

  async function removeQuietly(path: string): Promise<void> {
    await onConnection('removing', path, (connection) => connection.client.delete(path, true)).catch(() => undefined);
  }
}

/** A file opened for reading on one pooled connection. */
interface OpenFile {
  handle: Buffer;
  connection: SftpConnection;
  release: () => void;
}

interface Entry {
  name: string;
  kind: 'file' | 'dir';
  size: number;
  modifyTime: number;
}

/** Promisifies one ssh2 SFTP call. */
function call<T = void>(start: (callback: (error: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      start((error, value) => (error ? reject(error) : resolve(value)));
    } catch (error) {
      reject(error instanceof Error ? error : new Error(String(error)));
    }
  });
}
