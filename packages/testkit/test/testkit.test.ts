import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { collect, deterministicBytes, describeTargetConformance, digest, hashing, memoryTarget } from '../src/index.js';

// The suite checks itself against the reference in-memory target (small "large" object: it is held in memory).
describeTargetConformance('memory', async () => ({ target: memoryTarget({ name: randomUUID() }) }), { largeObjectMiB: 8 });

describe('memory target', () => {
  it('shares objects between connections to the same name only', async () => {
    const name = randomUUID();
    const ctx = { signal: new AbortController().signal, logger: console };
    await (await memoryTarget({ name }).connect(ctx)).put('k', new Uint8Array([1, 2]));
    expect(await (await memoryTarget({ name }).connect(ctx)).stat('k')).toEqual({ key: 'k', size: 2 });
    expect(await (await memoryTarget({ name: randomUUID() }).connect(ctx)).stat('k')).toBeUndefined();
  });
});

describe('test data helpers', () => {
  it('generates the same bytes for the same seed, whatever the piece size', async () => {
    const a = await collect(deterministicBytes('seed', 100_000, 4096));
    const b = await collect(deterministicBytes('seed', 100_000, 65536));
    expect(a.length).toBe(100_000);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(await collect(deterministicBytes('other', 100_000)))).toBe(false);
  });

  it('hashes a stream while passing it through', async () => {
    const pass = hashing(deterministicBytes('h', 12_345));
    const through = await collect(pass.body);
    expect(pass.result()).toEqual(await digest(deterministicBytes('h', 12_345)));
    expect(pass.result().size).toBe(through.length);
  });
});
