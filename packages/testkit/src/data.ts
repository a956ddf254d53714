import { createCipheriv, createHash } from 'node:crypto';

const CHUNK = 1024 * 1024;
const ZEROS = new Uint8Array(CHUNK);

/**
 * Deterministic, incompressible bytes: the AES-256-CTR keystream for `seed`. Streams in pieces of
 * `chunkSize`, so hundreds of MiB never sit in memory, and the same seed always gives the same bytes.
 */
export async function* deterministicBytes(seed: string, size: number, chunkSize = CHUNK): AsyncGenerator<Uint8Array> {
  const key = createHash('sha256').update(`cairn-testkit:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  for (let done = 0; done < size; ) {
    const n = Math.min(chunkSize, size - done);
    done += n;
    yield cipher.update(n <= ZEROS.byteLength ? ZEROS.subarray(0, n) : new Uint8Array(n));
  }
}

/** Concatenates a (small) stream into one buffer. */
export async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of body) parts.push(Buffer.from(part.buffer, part.byteOffset, part.byteLength));
  return Buffer.concat(parts);
}

/** SHA-256 (hex) and length of a stream, read piece by piece. */
export async function digest(body: AsyncIterable<Uint8Array>): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const part of body) {
    hash.update(part);
    size += part.byteLength;
  }
  return { sha256: hash.digest('hex'), size };
}

/** Passes a stream through while hashing it; read `result()` after the stream is consumed. */
export function hashing(body: AsyncIterable<Uint8Array>): { body: AsyncIterable<Uint8Array>; result(): { sha256: string; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  let final: { sha256: string; size: number } | undefined;
  return {
    body: (async function* () {
      for await (const part of body) {
        hash.update(part);
        size += part.byteLength;
        yield part;
      }
    })(),
    result() {
      final ??= { sha256: hash.digest('hex'), size };
      return final;
    },
  };
}
