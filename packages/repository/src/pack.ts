import { createHash } from 'node:crypto';
import { copyBytes } from './bytes.js';
import { ENVELOPE_OVERHEAD, seal, sealInto, unseal } from './crypto.js';
import { RepositoryError } from './errors.js';

/**
 * A pack is `blob envelope… ‖ sealed header ‖ header length (u32 LE)`. The header lists every
 * blob, so the index can be rebuilt from the packs alone. Packs are named by the SHA-256 of
 * their bytes, which `check --read-data` verifies.
 */
export type BlobType = 'data' | 'tree';

export interface PackedBlob {
  type: BlobType;
  id: string;
  offset: number;
  /** Stored (sealed) length. */
  length: number;
  /** Length of the plaintext before compression. */
  rawLength: number;
}

const HEADER_ENTRY = 1 + 4 + 4 + 32;

/**
 * Gathers envelopes into one buffer that the caller may hand to the next builder once the pack is
 * stored: envelopes kept as separate buffers until their pack was uploaded outlived young-generation
 * collections, and became garbage that only a full collection frees (tens of MiB of peak RSS).
 */
export class PackBuilder {
  readonly blobs: PackedBlob[] = [];
  size = 0;

  constructor(private buffer: Buffer = Buffer.alloc(0)) {}

  /** Adds a blob already sealed (prune copies envelopes as they are). */
  add(type: BlobType, id: string, envelope: Uint8Array, rawLength: number): void {
    this.makeRoom(envelope.length);
    this.blobs.push({ type, id, offset: this.size, length: envelope.length, rawLength });
    copyBytes(envelope, this.buffer, this.size);
    this.size += envelope.length;
  }

  /** Seals a new blob's stored form (`parts`: its flag and body) straight into the pack; returns the envelope's length. */
  seal(type: BlobType, id: string, key: Buffer, parts: Uint8Array[], rawLength: number): number {
    let length = ENVELOPE_OVERHEAD;
    for (const part of parts) length += part.length;
    this.makeRoom(length);
    sealInto(key, this.buffer, this.size, ...parts);
    this.blobs.push({ type, id, offset: this.size, length, rawLength });
    this.size += length;
    return length;
  }

  private makeRoom(length: number): void {
    if (this.size + length <= this.buffer.length) return;
    // Rare (a blob larger than the room the caller planned for): the old buffer becomes garbage once.
    const bigger = Buffer.allocUnsafeSlow(Math.max(2 * this.buffer.length, this.size + length));
    this.buffer.copy(bigger, 0, 0, this.size);
    this.buffer = bigger;
  }

  /**
   * Seals the header after the blobs and returns the pack's bytes and id. `buffer` is what the
   * bytes view: the caller may reuse it for another pack once nothing reads them any more.
   */
  finish(key: Buffer): { id: string; bytes: Buffer; blobs: PackedBlob[]; buffer: Buffer } {
    const header = Buffer.alloc(this.blobs.length * HEADER_ENTRY);
    this.blobs.forEach((blob, i) => {
      const at = i * HEADER_ENTRY;
      header.writeUInt8(blob.type === 'tree' ? 1 : 0, at);
      header.writeUInt32LE(blob.length, at + 1);
      header.writeUInt32LE(blob.rawLength, at + 5);
      header.write(blob.id, at + 9, 'hex');
    });
    const sealedHeader = seal(key, header);
    this.makeRoom(sealedHeader.length + 4);
    this.buffer.set(sealedHeader, this.size);
    this.buffer.writeUInt32LE(sealedHeader.length, this.size + sealedHeader.length);
    const bytes = this.buffer.subarray(0, this.size + sealedHeader.length + 4);
    return { id: createHash('sha256').update(bytes).digest('hex'), bytes, blobs: this.blobs, buffer: this.buffer };
  }
}

/** Reads the blob list from a pack's last bytes (`tail` must hold at least the sealed header and trailer). */
export function parsePackHeader(key: Buffer, tail: Buffer, packSize: number, what: string): PackedBlob[] {
  if (tail.length < 4) throw new RepositoryError('REPO_CORRUPT', `${what} is too short to be a pack`);
  const headerLength = tail.readUInt32LE(tail.length - 4);
  if (headerLength + 4 > tail.length || headerLength + 4 > packSize) {
    throw new RepositoryError('REPO_CORRUPT', `${what} has an invalid header length`);
  }
  const header = unseal(key, tail.subarray(tail.length - 4 - headerLength, tail.length - 4), `${what} header`);
  if (header.length % HEADER_ENTRY !== 0) throw new RepositoryError('REPO_CORRUPT', `${what} header is malformed`);
  const blobs: PackedBlob[] = [];
  let offset = 0;
  for (let at = 0; at < header.length; at += HEADER_ENTRY) {
    const length = header.readUInt32LE(at + 1);
    blobs.push({
      type: header.readUInt8(at) === 1 ? 'tree' : 'data',
      length,
      rawLength: header.readUInt32LE(at + 5),
      id: header.toString('hex', at + 9, at + 9 + 32),
      offset,
    });
    offset += length;
  }
  return blobs;
}
