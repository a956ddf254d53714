import { TargetError, bodyParts, defineTarget, throwIfAborted } from '@cairn/core';
import type { PutBody } from '@cairn/core';
import { z } from 'zod';

export const memoryTargetOptions = z.object({
  name: z.string().min(1).describe('Which store: targets with the same name share their objects (within this process).'),
});

/** Objects of every memory store in this process, by store name. */
const stores = new Map<string, Map<string, Buffer>>();

/**
 * A target that keeps objects in a Map: for tests of code above the blob store (repository,
 * orchestrator) that need a fast, real, conforming store. Connections to the same `name` share
 * their objects, so a repository can be initialised and opened again; use a fresh name per test.
 */
export const memoryTarget = defineTarget({
  name: 'memory',
  options: memoryTargetOptions,
  capabilities: { rangeReads: true, atomicRename: false, maxParallel: 8 },
  location: (options) => `memory:${options.name}`,
  async connect(options) {
    let objects = stores.get(options.name);
    if (!objects) stores.set(options.name, (objects = new Map()));
    return memoryStore(objects);
  },
});

function memoryStore(objects: Map<string, Buffer>) {
  return {
    async put(key: string, body: PutBody, options: { signal?: AbortSignal } = {}) {
      checkKey(key);
      const parts: Buffer[] = [];
      for await (const part of bodyParts(body)) {
        throwIfAborted(options.signal);
        parts.push(Buffer.from(part));
      }
      throwIfAborted(options.signal);
      objects.set(key, Buffer.concat(parts)); // only a complete body is ever stored: atomic visibility
    },
    async get(key: string, options: { range?: { offset: number; length: number } } = {}) {
      checkKey(key);
      const object = objects.get(key);
      if (!object) throw new TargetError('TARGET_NOT_FOUND', `no object ${key}`, { plugin: 'memory' });
      const slice = options.range ? object.subarray(options.range.offset, options.range.offset + options.range.length) : object;
      return (async function* () {
        for (let i = 0; i < slice.length; i += 65536) yield slice.subarray(i, i + 65536);
      })();
    },
    async *list(prefix: string) {
      for (const [key, value] of [...objects]) if (key.startsWith(prefix)) yield { key, size: value.length };
    },
    async delete(key: string) {
      checkKey(key);
      objects.delete(key);
    },
    async stat(key: string) {
      checkKey(key);
      const object = objects.get(key);
      return object ? { key, size: object.length } : undefined;
    },
    async close() {},
  };
}

function checkKey(key: string): void {
  if (key === '' || key.startsWith('/') || key.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new TargetError('TARGET_INVALID_KEY', `invalid key ${JSON.stringify(key)}: use relative "/"-separated names without "." or ".." segments`, { plugin: 'memory' });
  }
}
