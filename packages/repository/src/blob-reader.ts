import { readAll, type BlobStore } from './blob-store.js';
import { decompress } from './compression.js';
import { blobId, unseal, type MasterKeys } from './crypto.js';
import { RepositoryError } from './errors.js';
import { packKey } from './layout.js';
import type { MasterIndex } from './master-index.js';

/**
 * Reads blobs back: one ranged read of the envelope, then authenticate, decompress and check
 * that the plaintext still hashes to the blob's id (so a mixed-up index cannot go unnoticed).
 */
export class BlobReader {
  constructor(
    private readonly store: BlobStore,
    private readonly keys: MasterKeys,
    private readonly index: MasterIndex,
  ) {}

  async read(id: string): Promise<Buffer> {
    const location = this.index.get(id);
    if (!location) throw new RepositoryError('REPO_CORRUPT', `blob ${id.slice(0, 12)} is not in any index; run \`cairn check\``);
    const what = `blob ${id.slice(0, 12)} in pack ${location.pack.slice(0, 12)}`;
    const envelope = await readAll(await this.store.get(packKey(location.pack), { range: { offset: location.offset, length: location.length } }));
    if (envelope.length !== location.length) throw new RepositoryError('REPO_CORRUPT', `${what} is truncated`);
    return this.open(id, envelope, what);
  }

  /** Authenticates, decompresses and verifies an envelope already in memory. */
  async open(id: string, envelope: Buffer, what: string): Promise<Buffer> {
    const plain = await decompress(unseal(this.keys.encryption, envelope, what), what);
    if (blobId(this.keys.id, plain) !== id) throw new RepositoryError('REPO_CORRUPT', `${what} does not match its id`);
    return plain;
  }
}
