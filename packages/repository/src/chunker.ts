import { createCipheriv } from 'node:crypto';

/**
 * Content-defined chunking (FastCDC with normalised chunking): boundaries depend on the last
 * 32 bytes only, so an insertion moves the boundaries around it and no others, and identical
 * content in any file, snapshot or source yields identical chunks. The gear table is derived
 * from a per-repository secret, so boundaries do not reveal which known files are stored.
 *
 * Anchors make a large file's chunks independent of what lies far before them: after every
 * multiple of `anchorSpacing` into a file, the first position whose last 32 bytes hash to a
 * cut (as after `avg`) is always a boundary, however the chunk before it fell. Which position
 * that is depends only on those 32 bytes and the multiple, so workers can cut the stretches
 * between two anchors of one file at once and join them into exactly the chunks a single pass
 * cuts; and an insertion moves an anchor only when it shifts one past a multiple (a 100-byte
 * insertion: about one time in 2,600).
 */
export interface ChunkerParams {
  min: number;
  avg: number;
  max: number;
  /** Repositories made before anchors have none: the default applies. */
  anchorSpacing?: number;
}

/**
 * A chunk as the pieces of input it spans: it is copied once, into the slot a worker seals it
 * from, and only when it is new, rather than joined into a buffer of its own first.
 */
export interface Chunk {
  parts: Uint8Array[];
  length: number;
}

export const DEFAULT_CHUNKER: ChunkerParams = { min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024, anchorSpacing: 16 * 1024 * 1024 };

/** Bytes the gear hash mixes: a shift-left by one per byte of a 32-bit value forgets older ones. */
const GEAR_WINDOW = 32;

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
export interface CutRules extends Required<ChunkerParams> {
  maskSmall: number;
  /** Also the mask of anchors. */
  maskLarge: number;
}

export function cutRules(params: ChunkerParams): CutRules {
  const anchorSpacing = params.anchorSpacing ?? DEFAULT_CHUNKER.anchorSpacing!;
  if (!(params.min > 0 && params.min <= params.avg && params.avg <= params.max)) {
    throw new RangeError(`chunker sizes must satisfy 0 < min <= avg <= max, got ${JSON.stringify(params)}`);
  }
  if (!(Number.isSafeInteger(anchorSpacing) && anchorSpacing >= GEAR_WINDOW)) throw new RangeError(`chunker anchorSpacing must be an integer of at least ${GEAR_WINDOW}, got ${anchorSpacing}`);
  const bits = Math.round(Math.log2(params.avg));
  return { min: params.min, avg: params.avg, max: params.max, anchorSpacing, maskSmall: topBits(bits + 2), maskLarge: topBits(bits - 2) };
}

/**
 * Finds the anchors of one file (see ChunkerParams), fed its bytes in order as they arrive: the
 * anchor after one multiple of the spacing at a time, hashing only from 32 bytes before that
 * multiple to the anchor. Positions are offsets into the file; an anchor at p is a boundary
 * before byte p. seal-worker.ts repeats this (it imports nothing of ours).
 */
class Anchors {
  /** The multiple whose anchor is sought. */
  private multiple: number;
  /** The next byte to hash. */
  private at: number;
  private hash = 0;
  /** The anchor sought, once found: it stays until `passed`. */
  private found: number | undefined;

  /** Seeks the anchor after `from`, a multiple of the spacing (0: the first one after the start). */
  constructor(
    private readonly gear: Int32Array,
    private readonly rules: CutRules,
    from = 0,
  ) {
    this.multiple = from > 0 ? from : rules.anchorSpacing;
    this.at = this.multiple - GEAR_WINDOW;
  }

  /** Where hashing stands: bytes before it are no longer needed. */
  get position(): number {
    return this.at;
  }

  /**
   * Hashes `bytes` (which start at offset `base` in the file, and must include the next byte to
   * hash if it lies within them) until the anchor is found; returns it, or undefined when it lies
   * beyond them.
   */
  scan(bytes: Uint8Array, base: number): number | undefined {
    if (this.found !== undefined) return this.found;
    const { gear } = this;
    const mask = this.rules.maskLarge;
    const end = base + bytes.length;
    const multiple = this.multiple;
    let at = this.at;
    let hash = this.hash;
    while (at < end) {
      hash = ((hash << 1) + gear[bytes[at - base]!]!) | 0;
      at++;
      if (at >= multiple && (hash & mask) === 0) {
        this.found = at;
        break;
      }
    }
    this.at = at;
    this.hash = hash;
    return this.found;
  }

  /** The anchor found is now a boundary: seek the one after the next multiple. */
  passed(): void {
    const anchor = this.found!;
    this.found = undefined;
    this.multiple = (Math.floor(anchor / this.rules.anchorSpacing) + 1) * this.rules.anchorSpacing;
    // Hashing goes on from the anchor when the next multiple's window starts before it.
    if (this.multiple - GEAR_WINDOW > anchor) {
      this.at = this.multiple - GEAR_WINDOW;
      this.hash = 0;
    }
  }
}

export class Chunker {
  readonly rules: CutRules;
  private parts: Uint8Array[] = [];
  private length = 0;
  private hash = 0;
  /** Bytes of the current stream pushed so far. */
  private offset = 0;
  private anchors: Anchors;

  constructor(
    private readonly gear: Int32Array,
    params: ChunkerParams = DEFAULT_CHUNKER,
  ) {
    this.rules = cutRules(params);
    this.anchors = new Anchors(gear, this.rules);
  }

  /** Feeds bytes; returns the chunks completed by them. The input buffer must not be reused by the caller. */
  push(buffer: Uint8Array): Chunk[] {
    const { min, avg, max, maskSmall, maskLarge } = this.rules;
    const gear = this.gear;
    const out: Chunk[] = [];
    const end = buffer.length;
    const base = this.offset;
    this.offset += end;
    let start = 0;
    let i = 0;
    while (i < end) {
      // No cut passes an anchor: the chunk ends there if it has not before.
      const anchor = this.anchors.scan(buffer, base);
      const limit = anchor === undefined ? end : anchor - base;
      let length = this.length;
      let hash = this.hash;
      let cut = false;
      if (length < min) {
        const take = Math.min(min - length, limit - i);
        i += take;
        length += take;
        hash = 0;
      }
      if (length >= min && length < avg) {
        const from = i;
        const stop = Math.min(limit, i + (avg - length));
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
        const stop = Math.min(limit, i + (max - length));
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
      const atAnchor = i === limit && anchor !== undefined;
      if (cut || length >= max || atAnchor) {
        out.push(this.take(buffer.subarray(start, i), length));
        start = i;
        if (atAnchor) this.anchors.passed();
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
    this.offset = 0;
    this.anchors = new Anchors(this.gear, this.rules);
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
