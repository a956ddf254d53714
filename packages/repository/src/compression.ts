import { constants, zstdCompress, zstdDecompress } from 'node:zlib';
import { promisify } from 'node:util';
import { RepositoryError } from './errors.js';

/**
 * A blob's plaintext starts with one byte telling how the rest is stored, so incompressible
 * data (photos, archives) is kept as is instead of growing. zlib runs on libuv's thread pool,
 * so compression overlaps with chunking and hashing on the main thread.
 */
const RAW = 0;
const ZSTD = 1;

const compressAsync = promisify(zstdCompress);
const decompressAsync = promisify(zstdDecompress);

/** The config's levels 1–9 spread over zstd's 1–19. */
const ZSTD_LEVELS = [1, 2, 3, 5, 7, 9, 12, 15, 19] as const;

export function zstdLevel(level: number): number {
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new RepositoryError('INVALID_ARGUMENT', `compression level must be an integer from 1 to 9, got ${level}`);
  }
  return ZSTD_LEVELS[level - 1]!;
}

const RAW_FLAG = Buffer.of(RAW);
const ZSTD_FLAG = Buffer.of(ZSTD);

/** Returns the stored form as `[flag, body]`, to be sealed without another copy. */
export async function compress(data: Uint8Array, zstdLevelValue: number): Promise<[Buffer, Uint8Array]> {
  const packed = await compressAsync(data, {
    params: { [constants.ZSTD_c_compressionLevel]: zstdLevelValue, [constants.ZSTD_c_checksumFlag]: 0 },
    // One output buffer for the whole blob: the default 16 KiB pieces cost a callback and a copy each.
    chunkSize: outputSize(data.length),
  });
  return packed.length < data.length ? [ZSTD_FLAG, packed] : [RAW_FLAG, data];
}

export async function decompress(stored: Buffer, what: string): Promise<Buffer> {
  const flag = stored[0];
  const body = stored.subarray(1);
  if (flag === RAW) return body;
  if (flag === ZSTD) {
    try {
      return await decompressAsync(body, { chunkSize: outputSize(body.length * 4) });
    } catch (cause) {
      throw new RepositoryError('REPO_CORRUPT', `${what} does not decompress`, { cause });
    }
  }
  throw new RepositoryError('REPO_CORRUPT', `${what} has unknown compression ${flag}`);
}

function outputSize(expected: number): number {
  return Math.min(Math.max(expected + 1024, 64 * 1024), 16 * 1024 * 1024);
}
