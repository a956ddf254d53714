/**
 * Worker thread that compresses new blobs (backup) and opens and verifies stored ones (restore,
 * check). A backup's main thread seals what comes back straight into its pack: the cipher is
 * cheap next to zstd, and the main thread would otherwise wait on the worker. It imports nothing of
 * ours (it must run from both the built and the TypeScript sources), so it repeats three formats;
 * test/seal-pool.test.ts proves both directions agree with crypto.ts and compression.ts:
 *   id        = HMAC-SHA-256(id key, plaintext), hex (checked when opening)
 *   envelope  = nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)
 *   plaintext = flag (0 raw, 1 zstd) ‖ body
 */
import { createDecipheriv, createHmac, createSecretKey } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';

/**
 * `hash`: a new chunk's id (the main thread decides from it whether to compress it). `compress`: zstd, kept only when smaller. `open`: authenticate, decompress and check the blob's
 * id. `verify`: as `open`, but only the verdict goes back (check has no use for the plaintext).
 * The input is `length` bytes of a shared slot (compressed bytes go back in the same slot), or,
 * when too large for one, a buffer of its own (compressed bytes then go back as one).
 */
interface Input {
  slot?: number;
  length?: number;
  data?: Uint8Array;
  envelope?: Uint8Array;
}
type Request =
  | ({ op: 'hash'; id: number } & Input)
  | ({ op: 'compress'; id: number; zstdLevel: number } & Input)
  | ({ op: 'open' | 'verify'; id: number; blobId: string; rawLength: number; intoSlot?: boolean } & Input);

const key = createSecretKey(Buffer.from(workerData.key as Uint8Array));
const idKey = createSecretKey(Buffer.from(workerData.idKey as Uint8Array));
const slots = workerData.slots as SharedArrayBuffer;
const slotBytes = workerData.slotBytes as number;

parentPort!.on('message', (request: Request) => {
  try {
    const slot = request.slot === undefined ? undefined : Buffer.from(slots, request.slot * slotBytes, slotBytes);
    const input = slot ? slot.subarray(0, request.length) : (request.data ?? request.envelope)!;
    if (request.op === 'hash') parentPort!.postMessage({ id: request.id, blobId: createHmac('sha256', idKey).update(input).digest('hex') });
    else if (request.op === 'compress') compress(request.id, input, request.zstdLevel, slot);
    else open(request.id, input, request.blobId, request.rawLength, request.op === 'open' ? (request.intoSlot && slot ? slot : 'message') : 'verdict');
  } catch (error) {
    parentPort!.postMessage({ id: request.id, error: error instanceof Error ? error.message : String(error) });
  }
});

function compress(requestId: number, data: Uint8Array, zstdLevel: number, slot: Buffer | undefined): void {
  const packed = zstdCompressSync(data, {
    params: { [constants.ZSTD_c_compressionLevel]: zstdLevel, [constants.ZSTD_c_checksumFlag]: 0 },
    chunkSize: Math.min(Math.max(data.length + 1024, 64 * 1024), 16 * 1024 * 1024),
    pledgedSrcSize: data.length,
  });
  // Raw data needs nothing sent back: the main thread still has it.
  if (packed.length >= data.length) parentPort!.postMessage({ id: requestId });
  else if (slot) parentPort!.postMessage({ id: requestId, length: packed.copy(slot) });
  else {
    // Not from Buffer's shared pool, nor a view of a larger buffer: this is handed over whole.
    const own = Buffer.allocUnsafeSlow(packed.length);
    packed.copy(own);
    parentPort!.postMessage({ id: requestId, packed: own }, [own.buffer as ArrayBuffer]);
  }
}

/** `reply`: the plaintext goes back in its own buffer ('message'), into the envelope's slot (a Buffer), or not at all ('verdict'). */
function open(requestId: number, envelope: Uint8Array, blobId: string, rawLength: number, reply: 'message' | 'verdict' | Buffer): void {
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
  if (reply === 'verdict') {
    parentPort!.postMessage({ id: requestId });
    return;
  }
  if (reply !== 'message') {
    // The envelope in the slot has been read whole (decipher output is a buffer of its own).
    if (plain.length > reply.length) throw new Error(`is larger (${plain.length} bytes) than a slot`);
    parentPort!.postMessage({ id: requestId, length: plain.copy(reply) });
    return;
  }
  // Handed over without a copy when the plaintext is (nearly) all of its own buffer, as zstd's
  // single output buffer is; a view into a larger buffer (or Buffer's shared pool) is copied out.
  const own = plain.byteOffset === 0 && plain.buffer.byteLength > Buffer.poolSize && plain.buffer.byteLength - plain.length <= 64 * 1024;
  const out = own ? plain : Buffer.allocUnsafeSlow(plain.length);
  if (!own) plain.copy(out);
  parentPort!.postMessage({ id: requestId, plain: out }, [out.buffer as ArrayBuffer]);
}
