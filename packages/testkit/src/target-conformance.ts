import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TargetError } from '@cairn/core';
import type { BlobStore, TargetInstance } from '@cairn/core';
import { pluginContext } from './context.js';
import { collect, deterministicBytes, digest, hashing } from './data.js';
import type { TcpProxy } from './tcp-proxy.js';

export interface TargetConformanceOptions {
  /** Size of the large-object test in MiB; default 200. It is streamed, never held in memory. */
  largeObjectMiB?: number;
  /**
   * For network targets: an empty store reached through `proxy` (see `startTcpProxy`), with short
   * timeouts and retries, so the suite can drop its connections mid-transfer and take the server away.
   */
  behindProxy?: () => Promise<{ target: TargetInstance; proxy: TcpProxy; cleanup?: () => Promise<void> }>;
}

export type MakeTarget = () => Promise<{ target: TargetInstance; cleanup?: () => Promise<void> }>;

/**
 * The behaviour every target must have, as a vitest suite. `makeTarget` is called before each test
 * and must return an empty store (a fresh directory, bucket or prefix).
 */
export function describeTargetConformance(name: string, makeTarget: MakeTarget, options: TargetConformanceOptions = {}): void {
  const largeBytes = Math.round((options.largeObjectMiB ?? 200) * 1024 * 1024) + 1;

  describe(`${name}: target conformance`, () => {
    let target: TargetInstance;
    let store: BlobStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      const made = await makeTarget();
      target = made.target;
      cleanup = made.cleanup;
      store = await target.connect(pluginContext());
    });
    afterEach(async () => {
      await store?.close();
      await cleanup?.();
    });

    const bytes = (seed: string, size: number) => collect(deterministicBytes(seed, size, 64 * 1024));
    const read = async (key: string, range?: { offset: number; length: number }) => collect(await store.get(key, range ? { range } : {}));
    const keys = async (prefix: string) => {
      const found: Array<{ key: string; size: number }> = [];
      for await (const info of store.list(prefix)) found.push({ key: info.key, size: info.size });
      return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    };

    it('declares its kind, location and capabilities', () => {
      expect(target.kind).toBe('target');
      expect(typeof target.plugin).toBe('string');
      expect(target.location.length).toBeGreaterThan(0);
      expect(typeof target.capabilities.rangeReads).toBe('boolean');
      expect(typeof target.capabilities.atomicRename).toBe('boolean');
      expect(target.capabilities.maxParallel).toBeGreaterThanOrEqual(1);
      expect(store.capabilities).toEqual(target.capabilities);
      expect(store.location).toBe(target.location);
    });

    it('gets back exactly what was put', async () => {
      const body = await bytes('round-trip', 100_003);
      await store.put('data/ab/round-trip', body);
      expect((await read('data/ab/round-trip')).equals(body)).toBe(true);
    });

    it('reads byte ranges: start, middle, end and whole', async () => {
      const body = await bytes('ranges', 3 * 1024 * 1024 + 5);
      await store.put('ranges', body);
      for (const [offset, length] of [[0, 1], [0, 4096], [1_000_003, 2_000_000], [body.length - 100, 100], [body.length - 1, 1], [0, body.length]] as const) {
        const got = await read('ranges', { offset, length });
        expect(got.length, `range ${offset}+${length}`).toBe(length);
        expect(got.equals(body.subarray(offset, offset + length)), `range ${offset}+${length}`).toBe(true);
      }
    });

    it('lists objects by prefix with their sizes, nested keys included', async () => {
      const layout: Record<string, number> = { 'a/1': 1, 'a/2': 22, 'a/b/3': 333, 'a/b/c/4': 0, 'ab/5': 5, 'b/6': 6, top: 7 };
      for (const [key, size] of Object.entries(layout)) await store.put(key, await bytes(key, size));
      const all = Object.entries(layout).map(([key, size]) => ({ key, size })).sort((x, y) => (x.key < y.key ? -1 : 1));
      expect(await keys('')).toEqual(all);
      expect(await keys('a/')).toEqual(all.filter((k) => k.key.startsWith('a/')));
      expect(await keys('a')).toEqual(all.filter((k) => k.key.startsWith('a')));
      expect(await keys('a/b/')).toEqual([{ key: 'a/b/3', size: 333 }, { key: 'a/b/c/4', size: 0 }]);
      expect(await keys('a/b/c/4')).toEqual([{ key: 'a/b/c/4', size: 0 }]);
      expect(await keys('nothing/')).toEqual([]);
    });

    it('lists only complete objects, never temporary uploads', async () => {
      for (let i = 0; i < 5; i++) await store.put(`packs/${i}`, deterministicBytes(`tmp-${i}`, 10_000, 1000));
      expect((await keys('')).map((k) => k.key)).toEqual(['packs/0', 'packs/1', 'packs/2', 'packs/3', 'packs/4']);
    });

    it('deletes objects, and deleting a missing object is fine', async () => {
      await store.put('gone/x', new Uint8Array([1, 2, 3]));
      await store.put('gone/y', new Uint8Array([4]));
      await store.delete('gone/x');
      expect(await store.stat('gone/x')).toBeUndefined();
      expect(await keys('gone/')).toEqual([{ key: 'gone/y', size: 1 }]);
      await expectTargetError(store.get('gone/x'), 'TARGET_NOT_FOUND');
      await store.delete('gone/x');
      await store.delete('never/existed');
    });

    it('stats present and missing objects', async () => {
      await store.put('s/present', new Uint8Array(1234));
      expect(await store.stat('s/present')).toEqual({ key: 's/present', size: 1234 });
      expect(await store.stat('s/missing')).toBeUndefined();
      expect(await store.stat('no-such-dir/missing')).toBeUndefined();
    });

    it('replaces the whole object on overwrite', async () => {
      await store.put('over', await bytes('long', 50_000));
      const short = await bytes('short', 3);
      await store.put('over', short);
      expect((await read('over')).equals(short)).toBe(true);
      expect(await store.stat('over')).toEqual({ key: 'over', size: 3 });
    });

    it('rejects get of a missing object with TARGET_NOT_FOUND', async () => {
      await expectTargetError(store.get('missing'), 'TARGET_NOT_FOUND');
      await expectTargetError(store.get('missing/dir/key', { range: { offset: 0, length: 10 } }), 'TARGET_NOT_FOUND');
    });

    it('stores 0-byte objects, from a buffer and from an empty stream', async () => {
      await store.put('empty/buffer', new Uint8Array(0));
      await store.put('empty/stream', (async function* () {})());
      for (const key of ['empty/buffer', 'empty/stream']) {
        expect((await read(key)).length).toBe(0);
        expect(await store.stat(key)).toEqual({ key, size: 0 });
      }
      expect(await keys('empty/')).toEqual([{ key: 'empty/buffer', size: 0 }, { key: 'empty/stream', size: 0 }]);
    });

    it('handles unicode key names', async () => {
      const key = 'unicode/ünïcødé-日本語-😀.bin';
      const body = new TextEncoder().encode('ça va');
      await store.put(key, body);
      expect((await read(key)).equals(Buffer.from(body))).toBe(true);
      expect(await keys('unicode/')).toEqual([{ key, size: body.length }]);
      expect(await store.stat(key)).toEqual({ key, size: body.length });
    });

    it('refuses keys with ".." segments or a leading "/" with TARGET_INVALID_KEY', async () => {
      for (const key of ['../escape', 'a/../../escape', '/absolute']) {
        await expectTargetError(store.put(key, new Uint8Array([1])), 'TARGET_INVALID_KEY');
        await expectTargetError(store.get(key), 'TARGET_INVALID_KEY');
      }
    });

    it('names, when it offers localPath, a file holding exactly the object, and refuses bad keys there too', async () => {
      if (!store.localPath) {
        expect(store.localPath).toBeUndefined(); // an optional capability: the repository reads through get
        return;
      }
      const body = await bytes('local-path', 300_000);
      await store.put('data/ab/local', body);
      expect((await readFile(store.localPath('data/ab/local'))).equals(body)).toBe(true);
      for (const key of ['../escape', 'a/../../escape', '/absolute']) {
        let error: unknown;
        try {
          store.localPath(key);
        } catch (caught) {
          error = caught;
        }
        expect(error).toMatchObject({ code: 'TARGET_INVALID_KEY' });
      }
    });

    it('keeps concurrent writers to different keys apart', async () => {
      const writers = Array.from({ length: 8 }, (_, i) => {
        const upload = hashing(deterministicBytes(`writer-${i}`, 300_000 + i, 16 * 1024));
        return { key: `concurrent/${i}`, upload };
      });
      await Promise.all(writers.map(({ key, upload }) => store.put(key, upload.body)));
      for (const { key, upload } of writers) expect(await digest(await store.get(key))).toEqual(upload.result());
      expect((await keys('concurrent/')).length).toBe(8);
    });

    it('leaves one complete version when writers race on the same key', async () => {
      const uploads = Array.from({ length: 6 }, (_, i) => hashing(deterministicBytes(`race-${i}`, 1024 * 1024 + i * 7, 64 * 1024)));
      await Promise.all(uploads.map((upload) => store.put('race/key', upload.body)));
      const versions = uploads.map((u) => u.result());
      const stored = await digest(await store.get('race/key'));
      expect(versions).toContainEqual(stored);
      expect(await keys('race/')).toEqual([{ key: 'race/key', size: stored.size }]);
    });

    it('accepts a streamed body from an async generator, with uneven and empty pieces', async () => {
      const pieces = [new Uint8Array(0), new Uint8Array([1]), new Uint8Array(70_000).fill(2), new Uint8Array(0), new Uint8Array(3).fill(3)];
      await store.put('streamed', (async function* () {
        for (const piece of pieces) yield piece;
      })());
      expect((await read('streamed')).equals(Buffer.concat(pieces))).toBe(true);
    });

    it(`streams a large object (${(largeBytes / 1048576).toFixed(0)} MiB) in and out intact`, async () => {
      const upload = hashing(deterministicBytes('large', largeBytes));
      await store.put('large/object', upload.body);
      expect(upload.result().size).toBe(largeBytes);
      expect(await store.stat('large/object')).toEqual({ key: 'large/object', size: largeBytes });
      expect(await digest(await store.get('large/object'))).toEqual(upload.result());
      const tail = await read('large/object', { offset: largeBytes - 10, length: 10 });
      expect(tail.length).toBe(10);
    }, 600_000);

    it('makes nothing visible when the body fails half-way', async () => {
      const failing = async function* () {
        yield* deterministicBytes('half', 200_000, 10_000);
        throw new Error('the producer died');
      };
      await expect(store.put('atomic/new', failing())).rejects.toThrow();
      expect(await store.stat('atomic/new')).toBeUndefined();
      expect(await keys('atomic/')).toEqual([]);
      expect(await keys('')).toEqual([]);
      await expectTargetError(store.get('atomic/new'), 'TARGET_NOT_FOUND');
    });

    it('keeps the old object when an overwrite fails half-way', async () => {
      const old = await bytes('old', 20_000);
      await store.put('atomic/old', old);
      const failing = async function* () {
        yield* deterministicBytes('new', 100_000, 10_000);
        throw new Error('the producer died');
      };
      await expect(store.put('atomic/old', failing())).rejects.toThrow();
      expect((await read('atomic/old')).equals(old)).toBe(true);
      expect(await keys('atomic/')).toEqual([{ key: 'atomic/old', size: old.length }]);
    });

    it('stores nothing when the put is aborted', async () => {
      const controller = new AbortController();
      const body = async function* () {
        yield new Uint8Array(1000);
        controller.abort();
        yield new Uint8Array(1000);
        yield new Uint8Array(1000);
      };
      await expect(store.put('aborted', body(), { signal: controller.signal })).rejects.toThrow();
      expect(await store.stat('aborted')).toBeUndefined();
      expect(await keys('')).toEqual([]);
    });

    if (options.behindProxy) describeConnectionDrops(options.behindProxy);
  });
}

async function expectTargetError(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error, `expected a TargetError ${code}`).toBeInstanceOf(TargetError);
  expect((error as TargetError).code).toBe(code);
  expect((error as Error).message).not.toContain('\n');
}

/** What a network target does when its connection drops or its server goes away. */
function describeConnectionDrops(behindProxy: NonNullable<TargetConformanceOptions['behindProxy']>): void {
  describe('when the connection drops', () => {
    let proxy: TcpProxy;
    let store: BlobStore;
    let cleanup: (() => Promise<void>) | undefined;
    beforeEach(async () => {
      const made = await behindProxy();
      proxy = made.proxy;
      cleanup = made.cleanup;
      store = await made.target.connect(pluginContext());
    });
    afterEach(async () => {
      proxy.resume();
      await store?.close().catch(() => undefined);
      await proxy.close();
      await cleanup?.();
    });

    /** Cuts every connection once `bytes` more have crossed the proxy. */
    const cutAfter = (bytes: number) => {
      const start = proxy.bytes;
      const timer = setInterval(() => {
        if (proxy.bytes - start < bytes) return;
        clearInterval(timer);
        proxy.cut();
      }, 5);
      return () => clearInterval(timer);
    };
    const parts = (seed: string, count: number) => Promise.all(Array.from({ length: count }, (_, i) => collect(deterministicBytes(`${seed}-${i}`, 256 * 1024))));

    it('retries a buffered put cut mid-transfer and stores it whole', async () => {
      const body = await parts('replay', 24); // 6 MiB in 256 KiB buffers, as a repository sends a pack
      const stop = cutAfter(2 * 1024 * 1024);
      try {
        await store.put('drop/buffered', body);
      } finally {
        stop();
      }
      expect((await collect(await store.get('drop/buffered'))).equals(Buffer.concat(body))).toBe(true);
    });

    it('fails a streamed put cut mid-transfer with a TargetError, or stores it whole, never in part', async () => {
      // Cut from inside the body, once 2 MiB have been handed over: mid-transfer whatever the protocol
      // (counting proxy bytes would not do for FTP, whose data connections bypass the proxy).
      const upload = hashing(cutWhenPast(deterministicBytes('stream-drop', 6 * 1024 * 1024, 64 * 1024), 2 * 1024 * 1024, () => proxy.cut()));
      const outcome = await store.put('drop/streamed', upload.body).then(() => undefined, (e: unknown) => e);
      if (outcome !== undefined) {
        expect(outcome, 'a failed put rejects with a TargetError').toBeInstanceOf(TargetError);
        expect(await store.stat('drop/streamed')).toBeUndefined();
      } else {
        expect(await digest(await store.get('drop/streamed'))).toEqual(upload.result());
      }
    });

    it('never passes off a get cut mid-transfer as complete', async () => {
      const body = Buffer.concat(await parts('get-drop', 24));
      await store.put('drop/read', body);
      const read = await store.get('drop/read')
        .then((stream) => collect(cutWhenPast(stream, 2 * 1024 * 1024, () => proxy.cut())))
        .then((data) => ({ data }), (error: unknown) => ({ error }));
      if ('error' in read) expect(read.error, 'a failed get rejects with a TargetError').toBeInstanceOf(TargetError);
      else expect(read.data.equals(body), 'a get that succeeds returns every byte').toBe(true);
    });

    it('fails with TARGET_UNAVAILABLE when the server is gone, then works again once it is back', async () => {
      await store.put('drop/before', new Uint8Array([1, 2, 3]));
      proxy.pause();
      proxy.cut();
      await expectTargetError(store.put('drop/while-down', new Uint8Array([4])), 'TARGET_UNAVAILABLE');
      await expectTargetError(store.get('drop/before'), 'TARGET_UNAVAILABLE');
      proxy.resume();
      await store.put('drop/after', new Uint8Array([5]));
      expect([...(await collect(await store.get('drop/before')))]).toEqual([1, 2, 3]);
      expect(await store.stat('drop/after')).toEqual({ key: 'drop/after', size: 1 });
    });
  });
}

/** Passes a stream through and calls `cut` once, when more than `bytes` have gone by. */
async function* cutWhenPast(stream: AsyncIterable<Uint8Array>, bytes: number, cut: () => void): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const piece of stream) {
    seen += piece.byteLength;
    if (seen > bytes && seen - piece.byteLength <= bytes) cut();
    yield piece;
  }
}
