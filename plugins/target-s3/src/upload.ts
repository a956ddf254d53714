import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { TargetError, isReplayable, replayableSize, throwIfAborted } from '@cairn/core';
import type { PutBody } from '@cairn/core';
import type { S3Context } from './s3-context.js';
import { drain, encodeQueryValue } from './s3-context.js';

/** A run of the body's bytes sent as one request: a whole small object, or one part. */
interface Piece {
  parts: Uint8Array[];
  size: number;
}

const MiB = 1024 * 1024;

/**
 * Stores `body` under `name`. A PUT and a completed multipart upload are both atomic in S3: readers
 * see the old object or the whole new one, never a part. Bodies up to `partSizeMiB` go in one PUT;
 * larger ones as a multipart upload, several parts in flight, each part retried on its own (a part
 * is in memory, even when the body is a stream). A failed or aborted multipart upload is aborted on
 * the server, so no orphan parts are left to pay for.
 */
export async function upload(s3: S3Context, key: string, name: string, body: PutBody, signal: AbortSignal | undefined): Promise<void> {
  const partSize = s3.settings.partSizeMiB * MiB;
  throwIfAborted(signal);
  if (isReplayable(body) && replayableSize(body) <= partSize) {
    const parts = body instanceof Uint8Array ? [body] : [...body];
    return putObject(s3, key, name, { parts, size: replayableSize(body) }, signal);
  }
  const pieces = split(body instanceof Uint8Array ? [body] : body, partSize);
  const iterator = pieces[Symbol.asyncIterator]();
  try {
    const first = await iterator.next();
    throwIfAborted(signal);
    if (first.done) return await putObject(s3, key, name, { parts: [], size: 0 }, signal);
    const second = await iterator.next();
    throwIfAborted(signal);
    if (second.done) return await putObject(s3, key, name, first.value, signal);
    await multipart(s3, key, name, prepend([first.value, second.value], iterator), signal);
  } finally {
    await iterator.return?.(undefined);
  }
}

async function putObject(s3: S3Context, key: string, name: string, piece: Piece, signal: AbortSignal | undefined): Promise<void> {
  const checksums = checksum(s3, piece);
  await s3.call(`writing ${key}`, () => send(s3, name, piece, checksums, undefined), { signal });
}

async function multipart(s3: S3Context, key: string, name: string, pieces: AsyncIterable<Piece>, signal: AbortSignal | undefined): Promise<void> {
  const { client, settings } = s3;
  const what = `writing ${key}`;
  const uploadId = await s3.call(what, () => client.initiateNewMultipartUpload(settings.bucket, name, {}), { signal });
  const done: Array<{ part: number; etag: string }> = [];
  const inFlight = new Set<Promise<void>>();
  const most = Math.max(1, Math.min(settings.connections, 4)); // parts in memory at once, per upload
  let failure: { error: unknown } | undefined;
  let total = 0;
  try {
    let number = 0;
    for await (const piece of pieces) {
      throwIfAborted(signal);
      if (failure) break;
      const part = ++number;
      total += piece.size;
      const query = `partNumber=${part}&uploadId=${encodeQueryValue(uploadId)}`;
      const checksums = checksum(s3, piece);
      const sending: Promise<void> = s3.call(`${what} (part ${part})`, () => send(s3, name, piece, checksums, query), { signal })
        .then((etag) => void done.push({ part, etag }), (error: unknown) => void (failure ??= { error }))
        .finally(() => inFlight.delete(sending));
      inFlight.add(sending);
      while (inFlight.size >= most) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failure) throw failure.error;
    throwIfAborted(signal);
    done.sort((a, b) => a.part - b.part);
    // No signal from here: once asked to complete, the object is either whole or absent, and an
    // abort in the middle would leave us not knowing which.
    await s3.call(what, async (attempt) => {
      try {
        await client.completeMultipartUpload(settings.bucket, name, uploadId, done);
      } catch (error) {
        // A retry after the server completed but the answer was lost finds the upload gone.
        if (attempt > 1 && (error as { code?: string }).code === 'NoSuchUpload') {
          const stat = await client.statObject(settings.bucket, name).catch(() => undefined);
          if (stat?.size === total) return;
        }
        throw error;
      }
    });
  } catch (error) {
    await Promise.allSettled(inFlight);
    await abortUpload(s3, key, name, uploadId);
    throw error;
  }
}

/** Best effort, but tried with retries: orphan parts would cost space on the server for good. */
async function abortUpload(s3: S3Context, key: string, name: string, uploadId: string): Promise<void> {
  await s3.call(`abandoning the upload of ${key}`, async () => {
    const response = await s3.client.makeRequestAsync({ method: 'DELETE', bucketName: s3.settings.bucket, objectName: name, query: `uploadId=${encodeQueryValue(uploadId)}` }, '', [204]);
    await drain(response);
  }).catch(() => undefined);
}

interface Checksums {
  sha256: string;
  md5: string | undefined;
}

/**
 * Over plain HTTP the client signs the payload's SHA-256 (the server checks it); over HTTPS it
 * sends UNSIGNED-PAYLOAD, so a Content-MD5 lets the server check the bytes instead.
 */
function checksum(s3: S3Context, piece: Piece): Checksums {
  const signed = s3.client.enableSHA256;
  const hash = createHash(signed ? 'sha256' : 'md5');
  for (const part of piece.parts) hash.update(part);
  return signed ? { sha256: hash.digest('hex'), md5: undefined } : { sha256: '', md5: hash.digest('base64') };
}

/** One PUT of a whole object or of one part (`query`); returns the ETag. */
async function send(s3: S3Context, name: string, piece: Piece, checksums: Checksums, query: string | undefined): Promise<string> {
  const headers: Record<string, string> = { 'content-length': String(piece.size) };
  if (checksums.md5) headers['content-md5'] = checksums.md5;
  const body = piece.parts.length === 1
    ? Buffer.from(piece.parts[0]!.buffer, piece.parts[0]!.byteOffset, piece.parts[0]!.byteLength)
    : piece.parts.length === 0 ? Buffer.alloc(0) : Readable.from(piece.parts, { objectMode: false });
  const response = await s3.client.makeRequestStreamAsync(
    { method: 'PUT', bucketName: s3.settings.bucket, objectName: name, headers, ...(query ? { query } : {}) },
    body, checksums.sha256, [200], '',
  );
  await drain(response);
  const etag = response.headers.etag?.replace(/^"|"$/g, '');
  if (!etag && query) throw new TargetError('TARGET_IO', `${s3.server} sent no ETag for an uploaded part: it does not look like S3`, { plugin: 's3' });
  return etag ?? '';
}

/** Cuts the body into pieces of exactly `size` bytes (the last one shorter), slicing without copying. */
async function* split(body: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Piece> {
  let piece: Piece = { parts: [], size: 0 };
  for await (let chunk of body) {
    while (chunk.byteLength > 0) {
      const take = Math.min(size - piece.size, chunk.byteLength);
      piece.parts.push(take === chunk.byteLength ? chunk : chunk.subarray(0, take));
      piece.size += take;
      chunk = chunk.subarray(take);
      if (piece.size === size) {
        yield piece;
        piece = { parts: [], size: 0 };
      }
    }
  }
  if (piece.size > 0) yield piece;
}

async function* prepend<T>(first: T[], rest: AsyncIterator<T>): AsyncGenerator<T> {
  yield* first;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}
