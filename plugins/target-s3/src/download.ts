import type { IncomingMessage } from 'node:http';
import { AbortedError, TargetError, withTimeout } from '@cairn/core';
import type { ByteRange } from '@cairn/core';
import type { S3Context } from './s3-context.js';
import { isUnavailable } from './s3-context.js';
import { toTargetError } from './s3-errors.js';

/**
 * Opens the object (or the range of it) and streams it. A missing object rejects at once with
 * TARGET_NOT_FOUND. When the connection drops mid-way, the rest is asked for again with a range
 * request (up to `retries` times), checked to be the same object by its ETag; a body that still
 * ends short fails with a TargetError, never passing as complete.
 */
export async function download(s3: S3Context, key: string, name: string, range: ByteRange | undefined, signal: AbortSignal | undefined): Promise<AsyncIterable<Uint8Array>> {
  const { client, settings } = s3;
  const what = `reading ${key}`;
  if (range && range.length <= 0) {
    await s3.call(what, () => client.statObject(settings.bucket, name), { signal });
    return (async function* () {})();
  }
  const open = (offset: number, length: number | undefined): Promise<IncomingMessage> =>
    s3.call(what, () => (offset === 0 && length === undefined ? client.getObject(settings.bucket, name) : client.getPartialObject(settings.bucket, name, offset, length)) as Promise<IncomingMessage>, { signal, streaming: true });
  const start = range?.offset ?? 0;
  const first = await open(start, range?.length);
  return stream(s3, what, first, start, open, signal);
}

async function* stream(
  s3: S3Context, what: string, first: IncomingMessage, start: number,
  open: (offset: number, length: number | undefined) => Promise<IncomingMessage>, signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  const expected = Number(first.headers['content-length']);
  const etag = first.headers.etag;
  let response = first;
  let received = 0;
  let resumes = 0;
  try {
    for (;;) {
      try {
        const chunks = response[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
        for (;;) {
          // The deadline runs only while waiting for the server, not while the reader holds a chunk.
          const current = response;
          const next = await withTimeout(chunks.next(), s3.settings.timeoutMs, `${what}: ${s3.server} stopped sending`, { plugin: 's3', onTimeout: () => current.destroy() });
          if (next.done) break;
          received += next.value.byteLength;
          yield next.value;
        }
        if (Number.isFinite(expected) && received < expected) {
          throw Object.assign(new Error(`the connection ended after ${received} of ${expected} bytes`), { code: 'ECONNRESET' });
        }
        return;
      } catch (error) {
        response.destroy();
        if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
        const failure = toTargetError(error, s3.scene(what));
        if (!isUnavailable(failure) || !Number.isFinite(expected) || resumes >= s3.settings.retries) throw failure;
        resumes++;
        response = await open(start + received, expected - received);
        if (response.headers.etag !== etag) {
          response.destroy();
          throw new TargetError('TARGET_IO', `${what}: the object changed on ${s3.server} while it was read; read it again`, { plugin: 's3' });
        }
      }
    }
  } finally {
    response.destroy();
  }
}
