import type { IncomingHttpHeaders } from 'node:http';
import { SourceError } from '@cairn/core';
import type { SourceBackupContext, SourceEntry } from '@cairn/core';
import type { Connection } from './connection.js';
import { connect, readText } from './connection.js';
import { download } from './download.js';
import { KeyTree } from './key-tree.js';
import type { ListedObject } from './listing.js';
import { listPages } from './listing.js';
import type { MinioSettings } from './minio-source.js';
import type { Described, ObjectMetadata } from './object-metadata.js';
import { describeHead, parseTagging } from './object-metadata.js';
import { Semaphore } from './semaphore.js';

/** How many mapped keys are logged one by one before only their number is. */
const MAPPED_LOG_LINES = 20;

/**
 * Every object under the prefix as a file entry at its key relative to the prefix, depth-first,
 * with its content type, user metadata, tags and ETag as metadata; mtime is LastModified and the
 * change key the ETag, so the repository reuses an unchanged object's content without reading it.
 *
 * Metadata comes with the listing when the server is MinIO (`metadata=true`): an unchanged bucket
 * then costs one request per 1000 objects. Other servers get a HEAD and a GetObjectTagging per
 * object, `concurrency` at a time, running ahead of the repository. Contents are downloaded only
 * when the repository opens an entry, at most `concurrency` at a time.
 */
export async function* backupEntries(settings: MinioSettings, ctx: SourceBackupContext): AsyncGenerator<SourceEntry> {
  const conn = await connect(settings, 'backup', ctx.logger);
  const downloads = new Semaphore(settings.concurrency);
  const base = settings.prefix ? `${settings.prefix}/` : '';
  const tree = new KeyTree();
  let mapped = 0;
  try {
    const pages = listPages(conn, base, { signal: ctx.signal, withMetadata: settings.listMetadata });
    for await (const { object, described, problem } of withDescriptions(conn, pages, base, ctx.signal)) {
      const relative = object.name.slice(base.length);
      if (problem) {
        ctx.warn(relative, problem.message, problem.code);
        continue;
      }
      const placement = tree.place(relative, object.size);
      if (!placement) {
        ctx.logger.info(`[minio] the folder marker "${object.name}" of the prefix itself is not backed up`);
        continue;
      }
      if (placement.mapped !== undefined && ++mapped <= MAPPED_LOG_LINES) {
        ctx.logger.info(`[minio] the key ${JSON.stringify(relative)} is kept as ${JSON.stringify(placement.mapped)} in the snapshot; a restore into a bucket gives it its own key back`);
      }
      for (const path of placement.dirs) yield { path, type: 'dir', mode: 0o755, mtimeMs: object.lastModified, size: 0 };
      const metadata: ObjectMetadata = { key: relative, etag: object.etag, ...described };
      if (placement.folder) {
        yield { path: placement.path, type: 'dir', mode: 0o755, mtimeMs: object.lastModified, size: 0, metadata: { ...metadata } };
        continue;
      }
      yield {
        path: placement.path,
        type: 'file',
        mode: 0o644,
        mtimeMs: object.lastModified,
        size: object.size,
        ...(object.etag ? { changeKey: object.etag } : {}),
        metadata: { ...metadata },
        open: () => download(conn, object, relative, downloads, ctx.signal),
      };
    }
    if (mapped > MAPPED_LOG_LINES) ctx.logger.info(`[minio] ${mapped} keys in all were mapped to other paths in the snapshot`);
  } finally {
    conn.release();
  }
}

interface Looked {
  object: ListedObject;
  described?: Described;
  /** Why the object is left out: it vanished or changed while being looked at. */
  problem?: SourceError;
}

/**
 * Passes the listing on in order, each object with its metadata: from the listing when the
 * server sent it there, otherwise fetched (HEAD and GetObjectTagging), up to `concurrency`
 * requests at a time, for objects up to a window ahead of the one the caller is at.
 */
async function* withDescriptions(conn: Connection, pages: AsyncIterable<ListedObject[]>, base: string, signal: AbortSignal | undefined): AsyncGenerator<Looked> {
  const slots = new Semaphore(conn.settings.concurrency);
  const windowSize = conn.settings.concurrency * 4;
  const window: Array<Looked | Promise<Looked>> = [];
  for await (const page of pages) {
    for (const object of page) {
      if (object.described) {
        window.push({ object, described: object.described });
      } else {
        const looked = describeObject(conn, object, object.name.slice(base.length), slots, signal);
        looked.catch(() => undefined); // awaited below; this keeps an early exit from leaving it unhandled
        window.push(looked);
      }
      while (window.length > windowSize) yield await window.shift()!;
    }
  }
  while (window.length > 0) yield await window.shift()!;
}

async function describeObject(conn: Connection, object: ListedObject, label: string, slots: Semaphore, signal: AbortSignal | undefined): Promise<Looked> {
  const { client, settings } = conn;
  const slot = async <T>(operation: () => Promise<T>): Promise<T> => {
    const release = await slots.acquire();
    try {
      return await operation();
    } finally {
      release();
    }
  };
  let headers: IncomingHttpHeaders;
  let tags: Record<string, string>;
  try {
    [headers, tags] = await Promise.all([
      slot(() => conn.call(`reading the metadata of ${label}`, async () => {
        const response = await client.makeRequestAsync({ method: 'HEAD', bucketName: settings.bucket, objectName: object.name });
        response.resume();
        return response.headers as IncomingHttpHeaders;
      }, { signal })),
      slot(() => conn.call(`reading the tags of ${label}`, async () =>
        parseTagging(await readText(await client.makeRequestAsync({ method: 'GET', bucketName: settings.bucket, objectName: object.name, query: 'tagging' }))), { signal })),
    ]);
  } catch (error) {
    if (error instanceof SourceError && error.code === 'SOURCE_NOT_FOUND') return { object, problem: error };
    throw error;
  }
  const etag = (headers.etag ?? '').replace(/^"|"$/g, '');
  if (object.etag && etag && etag !== object.etag) {
    const problem = new SourceError('SOURCE_UNREADABLE', `reading the metadata of ${label}: the object changed in bucket "${settings.bucket}" while it was backed up; the next backup will take the new version`, { plugin: 'minio' });
    return { object, problem };
  }
  return { object, described: describeHead(headers, tags) };
}
