import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SourceError, throwIfAborted } from '@cairn/core';
import type { Connection } from './connection.js';
import { encodeQueryValue } from './connection.js';
import type { Semaphore } from './semaphore.js';

const MiB = 1024 * 1024;
/** Objects up to this size go in one PUT; larger ones as a multipart upload in parts of this size. */
export const PART_SIZE = 8 * MiB;
/** Parts of one multipart upload sent at once. */
const PARTS_IN_FLIGHT = 2;

export interface UploadJob {
  /** The full object name in the bucket. */
  name: string;
  /** For messages: the key as the snapshot has it. */
  label: string;
  size: number;
  /** Content type, stored headers, user metadata and tags (`x-amz-tagging`). */
  headers: Record<string, string>;
  body: () => AsyncIterable<Uint8Array>;
}

/**
 * Writes one object with its metadata and tags. Up to PART_SIZE it is read into memory and sent in
 * one PUT, retried as a whole; larger objects stream as a multipart upload whose parts are each
 * retried, and which is aborted on failure so no orphan parts stay behind. Every buffered byte is
 * first taken from `memory`, which bounds what a restore holds at once.
 */
export async function upload(conn: Connection, job: UploadJob, memory: Semaphore, signal: AbortSignal | undefined): Promise<void> {
  if (job.size <= PART_SIZE) {
    const release = await memory.acquire(job.size);
    try {
      const body = await readAll(job.body(), job.size, PART_SIZE, signal);
      checkSize(job, body.length);
      await putPiece(conn, job, body, undefined, signal);
    } finally {
      release();
    }
    return;
  }
  await multipart(conn, job, memory, signal);
}

async function multipart(conn: Connection, job: UploadJob, memory: Semaphore, signal: AbortSignal | undefined): Promise<void> {
  const { client, settings } = conn;
  const what = `writing ${job.label}`;
  const uploadId = await conn.call(what, () => client.initiateNewMultipartUpload(settings.bucket, job.name, job.headers), { signal });
  const parts: Array<{ part: number; etag: string }> = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let total = 0;
  try {
    const pieces = new Pieces(job.body()[Symbol.asyncIterator]());
    try {
      for (let number = 1; ; number++) {
        throwIfAborted(signal);
        if (failure) break;
        const release = await memory.acquire(PART_SIZE);
        let piece: Buffer;
        try {
          piece = await pieces.next(PART_SIZE);
        } catch (error) {
          release();
          throw error;
        }
        if (piece.length === 0) {
          release();
          break;
        }
        total += piece.length;
        const query = `partNumber=${number}&uploadId=${encodeQueryValue(uploadId)}`;
        const part = number;
        const sending: Promise<void> = putPiece(conn, { ...job, label: `${job.label} (part ${part})` }, piece, query, signal)
          .then((etag) => void parts.push({ part, etag }), (error: unknown) => void (failure ??= { error }))
          .finally(() => {
            release();
            inFlight.delete(sending);
          });
        inFlight.add(sending);
        while (inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(inFlight);
      }
    } finally {
      await pieces.close();
    }
    await Promise.all(inFlight);
    if (failure) throw failure.error;
    checkSize(job, total);
    parts.sort((a, b) => a.part - b.part);
    // No signal from here: once asked to complete, the object is whole or absent, and an abort
    // in the middle would leave us not knowing which.
    await conn.call(what, async (attempt) => {
      try {
        await client.completeMultipartUpload(settings.bucket, job.name, uploadId, parts);
      } catch (error) {
        // A retry after the server completed but the answer was lost finds the upload gone.
        if (attempt > 1 && (error as { code?: string }).code === 'NoSuchUpload') {
          const stat = await client.statObject(settings.bucket, job.name).catch(() => undefined);
          if (stat?.size === total) return;
        }
        throw error;
      }
    });
  } catch (error) {
    await Promise.allSettled(inFlight);
    await conn.call(`abandoning the upload of ${job.label}`, async () => {
      const response = await client.makeRequestAsync({ method: 'DELETE', bucketName: settings.bucket, objectName: job.name, query: `uploadId=${encodeQueryValue(uploadId)}` }, '', [204]);
      response.resume();
    }).catch(() => undefined);
    throw error;
  }
}

/** One PUT of a whole object (`query` undefined, with the object's headers) or of one part; returns the ETag. */
async function putPiece(conn: Connection, job: UploadJob, body: Buffer, query: string | undefined, signal: AbortSignal | undefined): Promise<string> {
  const headers: Record<string, string> = query ? {} : { ...job.headers };
  // Over HTTPS the client sends UNSIGNED-PAYLOAD: a Content-MD5 lets the server check the bytes.
  if (!conn.client.enableSHA256) headers['content-md5'] = createHash('md5').update(body).digest('base64');
  return conn.call(`writing ${job.label}`, async () => {
    const response: IncomingMessage = await conn.client.makeRequestAsync(
      { method: 'PUT', bucketName: conn.settings.bucket, objectName: job.name, headers, ...(query ? { query } : {}) }, body, [200],
    );
    response.resume();
    return (response.headers.etag ?? '').replace(/^"|"$/g, '');
  }, { signal });
}

function checkSize(job: UploadJob, size: number): void {
  if (size !== job.size) {
    throw new SourceError('RESTORE_UNWRITABLE', `writing ${job.label}: the snapshot gave ${size} bytes where it recorded ${job.size}; run \`cairn check --read-data\``, { plugin: 'minio' });
  }
}

async function readAll(body: AsyncIterable<Uint8Array>, expected: number, most: number, signal: AbortSignal | undefined): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const part of body) {
    throwIfAborted(signal);
    parts.push(part);
    size += part.byteLength;
    if (size > Math.max(expected, most)) break;
  }
  return Buffer.concat(parts, size);
}

/** Cuts a stream into pieces of a given size, keeping the rest of a chunk for the next piece. */
class Pieces {
  private left: Uint8Array | undefined;

  constructor(private readonly iterator: AsyncIterator<Uint8Array>) {}

  /** Up to `size` bytes; fewer only at the end of the stream. */
  async next(size: number): Promise<Buffer> {
    const parts: Uint8Array[] = [];
    let length = 0;
    while (length < size) {
      let chunk = this.left;
      this.left = undefined;
      if (!chunk) {
        const next = await this.iterator.next();
        if (next.done) break;
        chunk = next.value;
      }
      if (length + chunk.byteLength > size) {
        this.left = chunk.subarray(size - length);
        chunk = chunk.subarray(0, size - length);
      }
      parts.push(chunk);
      length += chunk.byteLength;
    }
    return Buffer.concat(parts, length);
  }

  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}
