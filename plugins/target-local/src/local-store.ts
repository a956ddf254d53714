import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdir, open, opendir, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TargetError, bodyParts, throwIfAborted } from '@cairn/core';
import type { BlobInfo, BlobStore, ByteRange, PutBody } from '@cairn/core';
import { isMissing, toTargetError } from './fs-errors.js';
import { keyToRelativePath, TEMP_SUFFIX } from './keys.js';

const READ_CHUNK = 1024 * 1024;
/** A ranged read up to this size is one read into one buffer: a repository reads whole blobs and pack windows, and joining pieces cost a copy of each. */
const MAX_RANGE_READ = 8 * 1024 * 1024;

/** The blob-store methods over a directory; `root` is absolute. */
export function localStore(root: string): Omit<BlobStore, 'capabilities' | 'location'> {
  const pathOf = (key: string) => `${root}/${keyToRelativePath(key)}`;

  return {
    /** Temp file in the same directory, fsync, rename, fsync the directory: atomic and durable. */
    async put(key, body, options = {}) {
      const final = pathOf(key);
      throwIfAborted(options.signal);
      await makeParents(dirname(final));
      const temp = `${final}.tmp-${randomBytes(6).toString('hex')}`;
      let handle: FileHandle | undefined;
      try {
        handle = await open(temp, 'wx', 0o644);
        await writeBody(handle, body, options.signal);
        await handle.sync();
        await handle.close();
        handle = undefined;
        throwIfAborted(options.signal);
        await rename(temp, final);
        await syncDir(dirname(final));
      } catch (error) {
        await handle?.close().catch(() => undefined);
        await unlink(temp).catch(() => undefined); // best effort: a leftover temp file is never listed
        throw toTargetError(error, final);
      }
    },

    async get(key, options = {}) {
      const path = pathOf(key);
      throwIfAborted(options.signal);
      let handle: FileHandle;
      try {
        handle = await open(path, 'r');
      } catch (error) {
        if (isMissing(error)) throw new TargetError('TARGET_NOT_FOUND', `no object ${key} in ${root}`, { plugin: 'local', cause: error });
        throw toTargetError(error, path);
      }
      // A folder of keys (`data/ab`) opens fine on Linux, but it is not an object.
      if ((await handle.stat()).isDirectory()) {
        await handle.close();
        throw new TargetError('TARGET_NOT_FOUND', `no object ${key} in ${root}`, { plugin: 'local' });
      }
      return readStream(handle, path, options.range, options.signal);
    },

    localPath(key) {
      return pathOf(key);
    },

    list(prefix, options = {}) {
      return listKeys(root, prefix, options.signal);
    },

    async delete(key) {
      const path = pathOf(key);
      try {
        await unlink(path);
      } catch (error) {
        if (!isMissing(error)) throw toTargetError(error, path);
      }
    },

    async stat(key): Promise<BlobInfo | undefined> {
      const path = pathOf(key);
      try {
        const info = await stat(path);
        return info.isFile() ? { key, size: info.size } : undefined;
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw toTargetError(error, path);
      }
    },

    async close() {},
  };
}

/** Parts are written a batch at a time with writev: a pack holds thousands of small blobs. */
const WRITE_BATCH_BYTES = 4 * 1024 * 1024;
const WRITE_BATCH_PARTS = 512; // well under IOV_MAX (1024 on Linux)

async function writeBody(handle: FileHandle, body: PutBody, signal: AbortSignal | undefined): Promise<void> {
  const parts = bodyParts(body);
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  const flush = async (): Promise<void> => {
    let pending = batch;
    batch = [];
    batchBytes = 0;
    while (pending.length > 0) {
      const { bytesWritten } = await handle.writev(pending);
      pending = dropWritten(pending, bytesWritten);
    }
  };
  for await (const part of parts) {
    throwIfAborted(signal);
    if (part.byteLength === 0) continue;
    batch.push(part);
    batchBytes += part.byteLength;
    if (batchBytes >= WRITE_BATCH_BYTES || batch.length >= WRITE_BATCH_PARTS) await flush();
  }
  await flush();
}

/** What is left of `parts` after a (possibly short) writev of `written` bytes. */
function dropWritten(parts: Uint8Array[], written: number): Uint8Array[] {
  let i = 0;
  while (i < parts.length && written >= parts[i]!.byteLength) written -= parts[i++]!.byteLength;
  const rest = parts.slice(i);
  if (rest.length > 0 && written > 0) rest[0] = rest[0]!.subarray(written);
  return rest;
}

async function* readStream(handle: FileHandle, path: string, range: ByteRange | undefined, signal: AbortSignal | undefined): AsyncIterable<Uint8Array> {
  if (range && range.length <= 0) {
    await handle.close();
    return;
  }
  // createReadStream's `end` is inclusive.
  const stream = handle.createReadStream({
    highWaterMark: range && range.length <= MAX_RANGE_READ ? range.length : READ_CHUNK,
    ...(range ? { start: range.offset, end: range.offset + range.length - 1 } : {}),
    ...(signal ? { signal } : {}),
  });
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (error) {
    throw toTargetError(error, path);
  } finally {
    stream.destroy();
  }
}

/** Walks only the directory the prefix points into, and only subdirectories that can hold matches. */
async function* listKeys(root: string, prefix: string, signal: AbortSignal | undefined): AsyncIterable<BlobInfo> {
  const slash = prefix.lastIndexOf('/');
  const startKey = slash < 0 ? '' : prefix.slice(0, slash + 1);
  if (startKey) keyToRelativePath(startKey.slice(0, -1));
  yield* walk(root, startKey, prefix, signal);
}

const STALE_TEMP_MS = 24 * 60 * 60 * 1000;

async function* walk(root: string, dirKey: string, prefix: string, signal: AbortSignal | undefined): AsyncIterable<BlobInfo> {
  throwIfAborted(signal);
  const dirPath = dirKey ? `${root}/${dirKey.slice(0, -1)}` : root;
  let entries: Dirent[];
  try {
    entries = [];
    for await (const entry of await opendir(dirPath)) entries.push(entry);
  } catch (error) {
    if (isMissing(error)) return;
    throw toTargetError(error, dirPath);
  }
  for (const entry of entries) {
    const key = dirKey + entry.name;
    let kind: 'file' | 'dir' | undefined = entry.isFile() ? 'file' : entry.isDirectory() ? 'dir' : undefined;
    let size: number | undefined;
    let mtimeMs = Date.now();
    if (kind !== 'dir') {
      // Regular files need their size; symlinks (a user's choice of layout) are followed.
      try {
        const info = await stat(`${root}/${key}`);
        kind = info.isFile() ? 'file' : info.isDirectory() ? 'dir' : undefined;
        size = info.size;
        mtimeMs = info.mtimeMs;
      } catch (error) {
        if (isMissing(error)) continue; // deleted while listing
        throw toTargetError(error, `${root}/${key}`);
      }
    }
    if (kind === 'file' && TEMP_SUFFIX.test(key)) {
      // Left by a writer that was killed: never visible as an object, so it only costs space.
      // A day's age keeps it clear of any write still in progress.
      if (Date.now() - mtimeMs > STALE_TEMP_MS) await unlink(`${root}/${key}`).catch(() => undefined);
    } else if (kind === 'file' && size !== undefined && key.startsWith(prefix)) {
      yield { key, size };
    } else if (kind === 'dir') {
      const sub = `${key}/`;
      if (sub.startsWith(prefix) || prefix.startsWith(sub)) yield* walk(root, sub, prefix, signal);
    }
  }
}

/** Creates missing parent directories and makes their names durable (fsync of each new one's parent). */
async function makeParents(dir: string): Promise<void> {
  let first: string | undefined;
  try {
    first = await mkdir(dir, { recursive: true });
  } catch (error) {
    throw toTargetError(error, dir);
  }
  if (first === undefined) return;
  const created: string[] = [];
  for (let d = dir; d.length >= first.length; d = dirname(d)) created.push(d);
  for (const d of created.reverse()) await syncDir(dirname(d));
}

async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    // Some file systems refuse fsync on a directory; the rename itself already happened.
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL' && (error as NodeJS.ErrnoException).code !== 'EISDIR') throw toTargetError(error, dir);
  } finally {
    await handle?.close();
  }
}
