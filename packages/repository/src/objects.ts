import { readAll, type BlobStore } from './blob-store.js';
import { compress, decompress } from './compression.js';
import { seal, sha256Hex, unseal } from './crypto.js';
import { RepositoryError, TargetError } from './errors.js';

/**
 * Metadata objects (config, index, snapshots, locks) are JSON, zstd-compressed and sealed.
 * They are named by the SHA-256 of their stored bytes unless a name is given, so a name never
 * says anything about the content.
 */
export async function putJson(store: BlobStore, key: Buffer, prefix: string, value: unknown, name?: string): Promise<string> {
  const [flag, body] = await compress(Buffer.from(JSON.stringify(value)), 3);
  const sealed = seal(key, flag, body);
  const id = name ?? sha256Hex(sealed);
  await store.put(prefix + id, sealed);
  return id;
}

export async function getJson<T>(store: BlobStore, key: Buffer, objectKey: string, what: string): Promise<T> {
  const sealed = await getBytes(store, objectKey, what);
  const plain = await decompress(unseal(key, sealed, what), what);
  try {
    return JSON.parse(plain.toString('utf8')) as T;
  } catch (cause) {
    throw new RepositoryError('REPO_CORRUPT', `${what} is not valid JSON after decryption`, { cause });
  }
}

/** Reads a whole metadata object; a missing one is reported as repository damage, with its key. */
async function getBytes(store: BlobStore, objectKey: string, what: string): Promise<Buffer> {
  try {
    return await readAll(await store.get(objectKey));
  } catch (error) {
    if (error instanceof TargetError && error.code === 'TARGET_NOT_FOUND') {
      throw new RepositoryError('REPO_CORRUPT', `${what} (${objectKey}) is missing`, { cause: error });
    }
    throw error;
  }
}

export async function listKeys(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys.sort();
}
