import { ConfigError, SourceError, throwIfAborted } from '@cairn/core';
import type { RestoreEntry, RestoreResult, SourceRestoreContext } from '@cairn/core';
import type { Connection } from './connection.js';
import { connect } from './connection.js';
import { listPages } from './listing.js';
import type { MinioSettings } from './minio-source.js';
import { readMetadata, storeHeaders } from './object-metadata.js';
import { Semaphore } from './semaphore.js';
import { PART_SIZE, upload } from './upload.js';

const MiB = 1024 * 1024;
/** Bytes of object data a restore holds in memory at once (whole small objects and parts). */
const MEMORY_BUDGET = 64 * MiB;

/**
 * Writes a snapshot's objects into the bucket (and prefix) of this source's options, creating the
 * bucket when it is missing: each object under its own key, with its content type, stored
 * headers, user metadata and tags, `concurrency` uploads at a time. `new` refuses a bucket or
 * prefix that holds objects; `merge` adds and overwrites; `replace` then also deletes the objects
 * under the prefix that the snapshot does not have.
 */
export async function restoreEntries(settings: MinioSettings, entries: AsyncIterable<RestoreEntry>, ctx: SourceRestoreContext): Promise<RestoreResult> {
  if (ctx.mode !== 'origin') {
    throw new ConfigError(`restore mode "${ctx.mode}" is not the minio source's: it restores into a bucket (--to minio+http://host:port/bucket); a restore into a directory needs no source`, { plugin: 'minio' });
  }
  const mode = ctx.restoreMode ?? 'new';
  const { signal } = ctx;
  const conn = await connect(settings, 'restore', ctx.logger);
  const base = settings.prefix ? `${settings.prefix}/` : '';
  const where = `bucket "${settings.bucket}"${base ? ` under "${base}"` : ''} on ${conn.server}`;
  const slots = new Semaphore(settings.concurrency);
  const memory = new Semaphore(Math.max(MEMORY_BUDGET, 2 * PART_SIZE));
  const tasks = new Set<Promise<void>>();
  const result: RestoreResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  let failure: { error: unknown } | undefined;
  try {
    const existing = await firstObject(conn, base, signal);
    if (mode === 'new' && existing !== undefined) {
      throw new SourceError('RESTORE_UNWRITABLE', `${where} already holds objects (${JSON.stringify(existing)} and maybe more): restore into an empty bucket or prefix, or choose --mode merge (add and overwrite) or --mode replace (also delete what the snapshot lacks)`, { plugin: 'minio' });
    }
    const written = mode === 'replace' ? new Set<string>() : undefined;
    for await (const entry of entries) {
      if (failure) break;
      throwIfAborted(signal);
      if (entry.type === 'dir') result.dirs++;
      const metadata = readMetadata(entry.metadata);
      // Directories are implied by the keys under them; only a folder marker object (`dir/`) is written.
      if (entry.type === 'dir' ? metadata.key === undefined : entry.type !== 'file') continue;
      const relative = metadata.key ?? entry.path;
      if (relative === '') throw new SourceError('RESTORE_UNWRITABLE', `the snapshot holds an object without a key at ${JSON.stringify(entry.path)}`, { plugin: 'minio' });
      const name = base + relative;
      written?.add(name);
      const release = await slots.acquire();
      const size = entry.type === 'file' ? entry.size : 0;
      const task: Promise<void> = upload(conn, {
        name, label: relative, size, headers: storeHeaders(metadata), body: entry.type === 'file' ? entry.open : emptyBody,
      }, memory, signal).then(
        () => {
          if (entry.type === 'file') result.files++;
          result.bytes += size;
          ctx.onProgress?.({ filesDone: result.files, bytesDone: result.bytes });
        },
        (error: unknown) => void (failure ??= { error }),
      ).finally(() => {
        release();
        tasks.delete(task);
      });
      tasks.add(task);
    }
    await Promise.all(tasks);
    if (failure) throw failure.error;
    if (written) await removeOthers(conn, base, written, slots, signal);
    return result;
  } finally {
    await Promise.allSettled(tasks);
    conn.close();
  }
}

async function* emptyBody(): AsyncGenerator<Uint8Array> {}

/**
 * The first object name under `base`, or undefined for none. A missing bucket is created here (in
 * the source's region): restoring into a new bucket is the common case.
 */
async function firstObject(conn: Connection, base: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  try {
    for await (const page of listPages(conn, base, { signal, withMetadata: false, maxKeys: 1 })) return page[0]?.name;
    return undefined;
  } catch (error) {
    if (causeCode(error) !== 'NoSuchBucket') throw error;
  }
  const { client, settings } = conn;
  await conn.call(`creating bucket "${settings.bucket}"`, async () => {
    try {
      await client.makeBucket(settings.bucket, settings.region);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'BucketAlreadyOwnedByYou') throw error;
    }
  }, { signal });
  return undefined;
}

/** Deletes the objects under `base` that the restore did not write (mode `replace`). */
async function removeOthers(conn: Connection, base: string, keep: Set<string>, slots: Semaphore, signal: AbortSignal | undefined): Promise<void> {
  const deletes = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  try {
    for await (const page of listPages(conn, base, { signal, withMetadata: false })) {
      for (const { name } of page) {
        if (keep.has(name)) continue;
        if (failure) throw failure.error;
        const release = await slots.acquire();
        const removal: Promise<void> = conn.call(`deleting ${JSON.stringify(name.slice(base.length))} (not in the snapshot)`, () => conn.client.removeObject(conn.settings.bucket, name), { signal })
          .catch((error: unknown) => void (failure ??= { error }))
          .finally(() => {
            release();
            deletes.delete(removal);
          });
        deletes.add(removal);
      }
    }
    await Promise.all(deletes);
    if (failure) throw failure.error;
  } finally {
    await Promise.allSettled(deletes);
  }
}

function causeCode(error: unknown): unknown {
  return ((error as { cause?: { code?: unknown } } | undefined)?.cause ?? {}).code;
}
