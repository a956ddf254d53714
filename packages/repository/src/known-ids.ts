import type { MasterIndex } from './master-index.js';

const ID_BYTES = 32;
/** Room for this many blobs a backup adds, on top of the repository's, before new ones stop being recorded. */
const NEW_BLOBS = 16 * 1024;

/**
 * The blob ids a backup need not store, in shared memory, so the workers that cut and hash files
 * skip the compression and sealing of content the repository has without asking the main thread.
 * An open-addressing hash table of raw 32-byte ids (ids are HMACs, so their first bytes are
 * uniform): slot = first 4 bytes (little-endian) masked to the table size, then linear probing;
 * a slot whose first 8 bytes are zero is empty. seal-worker.ts repeats the lookup.
 *
 * Only a hint: the main thread checks every id a worker calls known, and when the table is half
 * full it stops recording, so later duplicates are merely compressed for nothing.
 */
export class KnownIds {
  readonly table: Uint8Array;
  private readonly mask: number;
  private count = 0;

  constructor(expected: number) {
    let slots = 1024;
    while (slots < 2 * (expected + NEW_BLOBS)) slots *= 2;
    this.table = new Uint8Array(new SharedArrayBuffer(slots * ID_BYTES));
    this.mask = slots - 1;
  }

  static of(index: MasterIndex): KnownIds {
    const known = new KnownIds(index.size);
    for (const [id] of index.entries()) known.add(id);
    return known;
  }

  /** Records `id` (64 hex digits) as stored or on its way. */
  add(id: string): void {
    if (2 * (this.count + 1) > this.mask + 1) return;
    const bytes = Buffer.from(id, 'hex');
    const table = this.table;
    for (let slot = bytes.readUInt32LE(0) & this.mask; ; slot = (slot + 1) & this.mask) {
      const at = slot * ID_BYTES;
      if (isEmpty(table, at)) {
        table.set(bytes, at);
        this.count++;
        return;
      }
      if (Buffer.compare(bytes, table.subarray(at, at + ID_BYTES)) === 0) return;
    }
  }
}

function isEmpty(table: Uint8Array, at: number): boolean {
  for (let i = at; i < at + 8; i++) if (table[i] !== 0) return false;
  return true;
}
