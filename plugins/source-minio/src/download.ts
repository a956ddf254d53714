import type { IncomingMessage } from 'node:http';
import { AbortedError, SourceError, withTimeout } from '@cairn/core';
import type { Connection } from './connection.js';
import { isTransient, toSourceError } from './errors.js';
import type { Semaphore } from './semaphore.js';

export interface ObjectVersion {
  name: string;
  size: number;
  etag: string;
}

/**
 * Streams the object as listed, holding one of the download slots while it does. The GET asks for
 * the listed version only (If-Match on its ETag), so the bytes always match the size and ETag the
 * entry declared: an object overwritten in between fails with a clear error (a warning in the
 * snapshot) instead of passing off another version. A connection that drops mid-way is resumed
 * with a range request, up to `retries` times; the read deadline runs per chunk, only while
 * waiting for the server.
 */
export async function* download(conn: Connection, object: ObjectVersion, label: string, slots: Semaphore, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  if (object.size === 0) return;
  const { settings } = conn;
  const what = `reading ${label}`;
  const open = (offset: number): Promise<IncomingMessage> => conn.call(what, () => conn.client.makeRequestAsync({
    method: 'GET',
    bucketName: settings.bucket,
    objectName: object.name,
    headers: { ...(object.etag ? { 'if-match': `"${object.etag}"` } : {}), ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) },
  }, '', offset > 0 ? [206] : [200]) as Promise<IncomingMessage>, { signal, streaming: true });

  const release = await slots.acquire();
  let response: IncomingMessage | undefined;
  try {
    response = await open(0);
    let received = 0;
    let resumes = 0;
    for (;;) {
      try {
        const current = response;
        const chunks = current[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
        for (;;) {
          const next = await withTimeout(chunks.next(), settings.timeoutMs, `${what}: ${conn.server} stopped sending`, { plugin: 'minio', onTimeout: () => current.destroy() });
          if (next.done) break;
          received += next.value.byteLength;
          yield next.value;
        }
        if (received < object.size) throw Object.assign(new Error(`the connection ended after ${received} of ${object.size} bytes`), { code: 'ECONNRESET' });
        if (received > object.size) throw new SourceError('SOURCE_UNREADABLE', `${what}: ${conn.server} sent ${received} bytes where the listing said ${object.size}`, { plugin: 'minio' });
        return;
      } catch (error) {
        response.destroy();
        if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
        if (!isTransient(error) || resumes >= settings.retries) throw toSourceError(error, conn.scene(what));
        resumes++;
        response = await open(received);
      }
    }
  } finally {
    response?.destroy();
    release();
  }
}
