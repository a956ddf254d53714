/**
 * Worker thread that compresses and seals blobs, so the backup's main thread only reads, chunks
 * and hashes. It imports nothing of ours (it must run from both the built and the TypeScript
 * sources), so it repeats three formats; test/seal-pool.test.ts proves its output opens with
 * crypto.ts `unseal` and compression.ts `decompress`, and that its ids equal crypto.ts `blobId`:
 *   id        = HMAC-SHA-256(id key, data), hex
 *   envelope  = nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)
 *   plaintext = flag (0 raw, 1 zstd) ‖ body
 */
import { createCipheriv, createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { constants, zstdCompressSync } from 'node:zlib';

interface SealRequest {
  id: number;
  data: Uint8Array;
  zstdLevel: number;
}

const key = createSecretKey(Buffer.from(workerData.key as Uint8Array));
const idKey = createSecretKey(Buffer.from(workerData.idKey as Uint8Array));
const FLAG_RAW = Buffer.of(0);
const FLAG_ZSTD = Buffer.of(1);

parentPort!.on('message', (request: SealRequest) => {
  try {
    const data = request.data;
    const id = createHmac('sha256', idKey).update(data).digest('hex');
    const packed = zstdCompressSync(data, {
      params: { [constants.ZSTD_c_compressionLevel]: request.zstdLevel, [constants.ZSTD_c_checksumFlag]: 0 },
      chunkSize: Math.min(Math.max(data.length + 1024, 64 * 1024), 16 * 1024 * 1024),
      pledgedSrcSize: data.length,
    });
    const [flag, body] = packed.length < data.length ? [FLAG_ZSTD, packed] : [FLAG_RAW, data];
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    // Not from Buffer's shared pool: the envelope's memory is handed to the main thread.
    const envelope = Buffer.allocUnsafeSlow(12 + 1 + body.length + 16);
    nonce.copy(envelope, 0);
    let at = 12;
    at += cipher.update(flag).copy(envelope, at);
    at += cipher.update(body).copy(envelope, at);
    at += cipher.final().copy(envelope, at);
    cipher.getAuthTag().copy(envelope, at);
    parentPort!.postMessage({ id: request.id, blobId: id, envelope }, [envelope.buffer]);
  } catch (error) {
    parentPort!.postMessage({ id: request.id, error: error instanceof Error ? error.message : String(error) });
  }
});
