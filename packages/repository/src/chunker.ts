import { createCipheriv } from 'node:crypto';

/**
 * Content-defined chunking (FastCDC with normalised chunking): boundaries depend on the last
 * 32 bytes only, so an insertion moves the boundaries around it and no others, and identical
 * content in any file, snapshot or source yields identical chunks. The gear table is derived
 * from a per-repository secret, so boundaries do not reveal which known files are stored.
 */
export interface ChunkerParams {
  min: number;
  avg: number;
  max: number;
}

/**
 * A chunk as the pieces of input it spans: it is copied once, into the slot a worker seals it
 * from, and only when it is new, rather than joined into a buffer of its own first.
 */
export interface Chunk {
  parts: Uint8Array[];
  length: number;
}

export const DEFAULT_CHUNKER: ChunkerParams = { min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024 };

export function gearTable(secret: Buffer): Int32Array {
  const stream = createCipheriv('aes-256-ctr', secret, Buffer.alloc(16)).update(Buffer.alloc(256 * 4));
  // Int32 rather than Uint32: values stay small integers for V8, which keeps the hot loop in integer registers.
  return new Int32Array(stream.buffer.slice(stream.byteOffset, stream.byteOffset + 1024));
}

/** A mask selecting the top `bits` bits: in a shift-left gear hash those mix the most bytes. */
function topBits(bits: number): number {
  return (~0 << (32 - bits)) | 0;
}

/**
 * The sizes and masks that decide where chunks end. Harder to cut before the average size, easier
 * after it: chunk sizes cluster around avg. The seal worker, which cuts files it reads itself,
 * gets these from here so that both cut at the same places.
 */
export interface CutRules extends ChunkerParams {
  maskSmall: number;
  maskLarge: number;
}

export function cutRules(params: ChunkerParams): CutRules {
  if (!(params.min > 0 && params.min <= params.avg && params.avg <= params.max)) {
    throw new RangeError(`chunker sizes must satisfy 0 < min <= avg <= max, got ${JSON.stringify(params)}`);
  }
  const bits = Math.round(Math.log2(params.avg));
  return { min: params.min, avg: params.avg, max: params.max, maskSmall: topBits(bits + 2), maskLarge: topBits(bits - 2) };
}

export class Chunker {
  readonly rules: CutRules;
  private parts: Uint8Array[] = [];
  private length = 0;
  private hash = 0;

  constructor(
    private readonly gear: Int32Array,
    params: ChunkerParams = DEFAULT_CHUNKER,
  ) {
    this.rules = cutRules(params);
  }

  /** Feeds bytes; returns the chunks completed by them. The input buffer must not be reused by the caller. */
  push(buffer: Uint8Array): Chunk[] {
    const { min, avg, max, maskSmall, maskLarge } = this.rules;
    const gear = this.gear;
    const out: Chunk[] = [];
    const end = buffer.length;
    let start = 0;
    let i = 0;
    while (i < end) {
      let length = this.length;
      if (length < min) {
        const take = Math.min(min - length, end - i);
        i += take;
        this.length = length += take;
        if (length < min) break;
        this.hash = 0;
      }
      let hash = this.hash;
      let cut = false;
      if (length < avg) {
        const from = i;
        const stop = Math.min(end, i + (avg - length));
        const mask = maskSmall;
        while (i < stop) {
          hash = ((hash << 1) + gear[buffer[i++]!]!) | 0;
          if ((hash & mask) === 0) {
            cut = true;
            break;
          }
        }
        length += i - from;
      }
      if (!cut && length >= avg && length < max) {
        const from = i;
        const stop = Math.min(end, i + (max - length));
        const mask = maskLarge;
        while (i < stop) {
          hash = ((hash << 1) + gear[buffer[i++]!]!) | 0;
          if ((hash & mask) === 0) {
            cut = true;
            break;
          }
        }
        length += i - from;
      }
      if (cut || length >= max) {
        out.push(this.take(buffer.subarray(start, i), length));
        start = i;
      } else {
        this.length = length;
        this.hash = hash;
      }
    }
    if (start < end) this.parts.push(buffer.subarray(start, end));
    return out;
  }

  /** Returns the last, possibly short, chunk (or nothing) and resets for the next stream. */
  finish(): Chunk | undefined {
    if (this.length === 0 && this.parts.length === 0) return undefined;
    return this.take(new Uint8Array(0), this.length);
  }

  private take(tail: Uint8Array, length: number): Chunk {
    const parts = this.parts;
    this.parts = [];
    this.length = 0;
    this.hash = 0;
    if (tail.length > 0) parts.push(tail);
    return { parts, length };
  }
}

/** Splits a byte stream into content-defined chunks. */
export async function* chunkStream(chunker: Chunker, input: AsyncIterable<Uint8Array>): AsyncGenerator<Chunk> {
  for await (const buffer of input) {
    if (buffer.length === 0) continue;
    yield* chunker.push(buffer);
  }
  const last = chunker.finish();
  if (last && last.length > 0) yield last;
}
