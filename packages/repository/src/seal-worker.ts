/**
 * Worker thread that stores files a backup can read by descriptor (read, cut, hash, compress,
 * seal), compresses other new blobs, and opens and verifies stored ones (restore, check). It
 * imports nothing of ours (it must run from both the built and the TypeScript sources), so it
 * repeats six formats; test/seal-pool.test.ts proves both directions agree with crypto.ts,
 * compression.ts, chunker.ts and known-ids.ts:
 *   id        = HMAC-SHA-256(id key, plaintext), hex (checked when opening)
 *   envelope  = nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)
 *   plaintext = flag (0 raw, 1 zstd) ‖ body
 *   chunks    = FastCDC cut points (Chunker.push)
 *   anchors   = the forced cut points of Anchors
 *   known ids = the lookup of KnownIds
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';

/**
 * `hash`: a new chunk's id (the main thread decides from it whether to compress it). `compress`: zstd, kept only when smaller. `open`: authenticate, decompress and check the blob's
 * id. `verify`: as `open`, but only the verdict goes back (check has no use for the plaintext).
 * `write`: as `open`, but the plaintext goes into the open file `fd` at `position` (a restore);
 * the envelope may also be read here from a pack file (`pack`).
 * The input is `length` bytes of a shared slot (compressed bytes go back in the same slot), or,
 * when too large for one, a buffer of its own (compressed bytes then go back as one).
 */
interface Input {
  slot?: number;
  length?: number;
  data?: Uint8Array;
  envelope?: Uint8Array;
}
/** chunker.ts's CutRules. */
interface CutRules {
  min: number;
  avg: number;
  max: number;
  anchorSpacing: number;
  maskSmall: number;
  maskLarge: number;
}
/**
 * `file`: read the open descriptor `fd` from the anchor after `from` to the one after `until`
 * (see storeFile); cut it into chunks; name each; compress and seal the ones neither in `known`
 * nor sealed earlier in this request into this worker's ring, told in batches (see `notes`), with
 * the bytes read since the last message (`read`) every READ_NOTE_BYTES; then reply with every
 * chunk's id. `abort[0]` set: stop between reads.
 */
interface FileRequest {
  op: 'file';
  id: number;
  fd: number;
  from: number;
  until: number;
  zstdLevel: number;
  rules: CutRules;
  known: Uint8Array;
  abort: Int32Array;
}
/**
 * `checkPack`: read the pack file at `path` (`size` bytes) whole, hash it, open and verify each
 * of `blobs` in it, and reply with the hash, the pack's sealed header with its length (`tail`)
 * and the blobs that failed. For check --read-data, on a local repository.
 */
interface CheckPackRequest {
  op: 'checkPack';
  id: number;
  path: string;
  size: number;
  blobs: Array<{ id: string; offset: number; length: number; rawLength: number }>;
}
type Request =
  | FileRequest
  | CheckPackRequest
  | ({ op: 'hash'; id: number } & Input)
  | ({ op: 'compress'; id: number; zstdLevel: number } & Input)
  | ({ op: 'open' | 'verify'; id: number; blobId: string; rawLength: number; intoSlot?: boolean } & Input)
  | ({ op: 'write'; id: number; blobId: string; rawLength: number; fd: number; position: number; pack?: PackRange } & Input);
/** Where an envelope lies in a pack file on this machine: read here, not sent. */
interface PackRange {
  path: string;
  offset: number;
  length: number;
}

const key = createSecretKey(Buffer.from(workerData.key as Uint8Array));
const idKey = createSecretKey(Buffer.from(workerData.idKey as Uint8Array));
const slots = workerData.slots as SharedArrayBuffer;
const slotBytes = workerData.slotBytes as number;
const gear = workerData.gear as Int32Array;
/**
 * This worker's ring, where sealed envelopes wait for the main thread to copy them into a pack:
 * `size` bytes from `start` in `bytes`. It writes at `head`; `used[worker]` counts the bytes the
 * main thread has not given back yet, which it does in the order they were written.
 */
const ring = {
  bytes: workerData.ring as SharedArrayBuffer,
  used: new Int32Array(workerData.ringUsed as SharedArrayBuffer),
  worker: workerData.ringIndex as number,
  size: workerData.ringBytes as number,
  start: (workerData.ringIndex as number) * (workerData.ringBytes as number),
  head: 0,
};

parentPort!.on('message', (request: Request) => {
  if (request.op === 'file') {
    storeFile(request);
    return;
  }
  try {
    if (request.op === 'checkPack') {
      checkPack(request);
      return;
    }
    const slot = request.slot === undefined ? undefined : Buffer.from(slots, request.slot * slotBytes, slotBytes);
    const input = slot ? slot.subarray(0, request.length) : request.op === 'write' && request.pack ? readEnvelope(request.pack) : (request.data ?? request.envelope)!;
    if (request.op === 'hash') parentPort!.postMessage({ id: request.id, blobId: createHmac('sha256', idKey).update(input).digest('hex') });
    else if (request.op === 'compress') compress(request.id, input, request.zstdLevel, slot);
    else if (request.op === 'write') writeAt(request.id, open(input, request.blobId, request.rawLength), request.fd, request.position);
    else reply(request.id, open(input, request.blobId, request.rawLength), request.op === 'open' ? (request.intoSlot && slot ? slot : 'message') : 'verdict');
  } catch (error) {
    parentPort!.postMessage({ id: request.id, ...failure(error) });
  }
});

/**
 * A failed system call (reading a pack, writing a file) is told apart from damage: it goes back
 * with its code and call (ENOSPC on write, ENOENT on open…) for the main thread to report.
 */
function failure(error: unknown): { error: string } | { systemError: { message: string; code: string; syscall: string } } {
  const { message, code, syscall } = error as NodeJS.ErrnoException;
  if (typeof code === 'string' && typeof syscall === 'string') return { systemError: { message, code, syscall } };
  return { error: error instanceof Error ? message : String(error) };
}

/** zstd at `level`, without a checksum (the envelope authenticates), in one output buffer sized for the input. */
function zstd(data: Uint8Array, level: number): Buffer {
  return zstdCompressSync(data, {
    params: { [constants.ZSTD_c_compressionLevel]: level, [constants.ZSTD_c_checksumFlag]: 0 },
    chunkSize: Math.min(Math.max(data.length + 1024, 64 * 1024), 16 * 1024 * 1024),
    pledgedSrcSize: data.length,
  });
}

/** A large blob's first bytes, compressed first: when they hardly shrink, neither will the rest. */
const PROBE_BYTES = 64 * 1024;

/**
 * The blob compressed, or undefined when it is to be stored raw: zstd does not make it smaller,
 * or its first PROBE_BYTES shrink by less than 1/64 (random data, media, archives: compressing
 * them whole cost as much time as the rest of their storing, and an output buffer of their size).
 */
function compressed(data: Uint8Array, level: number): Buffer | undefined {
  if (data.length >= 4 * PROBE_BYTES && zstd(data.subarray(0, PROBE_BYTES), level).length > PROBE_BYTES - PROBE_BYTES / 64) return undefined;
  const packed = zstd(data, level);
  return packed.length < data.length ? packed : undefined;
}

function compress(requestId: number, data: Uint8Array, zstdLevel: number, slot: Buffer | undefined): void {
  const packed = compressed(data, zstdLevel);
  // Raw data needs nothing sent back: the main thread still has it.
  if (!packed) parentPort!.postMessage({ id: requestId });
  else if (slot) parentPort!.postMessage({ id: requestId, length: copyBytes(packed, slot) });
  else {
    // Not from Buffer's shared pool, nor a view of a larger buffer: this is handed over whole.
    const own = Buffer.allocUnsafeSlow(packed.length);
    packed.copy(own);
    parentPort!.postMessage({ id: requestId, packed: own }, [own.buffer as ArrayBuffer]);
  }
}

/** Authenticates, decompresses and checks an envelope against its blob's id; returns the plaintext. */
function open(envelope: Uint8Array, blobId: string, rawLength: number): Buffer {
  if (envelope.length < 29) throw new Error('truncated');
  const decipher = createDecipheriv('aes-256-gcm', key, envelope.subarray(0, 12));
  decipher.setAuthTag(envelope.subarray(envelope.length - 16));
  let stored: Buffer;
  try {
    // GCM's final() only checks the tag and yields no bytes, so update()'s output is the whole
    // plaintext: no concatenated copy.
    stored = decipher.update(envelope.subarray(12, envelope.length - 16));
    decipher.final();
  } catch {
    throw new Error('failed authentication: it is damaged or was tampered with');
  }
  const body = stored.subarray(1);
  let plain: Buffer;
  if (stored[0] === 0) plain = body;
  else if (stored[0] === 1) {
    try {
      plain = zstdDecompressSync(body, { chunkSize: Math.min(Math.max(rawLength + 1024, 64 * 1024), 16 * 1024 * 1024) });
    } catch {
      throw new Error('does not decompress');
    }
  } else throw new Error(`has unknown compression ${stored[0]}`);
  if (createHmac('sha256', idKey).update(plain).digest('hex') !== blobId) throw new Error('does not match its id');
  // The index's length places the next chunk of a restored file: it must be the blob's own.
  if (plain.length !== rawLength) throw new Error(`holds ${plain.length} bytes where the index says ${rawLength}`);
  return plain;
}

/** `to`: the plaintext goes back in its own buffer ('message'), into the envelope's slot (a Buffer), or not at all ('verdict'). */
function reply(requestId: number, plain: Buffer, to: 'message' | 'verdict' | Buffer): void {
  if (to === 'verdict') {
    parentPort!.postMessage({ id: requestId });
    return;
  }
  if (to !== 'message') {
    // The envelope in the slot has been read whole (decipher output is a buffer of its own).
    if (plain.length > to.length) throw new Error(`is larger (${plain.length} bytes) than a slot`);
    parentPort!.postMessage({ id: requestId, length: copyBytes(plain, to) });
    return;
  }
  // Handed over without a copy when the plaintext is (nearly) all of its own buffer, as zstd's
  // single output buffer is; a view into a larger buffer (or Buffer's shared pool) is copied out.
  const own = plain.byteOffset === 0 && plain.buffer.byteLength > Buffer.poolSize && plain.buffer.byteLength - plain.length <= 64 * 1024;
  const out = own ? plain : Buffer.allocUnsafeSlow(plain.length);
  if (!own) plain.copy(out);
  parentPort!.postMessage({ id: requestId, plain: out }, [out.buffer as ArrayBuffer]);
}

/** Writes a blob's plaintext (of the length the index gave: see `open`) into the open file `fd` at `position`. */
function writeAt(requestId: number, plain: Buffer, fd: number, position: number): void {
  for (let at = 0; at < plain.length; ) at += writeSync(fd, plain, at, plain.length - at, position + at);
  parentPort!.postMessage({ id: requestId, length: plain.length });
}

/** Envelopes read from pack files, one at a time: grown to the largest so far, never garbage. */
let envelopes = Buffer.alloc(0);

/** Reads `length` bytes at `offset` of the pack file `path` into `into`, and returns them. */
function readPack(path: string, offset: number, length: number, into: Buffer): Buffer {
  const fd = openSync(path, 'r');
  try {
    let got = 0;
    while (got < length) {
      const read = readSync(fd, into, got, length - got, offset + got);
      if (read === 0) throw new Error('is truncated');
      got += read;
    }
    return into.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/** An envelope from its pack file, in `envelopes`: valid until the next one is read. */
function readEnvelope(pack: PackRange): Buffer {
  if (envelopes.length < pack.length) envelopes = Buffer.allocUnsafeSlow(Math.max(pack.length, 1024 * 1024));
  return readPack(pack.path, pack.offset, pack.length, envelopes);
}

/** Whole packs being checked: grown to the largest so far, never garbage. */
let checkBytes = Buffer.alloc(0);

function checkPack(request: CheckPackRequest): void {
  if (checkBytes.length < request.size) checkBytes = Buffer.allocUnsafeSlow(request.size);
  const bytes = readPack(request.path, 0, request.size, checkBytes);
  const hash = createHash('sha256').update(bytes).digest('hex');
  const bad: Array<{ id: string; message: string }> = [];
  for (const blob of request.blobs) {
    try {
      if (blob.offset + blob.length > bytes.length) throw new Error('lies beyond the end of its pack');
      open(bytes.subarray(blob.offset, blob.offset + blob.length), blob.id, blob.rawLength);
    } catch (error) {
      bad.push({ id: blob.id, message: error instanceof Error ? error.message : String(error) });
    }
  }
  // The sealed header and its length, as far as the pack holds them: the main thread parses it.
  // A copy of its own: posting the view would copy the whole pack buffer it is part of.
  const headerLength = bytes.length >= 4 ? bytes.readUInt32LE(bytes.length - 4) : 0;
  const tail = new Uint8Array(bytes.subarray(Math.max(0, bytes.length - 4 - headerLength)));
  parentPort!.postMessage({ id: request.id, hash, bad, tail });
}

/** bytes.ts's copyBytes: a memcpy also where a SharedArrayBuffer is involved, unlike Buffer.copy. */
function copyBytes(source: Uint8Array, target: Buffer, offset = 0): number {
  if (source.length > 0) target.fill(source, offset, offset + source.length);
  return source.length;
}

/** Where file content is read into: the largest chunk must fit whole, with room to read on. */
let input = Buffer.alloc(0);
const READ_AHEAD = 1024 * 1024;
/** The main thread hears how far a file has been read this often (its progress), sealed chunks or not. */
const READ_NOTE_BYTES = 16 * 1024 * 1024;

/**
 * Stores the stretch of the file from the anchor after `from` to the anchor after `until` (from
 * its start, to its end, when 0): the boundaries a single pass over the whole file would cut.
 * Replies with the stretch's chunk ids, its `start` and its `end`.
 */
function storeFile(request: FileRequest): void {
  const { rules, from, until } = request;
  const ids: string[] = [];
  const sealed = new Set<string>();
  const anchors = new Anchors(rules, from);
  // `base`: the file offset of input[0]. Seeking the first anchor starts with its hash's window.
  let base = from > 0 ? from - GEAR_WINDOW : 0;
  let have = 0;
  let eof = false;
  /** Where the chunk being cut starts; undefined until the stretch's first anchor is found. */
  let start: number | undefined = from > 0 ? undefined : 0;
  let first = 0;
  let readSince = 0;
  const end = (outcome: Record<string, unknown>): void => parentPort!.postMessage({ id: request.id, sealed: takeNotes(), read: readSince, ...outcome });
  try {
    if (input.length < rules.max + READ_AHEAD) input = Buffer.allocUnsafeSlow(rules.max + READ_AHEAD);
    for (;;) {
      while (!eof && have < input.length) {
        if (Atomics.load(request.abort, 0) !== 0) return end({ aborted: true });
        let read: number;
        try {
          // At its place in the file, whatever the descriptor's offset.
          read = readSync(request.fd, input, have, input.length - have, base + have);
        } catch (error) {
          const { message, code } = error as NodeJS.ErrnoException;
          return end({ unreadable: { message, code: code ?? 'SOURCE_UNREADABLE' } });
        }
        if (read === 0) eof = true;
        have += read;
        readSince += read;
        if (readSince >= READ_NOTE_BYTES) {
          parentPort!.postMessage({ id: request.id, sealed: takeNotes(), more: true, read: readSince });
          readSince = 0;
        }
      }
      const last = base + have;
      for (;;) {
        const anchor = anchors.scan(input.subarray(0, have), base);
        if (start === undefined) {
          if (anchor === undefined) break;
          first = start = anchor;
          anchors.passed();
          // No anchor between the two multiples: the stretch is empty, the one before takes it all.
          if (until > 0 && anchor >= until) return end({ ids, start: anchor, end: anchor });
          continue;
        }
        const limit = anchor ?? last;
        let length = cutLength(input, start - base, limit - base, rules);
        if (length === 0) {
          if (anchor !== undefined) length = anchor - start;
          else if (eof && last > start) length = last - start;
          else break;
        }
        ids.push(storeChunk(request, input.subarray(start - base, start - base + length), sealed));
        start += length;
        if (start === anchor) {
          anchors.passed();
          if (until > 0 && anchor >= until) return end({ ids, start: first, end: anchor });
        }
      }
      if (eof) {
        // No anchor before the end of the file: the stretch is empty, the one before takes it all.
        if (start === undefined) return end({ ids, start: last, end: last });
        if (start === last) return end({ ids, start: first, end: last });
      }
      // Keep what is still to be cut, or hashed while its first anchor is sought.
      const keep = Math.min(start ?? anchors.position, last) - base;
      input.copy(input, 0, keep, have);
      have -= keep;
      base += keep;
    }
  } catch (error) {
    end({ error: error instanceof Error ? error.message : String(error) });
  }
}

/** chunker.ts's window and Anchors: see there. */
const GEAR_WINDOW = 32;

class Anchors {
  private readonly rules: CutRules;
  private multiple: number;
  private at: number;
  private hash = 0;
  private found: number | undefined;

  // No parameter properties: Node strips types from this file, and cannot strip those.
  constructor(rules: CutRules, from: number) {
    this.rules = rules;
    this.multiple = from > 0 ? from : rules.anchorSpacing;
    this.at = this.multiple - GEAR_WINDOW;
  }

  get position(): number {
    return this.at;
  }

  scan(bytes: Uint8Array, base: number): number | undefined {
    if (this.found !== undefined) return this.found;
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

  passed(): void {
    const anchor = this.found!;
    this.found = undefined;
    this.multiple = (Math.floor(anchor / this.rules.anchorSpacing) + 1) * this.rules.anchorSpacing;
    if (this.multiple - GEAR_WINDOW > anchor) {
      this.at = this.multiple - GEAR_WINDOW;
      this.hash = 0;
    }
  }
}

/**
 * Sealed chunks the main thread has not been told of yet. Told in batches (a small file's with its
 * outcome), so that a message does not cost more than the chunk; always before this worker waits
 * for ring space, which only the main thread's copying of them can free.
 */
const notes: Array<{ blob: string; offset: number; length: number; reserved: number; rawLength: number }> = [];
let notedBytes = 0;
const NOTE_BYTES = 1024 * 1024;

function tell(requestId: number): void {
  if (notes.length > 0) parentPort!.postMessage({ id: requestId, sealed: takeNotes(), more: true });
}

function takeNotes(): typeof notes {
  notedBytes = 0;
  return notes.splice(0);
}

/**
 * Length of the chunk starting at `start`, or 0 when the bytes up to `end` cannot decide it yet
 * (the caller reads on, or at the end of the file takes the rest). Cuts where Chunker.push does.
 */
function cutLength(buffer: Buffer, start: number, end: number, rules: CutRules): number {
  let i = start + rules.min;
  if (i >= end) return 0;
  let hash = 0;
  const small = Math.min(end, start + rules.avg);
  for (; i < small; ) {
    hash = ((hash << 1) + gear[buffer[i++]!]!) | 0;
    if ((hash & rules.maskSmall) === 0) return i - start;
  }
  const large = Math.min(end, start + rules.max);
  for (; i < large; ) {
    hash = ((hash << 1) + gear[buffer[i++]!]!) | 0;
    if ((hash & rules.maskLarge) === 0) return i - start;
  }
  return i - start >= rules.max ? rules.max : 0;
}

/** Names a chunk; unless the repository has it, compresses and seals it into the ring for the main thread. */
function storeChunk(request: FileRequest, chunk: Buffer, sealed: Set<string>): string {
  const digest = createHmac('sha256', idKey).update(chunk).digest();
  const id = digest.toString('hex');
  if (sealed.has(id) || isKnown(request.known, digest)) return id;
  sealed.add(id);
  const packed = compressed(chunk, request.zstdLevel);
  const body = packed ?? chunk;
  const length = 12 + 1 + body.length + 16;
  const { offset, reserved } = reserve(length, request.id);
  sealInto(Buffer.from(ring.bytes, offset, length), packed ? FLAG_ZSTD : FLAG_RAW, body);
  notes.push({ blob: id, offset, length, reserved, rawLength: chunk.length });
  notedBytes += length;
  if (notedBytes >= NOTE_BYTES) tell(request.id);
  return id;
}

const FLAG_RAW = Uint8Array.of(0);
const FLAG_ZSTD = Uint8Array.of(1);
const CIPHER_PIECE = 256 * 1024;

/** nonce ‖ AES-256-GCM(flag ‖ body) ‖ tag into `target`; returns the envelope's length. */
function sealInto(target: Buffer, flag: Uint8Array, body: Uint8Array): number {
  const nonce = randomBytes(12);
  copyBytes(nonce, target);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  let at = 12 + copyBytes(cipher.update(flag), target, 12);
  for (let from = 0; from < body.length; from += CIPHER_PIECE) at += copyBytes(cipher.update(body.subarray(from, from + CIPHER_PIECE)), target, at);
  cipher.final();
  return at + copyBytes(cipher.getAuthTag(), target, at);
}

/**
 * Room for `length` bytes in the ring, contiguous: an envelope that would cross its end starts at
 * its beginning, and the bytes skipped count as its own. Waits until the main thread has copied
 * out enough (it never waits on this worker to do so). An empty ring starts again at its
 * beginning: otherwise an envelope nearly as large as the ring, after a skip, could never fit.
 * `offset` is into the shared buffer.
 */
function reserve(length: number, requestId: number): { offset: number; reserved: number } {
  for (;;) {
    const used = Atomics.load(ring.used, ring.worker);
    if (used === 0) ring.head = 0;
    const skip = ring.head + length > ring.size ? ring.size - ring.head : 0;
    const reserved = skip + length;
    if (ring.size - used >= reserved) {
      Atomics.add(ring.used, ring.worker, reserved);
      const at = skip > 0 ? 0 : ring.head;
      ring.head = (at + length) % ring.size;
      return { offset: ring.start + at, reserved };
    }
    tell(requestId);
    Atomics.wait(ring.used, ring.worker, used);
  }
}

/** KnownIds' lookup. */
function isKnown(table: Uint8Array, digest: Buffer): boolean {
  const slots = table.length / 32;
  if (slots === 0) return false;
  const mask = slots - 1;
  for (let slot = digest.readUInt32LE(0) & mask; ; slot = (slot + 1) & mask) {
    const at = slot * 32;
    let empty = true;
    for (let i = at; i < at + 8; i++) if (table[i] !== 0) empty = false;
    if (empty) return false;
    if (digest.equals(table.subarray(at, at + 32))) return true;
  }
}
