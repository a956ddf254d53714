import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { compress, decompress } from '../src/compression.js';
import { blobId, generateMasterKeys, seal, unseal, type MasterKeys } from '../src/crypto.js';
import { closeSync, openSync, readSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Chunker, DEFAULT_CHUNKER, chunkStream, cutRules, gearTable } from '../src/chunker.js';
import { KnownIds } from '../src/known-ids.js';
import { FILE_CHUNK_MAX, SLOT_BYTES, SealPool, joinStretches, splitPoints, type FileJob, type FileOutcome } from '../src/seal-pool.js';
import { randomData, tempDir } from './helpers.js';

/** What a backup does with a blob: compress on the worker, seal here. */
function sealVia(pool: SealPool, keys: MasterKeys, parts: Uint8Array[], level = 3): Promise<Buffer> {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  return pool.compress(parts, length, level, (stored) => seal(keys.encryption, ...stored));
}

// The worker repeats the blob formats (it cannot import ours); this keeps the two in step.
describe('SealPool', () => {
  const inputs = [Buffer.from('compressible '.repeat(10_000)), randomData(5, 300_000), Buffer.alloc(0), Buffer.from('x')];

  it('compresses blobs exactly as the main thread reads them', async () => {
    const keys = generateMasterKeys();
    const pool = new SealPool(keys, 2);
    try {
      const envelopes = await Promise.all(inputs.map((data) => sealVia(pool, keys, [data])));
      for (const [i, data] of inputs.entries()) {
        const plain = await decompress(unseal(keys.encryption, envelopes[i]!, 'test blob'), 'test blob');
        expect(plain.equals(data)).toBe(true);
      }
      expect(envelopes[0]!.length).toBeLessThan(inputs[0]!.length / 10);
      // A chunk that spans several reads is compressed from its pieces, as if joined.
      const whole = inputs[1]!;
      const pieces = [whole.subarray(0, 1), whole.subarray(1, 1000), Buffer.alloc(0), whole.subarray(1000)];
      const fromPieces = await sealVia(pool, keys, pieces);
      expect((await decompress(unseal(keys.encryption, fromPieces, 'test blob'), 'test blob')).equals(whole)).toBe(true);
      expect(blobId(keys.id, ...pieces)).toBe(blobId(keys.id, whole));
      expect(envelopes[1]!.length).toBe(inputs[1]!.length + 1 + 28);
    } finally {
      await pool.close();
    }
  });

  it('stores a large blob raw when its first 64 KiB hardly shrink, without compressing the rest', async () => {
    const pool = new SealPool(generateMasterKeys(), 1);
    try {
      const flagOf = (data: Buffer) => pool.compress([data], data.length, 3, (stored) => stored[0]![0]);
      const text = Buffer.from('compressible text '.repeat(20_000));
      expect(await flagOf(text)).toBe(1);
      // Random first bytes decide for the whole blob, however well the rest would compress ...
      expect(await flagOf(Buffer.concat([randomData(41, 64 * 1024), text]))).toBe(0);
      // ... but not for a blob too small to probe, which is compressed whole.
      expect(await flagOf(Buffer.concat([randomData(42, 64 * 1024), text.subarray(0, 100_000)]))).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('names a chunk on the worker and compresses it only when claimed', async () => {
    const keys = generateMasterKeys();
    const pool = new SealPool(keys, 1);
    try {
      const data = inputs[0]!;
      const pieces = [data.subarray(0, 7), data.subarray(7)];
      const claimed: string[] = [];
      const consumed: Array<{ id: string; envelope: Buffer }> = [];
      const consume = (id: string, stored: Uint8Array[]): void => {
        consumed.push({ id, envelope: seal(keys.encryption, ...stored) });
      };
      const refused = await pool.hashAndCompress(pieces, data.length, 3, (id) => (claimed.push(id), false), consume);
      expect(refused).toBe(blobId(keys.id, data));
      expect(consumed).toEqual([]);
      const taken = await pool.hashAndCompress(pieces, data.length, 3, (id) => (claimed.push(id), true), consume);
      expect(taken).toBe(refused);
      expect(claimed).toEqual([refused, refused]);
      expect(consumed.map((c) => c.id)).toEqual([refused]);
      const plain = await decompress(unseal(keys.encryption, consumed[0]!.envelope, 'test blob'), 'test blob');
      expect(plain.equals(data)).toBe(true);
      expect(consumed[0]!.envelope.length).toBeLessThan(data.length / 10);
    } finally {
      await pool.close();
    }
  });

  it('opens blobs the main thread sealed, and refuses one whose content does not match its id', async () => {
    const keys = generateMasterKeys();
    const pool = new SealPool(keys, 1);
    try {
      for (const data of inputs) {
        const envelope = seal(keys.encryption, ...(await compress(data, 3)));
        const opened = await pool.open(envelope, blobId(keys.id, data), data.length, 'test blob');
        expect(opened.equals(data)).toBe(true);
      }
      const envelope = seal(keys.encryption, ...(await compress(inputs[0]!, 3)));
      await expect(pool.open(envelope, blobId(keys.id, inputs[1]!), inputs[0]!.length, 'test blob')).rejects.toMatchObject({ code: 'REPO_CORRUPT' });
    } finally {
      await pool.close();
    }
  });

  it('verifies blobs without returning them, and refuses a damaged or mismatched one', async () => {
    const keys = generateMasterKeys();
    const pool = new SealPool(keys, 1);
    try {
      for (const data of inputs) {
        const envelope = seal(keys.encryption, ...(await compress(data, 3)));
        await expect(pool.verify(envelope, blobId(keys.id, data), data.length, 'test blob')).resolves.toBeUndefined();
      }
      const envelope = seal(keys.encryption, ...(await compress(inputs[1]!, 3)));
      await expect(pool.verify(envelope, blobId(keys.id, inputs[0]!), inputs[1]!.length, 'test blob')).rejects.toMatchObject({ code: 'REPO_CORRUPT' });
      envelope[20]! ^= 1;
      await expect(pool.verify(envelope, blobId(keys.id, inputs[1]!), inputs[1]!.length, 'test blob')).rejects.toMatchObject({
        code: 'REPO_CORRUPT',
        message: expect.stringContaining('failed authentication'),
      });
    } finally {
      await pool.close();
    }
  });

  describe('shared slots', () => {
    it('reuses a few slots for many concurrent requests without mixing their contents', async () => {
      const keys = generateMasterKeys();
      const pool = new SealPool(keys, 2, 2);
      try {
        // Ten times as many requests as slots, of different sizes and contents, all at once.
        const many = Array.from({ length: 20 }, (_, i) => randomData(100 + i, 1000 + i * 37_000));
        const envelopes = await Promise.all(many.map((data) => sealVia(pool, keys, [data])));
        for (const [i, data] of many.entries()) {
          const plain = await decompress(unseal(keys.encryption, envelopes[i]!, 'test blob'), 'test blob');
          expect(plain.equals(data)).toBe(true);
        }
        const opened = await Promise.all(envelopes.map((envelope, i) => pool.open(envelope, blobId(keys.id, many[i]!), many[i]!.length, 'test blob')));
        for (const [i, data] of many.entries()) expect(opened[i]!.equals(data)).toBe(true);
        await Promise.all(envelopes.map((envelope, i) => pool.verify(envelope, blobId(keys.id, many[i]!), many[i]!.length, 'test blob')));
      } finally {
        await pool.close();
      }
    });

    it('frees the slot of a request that failed, in the worker or in the caller', async () => {
      const keys = generateMasterKeys();
      const pool = new SealPool(keys, 1, 1);
      try {
        const data = randomData(7, 50_000);
        const damaged = seal(keys.encryption, ...(await compress(data, 3)));
        damaged[20]! ^= 1;
        for (let i = 0; i < 3; i++) {
          await expect(pool.verify(damaged, blobId(keys.id, data), data.length, 'test blob')).rejects.toMatchObject({ code: 'REPO_CORRUPT' });
          await expect(
            pool.compress([data], data.length, 3, () => {
              throw new Error('consumer failed');
            }),
          ).rejects.toThrow('consumer failed');
        }
        // With one slot, any slot left taken would hang this.
        const envelope = await sealVia(pool, keys, [data]);
        expect((await pool.open(envelope, blobId(keys.id, data), data.length, 'test blob')).equals(data)).toBe(true);
      } finally {
        await pool.close();
      }
    });

    it('lends plaintexts in slots until given back, first come first served', async () => {
      const keys = generateMasterKeys();
      const pool = new SealPool(keys, 1, 2);
      try {
        const blobs = Array.from({ length: 3 }, (_, i) => randomData(20 + i, 100_000 + i));
        const envelopes = await Promise.all(blobs.map((data) => sealVia(pool, keys, [data])));
        const open = (i: number) => pool.openInSlot(envelopes[i]!, blobId(keys.id, blobs[i]!), blobs[i]!.length, 'test blob');
        const [first, second] = await Promise.all([open(0), open(1)]);
        expect(first.data.equals(blobs[0]!)).toBe(true);
        expect(second.data.equals(blobs[1]!)).toBe(true);
        // Both slots are lent: the third waits until one comes back, then takes that very slot.
        let third: Awaited<ReturnType<typeof open>> | undefined;
        const waiting = open(2).then((lent) => (third = lent));
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(third).toBeUndefined();
        first.release();
        first.release(); // a second release must not free the slot twice
        await waiting;
        expect(third!.data.equals(blobs[2]!)).toBe(true);
        expect(second.data.equals(blobs[1]!)).toBe(true); // still lent, still intact
        second.release();
        third!.release();
        // A damaged blob is refused and its slot given back: both slots serve the next two.
        const damaged = Buffer.from(envelopes[0]!);
        damaged[20]! ^= 1;
        await expect(pool.openInSlot(damaged, blobId(keys.id, blobs[0]!), blobs[0]!.length, 'test blob')).rejects.toMatchObject({ code: 'REPO_CORRUPT' });
        const both = await Promise.all([open(0), open(1)]);
        expect(both.map((lent) => lent.data.length)).toEqual([blobs[0]!.length, blobs[1]!.length]);
      } finally {
        await pool.close();
      }
    });

    it('widens to a worker on every core, with two more slots for each, and lends from all of them', async () => {
      const keys = generateMasterKeys();
      const pool = new SealPool(keys, 1, 2);
      try {
        const added = availableParallelism() - 1;
        const count = 2 + 2 * added;
        const blobs = Array.from({ length: count + 1 }, (_, i) => randomData(40 + i, 50_000 + i));
        const envelopes = await Promise.all(blobs.map((data) => sealVia(pool, keys, [data])));
        const open = (i: number) => pool.openInSlot(envelopes[i]!, blobId(keys.id, blobs[i]!), blobs[i]!.length, 'test blob');
        pool.widen();
        pool.widen(); // once only
        // Every slot can be lent at once, each blob intact, decoded by whichever worker got it.
        const lent = await Promise.all(blobs.slice(0, count).map((_, i) => open(i)));
        for (const [i, blob] of lent.entries()) expect(blob.data.equals(blobs[i]!)).toBe(true);
        // And no more than that: the next one waits for a slot to come back.
        let extra: Awaited<ReturnType<typeof open>> | undefined;
        const waiting = open(count).then((blob) => (extra = blob));
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(extra).toBeUndefined();
        lent[0]!.release();
        await waiting;
        expect(extra!.data.equals(blobs[count]!)).toBe(true);
      } finally {
        await pool.close();
      }
    });

    it('takes blobs larger than a slot through their own buffers', async () => {
      const keys = generateMasterKeys();
      const pool = new SealPool(keys, 1, 1);
      try {
        const data = randomData(9, SLOT_BYTES + 1);
        const envelope = await sealVia(pool, keys, [data], 1);
        expect(envelope.length).toBe(data.length + 29);
        expect((await pool.open(envelope, blobId(keys.id, data), data.length, 'test blob')).equals(data)).toBe(true);
      } finally {
        await pool.close();
      }
    });

    it('refuses requests waiting for a slot once the pool is closed', async () => {
      const keys = generateMasterKeys();
      const pool = new SealPool(keys, 1, 1);
      const data = randomData(11, 2_000_000);
      const results = Promise.allSettled(Array.from({ length: 3 }, () => pool.compress([data], data.length, 19, (stored) => stored.length)));
      await pool.close();
      const settled = await results;
      expect(settled.every((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'REPO_CLOSED')).toBe(true);
    });
  });

  describe('storeFile', () => {
    const small = { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 };

    /** Stores `path` through a worker as a backup does; returns the outcome and the chunks handed over, opened. */
    async function storeVia(pool: SealPool, keys: MasterKeys, path: string, job: Partial<FileJob> = {}): Promise<{ outcome: FileOutcome; handed: Array<{ id: string; plain: Buffer }> }> {
      const copies: Array<{ id: string; envelope: Buffer }> = [];
      const fd = openSync(path, 'r');
      try {
        const full: FileJob = { zstdLevel: 3, rules: cutRules(small), known: new KnownIds(0).table, abort: new Int32Array(new SharedArrayBuffer(4)), ...job };
        const { outcome } = await pool.storeFile(fd, full, {
          size: 0,
          onChunk: (chunk) => {
            copies.push({ id: chunk.id, envelope: Buffer.from(chunk.envelope) });
            chunk.release();
          },
        });
        const done = await outcome;
        return { outcome: done, handed: await Promise.all(copies.map(async ({ id, envelope }) => ({ id, plain: await open(keys, envelope) }))) };
      } finally {
        closeSync(fd);
      }
    }

    function open(keys: MasterKeys, envelope: Buffer): Promise<Buffer> {
      return decompress(unseal(keys.encryption, envelope, 'test chunk'), 'test chunk');
    }

    async function chunkIds(keys: MasterKeys, data: Buffer, params = small): Promise<string[]> {
      const chunker = new Chunker(gearTable(keys.chunker), params);
      const ids: string[] = [];
      async function* pieces(): AsyncGenerator<Uint8Array> {
        yield data.subarray(0, 1000);
        yield data.subarray(1000);
      }
      for await (const chunk of chunkStream(chunker, pieces())) ids.push(blobId(keys.id, ...chunk.parts));
      return ids;
    }

    /** A pool, its keys and a temporary folder for one test; the pool is closed however the test ends. */
    async function withPool(test: (keys: MasterKeys, pool: SealPool, dir: string) => Promise<void>): Promise<void> {
      const keys = generateMasterKeys();
      const pool = new SealPool(keys, 1);
      const dir = await tempDir();
      try {
        await test(keys, pool, dir);
      } finally {
        await pool.close();
      }
    }

    it('reads a descriptor from its start whatever its offset, telling how far it has read as it goes', () =>
      withPool(async (keys, pool, dir) => {
        const data = randomData(23, 40 * 1024 * 1024 + 5);
        await writeFile(join(dir, 'large'), data);
        const fd = openSync(join(dir, 'large'), 'r');
        try {
          readSync(fd, Buffer.alloc(4096), 0, 4096, null); // moves the descriptor's offset
          const told: number[] = [];
          const job: FileJob = { zstdLevel: 3, rules: cutRules(DEFAULT_CHUNKER), known: new KnownIds(0).table, abort: new Int32Array(new SharedArrayBuffer(4)) };
          const { outcome } = await pool.storeFile(fd, job, { size: data.length, onChunk: (chunk) => chunk.release(), onRead: (bytes) => told.push(bytes) });
          expect(await outcome).toEqual({ ids: await chunkIds(keys, data, DEFAULT_CHUNKER), size: data.length });
          expect(told.length).toBeGreaterThanOrEqual(2);
          told.forEach((bytes, i) => expect(bytes).toBeGreaterThan(i === 0 ? 0 : told[i - 1]!));
          expect(told.at(-1)!).toBeLessThanOrEqual(data.length);
        } finally {
          closeSync(fd);
        }
      }));

    // One file worker per core: with one core there is nobody to spread files over.
    it.runIf(availableParallelism() > 1)('spreads files over the workers by bytes, so small files never wait behind a large one', () =>
      withPool(async (_keys, pool, dir) => {
        const job: FileJob = { zstdLevel: 3, rules: cutRules(DEFAULT_CHUNKER), known: new KnownIds(0).table, abort: new Int32Array(new SharedArrayBuffer(4)) };
        // Under two anchor spacings: one worker takes it whole (larger ones are cut in stretches, below).
        const files = [{ name: 'large', data: randomData(25, 30 * 1024 * 1024) }, ...Array.from({ length: 24 }, (_, i) => ({ name: `small-${i}`, data: randomData(100 + i, 20_000) }))];
        for (const { name, data } of files) await writeFile(join(dir, name), data);
        const finished: string[] = [];
        const outcomes: Array<Promise<FileOutcome>> = [];
        // The large one first, then the small ones, each queued before the next as a backup's walk does.
        for (const { name, data } of files) {
          const fd = openSync(join(dir, name), 'r');
          const { outcome } = await pool.storeFile(fd, job, { size: data.length, onChunk: (chunk) => chunk.release() });
          outcomes.push(outcome.then((done) => {
            closeSync(fd);
            finished.push(name);
            return done;
          }));
        }
        const stored = await Promise.all(outcomes);
        expect(stored.map((done) => ('size' in done ? done.size : -1))).toEqual(files.map((f) => f.data.length));
        expect(finished.at(-1)).toBe('large');
      }));

    it('cuts, names and seals a file as the main thread would, handing over each new chunk once', () =>
      withPool(async (keys, pool, dir) => {
        // Random and compressible stretches; longer than a worker reads at once, so cuts span reads.
        const data = Buffer.concat([randomData(21, 3_000_000), Buffer.from('compressible text '.repeat(200_000)), randomData(22, 9_500_000)]);
        await writeFile(join(dir, 'mixed'), data);
        const { outcome, handed } = await storeVia(pool, keys, join(dir, 'mixed'));
        const expected = await chunkIds(keys, data);
        expect(outcome).toEqual({ ids: expected, size: data.length });
        expect(expected.length).toBeGreaterThan(20);
        expect(handed.map((h) => h.id)).toEqual([...new Set(expected)]);
        // The repeated text makes repeated chunks: the file is its ids, each opened once.
        const plain = new Map(handed.map((h) => [h.id, h.plain]));
        expect(Buffer.concat(expected.map((id) => plain.get(id)!)).equals(data)).toBe(true);

        // With the default sizes too (chunks of up to 8 MiB), and for a file the repository has in part.
        const defaults = await chunkIds(keys, data, DEFAULT_CHUNKER);
        const known = new KnownIds(1);
        known.add(defaults[1]!);
        const second = await storeVia(pool, keys, join(dir, 'mixed'), { rules: cutRules(DEFAULT_CHUNKER), known: known.table });
        expect(second.outcome).toEqual({ ids: defaults, size: data.length });
        expect(second.handed.map((h) => h.id)).toEqual(defaults.filter((id) => id !== defaults[1]));

        // Repeated content (zeros cut at the same places, then a shorter rest) is sealed once; an
        // empty file has no chunks.
        await writeFile(join(dir, 'zeros'), Buffer.alloc(2_000_000));
        const zeros = await storeVia(pool, keys, join(dir, 'zeros'));
        const zeroIds = 'ids' in zeros.outcome ? zeros.outcome.ids : [];
        expect(zeroIds.length).toBeGreaterThanOrEqual(2_000_000 / small.max);
        expect(zeros.handed.map((h) => h.id)).toEqual([...new Set(zeroIds)]);
        expect(zeros.handed.length).toBeLessThanOrEqual(2);
        await writeFile(join(dir, 'empty'), '');
        expect((await storeVia(pool, keys, join(dir, 'empty'))).outcome).toEqual({ ids: [], size: 0 });
      }));

    it('cuts a large file in stretches between anchors, one per worker, into the chunks one pass cuts', () =>
      withPool(async (keys, pool, dir) => {
        // Anchors every 1 MiB. Zeros (no anchor in them, unless the key makes every zero one) from
        // 1.6 to 4.2 MB hide the anchors after 2, 3 and 4 MiB, so with two workers the first
        // stretch ends, and the second starts, at one anchor past them (found from both sides).
        const params = { ...small, anchorSpacing: 1024 * 1024 };
        const data = Buffer.concat([randomData(31, 1_600_000), Buffer.alloc(2_600_000), randomData(32, 3_300_000)]);
        await writeFile(join(dir, 'stretched'), data);
        const told: number[] = [];
        const fd = openSync(join(dir, 'stretched'), 'r');
        try {
          const job: FileJob = { zstdLevel: 3, rules: cutRules(params), known: new KnownIds(0).table, abort: new Int32Array(new SharedArrayBuffer(4)) };
          const { outcome } = await pool.storeFile(fd, job, { size: data.length, onChunk: (chunk) => chunk.release(), onRead: (bytes) => told.push(bytes) });
          const expected = await chunkIds(keys, data, params);
          expect(await outcome).toEqual({ ids: expected, size: data.length });
          // Stretches read on past their ends: no more than the file is told.
          expect(told.at(-1)).toBe(data.length);
        } finally {
          closeSync(fd);
        }
      }));

    it('splits files at multiples of the anchor spacing, and joins stretches only when they meet', () => {
      const MiB = 1024 * 1024;
      expect(splitPoints(31 * MiB, 16 * MiB, 2)).toEqual([]);
      expect(splitPoints(40 * MiB, 16 * MiB, 2)).toEqual([16 * MiB]);
      expect(splitPoints(240 * MiB, 16 * MiB, 2)).toEqual([128 * MiB]);
      expect(splitPoints(240 * MiB, 16 * MiB, 4)).toEqual([64 * MiB, 128 * MiB, 176 * MiB]);
      expect(splitPoints(240 * MiB, 16 * MiB, 1)).toEqual([]);
      expect(splitPoints(Number.NaN, 16 * MiB, 2)).toEqual([]);

      const stretch = (start: number, end: number, ids: string[]) => ({ start, end, ids });
      expect(joinStretches([stretch(0, 10, ['a']), stretch(10, 25, ['b', 'c'])])).toEqual({ ids: ['a', 'b', 'c'], size: 25 });
      // An empty stretch (no anchor between its multiples, or none before the end) is passed over.
      expect(joinStretches([stretch(0, 30, ['a', 'b']), stretch(30, 30, []), stretch(30, 40, ['c'])])).toEqual({ ids: ['a', 'b', 'c'], size: 40 });
      expect(joinStretches([stretch(0, 30, ['a']), stretch(29, 29, [])])).toEqual({ ids: ['a'], size: 30 });
      expect(joinStretches([stretch(0, 0, [])])).toEqual({ ids: [], size: 0 });
      // A gap or an overlap: the file changed between the reads.
      expect(joinStretches([stretch(0, 10, ['a']), stretch(12, 20, ['b'])])).toBeUndefined();
      expect(joinStretches([stretch(0, 10, ['a']), stretch(8, 20, ['b'])])).toBeUndefined();
      expect(joinStretches([stretch(0, 10, ['a']), { unreadable: { message: 'EIO', code: 'EIO' } }])).toEqual({ unreadable: { message: 'EIO', code: 'EIO' } });
      expect(joinStretches([stretch(0, 10, ['a']), { aborted: true }])).toEqual({ aborted: true });
    });

    it('reports a descriptor it cannot read, and stops when told to', () =>
      withPool(async (keys, pool, dir) => {
        expect((await storeVia(pool, keys, dir)).outcome).toMatchObject({ unreadable: { code: 'EISDIR' } });
        await writeFile(join(dir, 'file'), randomData(23, 100_000));
        const abort = new Int32Array(new SharedArrayBuffer(4));
        Atomics.store(abort, 0, 1);
        expect((await storeVia(pool, keys, join(dir, 'file'), { abort })).outcome).toEqual({ aborted: true });
      }));

    it('waits for ring space the main thread gives back, in any order', () =>
      withPool(async (keys, pool, dir) => {
        // A ring left part-way (a 2 MiB chunk, given back) takes a chunk of 8 MiB, which fits only
        // from its beginning: once empty, it starts there again.
        const fixed = (size: number) => cutRules({ min: size, avg: size, max: size });
        await writeFile(join(dir, '2m'), randomData(25, 2 * 1024 * 1024));
        await writeFile(join(dir, '8m'), randomData(26, FILE_CHUNK_MAX));
        expect((await storeVia(pool, keys, join(dir, '2m'), { rules: fixed(2 * 1024 * 1024) })).handed).toHaveLength(1);
        expect((await storeVia(pool, keys, join(dir, '8m'), { rules: fixed(FILE_CHUNK_MAX) })).handed).toHaveLength(1);

        // Chunks of 1–8 MiB given back out of order, so the ring fills, wraps and waits.
        const data = randomData(24, 3 * DEFAULT_CHUNKER.max);
        await writeFile(join(dir, 'big'), data);
        const held: Array<{ envelope: Buffer; release: () => void }> = [];
        const fd = openSync(join(dir, 'big'), 'r');
        const job: FileJob = { zstdLevel: 1, rules: cutRules(DEFAULT_CHUNKER), known: new KnownIds(0).table, abort: new Int32Array(new SharedArrayBuffer(4)) };
        const { outcome } = await pool.storeFile(fd, job, {
          size: data.length,
          onChunk: (chunk) => {
            held.push({ envelope: Buffer.from(chunk.envelope), release: chunk.release });
            // Every other one given back at once, the others later: the ring is freed in its own order.
            if (held.length % 2 === 0) setImmediate(chunk.release);
            else setTimeout(chunk.release, 20);
          },
        });
        const done = await outcome;
        closeSync(fd);
        expect(done).toEqual({ ids: await chunkIds(keys, data, DEFAULT_CHUNKER), size: data.length });
        expect(Buffer.concat(await Promise.all(held.map((h) => open(keys, h.envelope)))).equals(data)).toBe(true);
      }));
  });
});
