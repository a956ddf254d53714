import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { TargetError, bodyParts, defineSource, defineTarget } from '../src/index.js';
import type { BlobInfo, PutBody, SourceEntry } from '../src/index.js';

export async function tempDir(prefix = 'cairn-core-'): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * A minimal blob store in a directory, written for these tests so that core does not depend on a
 * target plugin (which itself depends on core). Serves `file://` URLs and `testdir://` URLs.
 */
export const dirTarget = defineTarget({
  name: 'testdir',
  options: z.object({ path: z.string().min(1) }),
  capabilities: { rangeReads: true, atomicRename: true, maxParallel: 4 },
  urls: {
    schemes: ['file', 'testdir'],
    parse: (url) => ({ path: url.startsWith('file:') ? fileURLToPath(url) : decodeURIComponent(new URL(url).pathname) }),
  },
  location: (options) => options.path,
  async connect(options) {
    const root = options.path;
    const file = (key: string): string => join(root, ...key.split('/'));
    let counter = 0;
    return {
      async put(key: string, body: PutBody) {
        const final = file(key);
        await mkdir(dirname(final), { recursive: true });
        const temp = `${final}.tmp-${process.pid}-${counter++}`;
        const handle = await open(temp, 'w');
        try {
          for await (const part of bodyParts(body)) await handle.write(part);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, final);
      },
      async get(key: string, opts?: { range?: { offset: number; length: number } }) {
        const path = file(key);
        try {
          await stat(path);
        } catch {
          throw new TargetError('TARGET_NOT_FOUND', `no object ${key}`, { plugin: 'testdir' });
        }
        const range = opts?.range;
        if (range && range.length === 0) return (async function* () {})();
        return createReadStream(path, range ? { start: range.offset, end: range.offset + range.length - 1 } : {}) as AsyncIterable<Uint8Array>;
      },
      async *list(prefix: string): AsyncIterable<BlobInfo> {
        const walk = async function* (dir: string): AsyncIterable<BlobInfo> {
          let names: string[];
          try {
            names = await readdir(dir);
          } catch {
            return;
          }
          for (const name of names) {
            const full = join(dir, name);
            const info = await stat(full);
            if (info.isDirectory()) yield* walk(full);
            else if (!name.includes('.tmp-')) {
              const key = relative(root, full).split(sep).join('/');
              if (key.startsWith(prefix)) yield { key, size: info.size };
            }
          }
        };
        yield* walk(root);
      },
      async delete(key: string) {
        await unlink(file(key)).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') throw error;
        });
      },
      async stat(key: string) {
        try {
          return { key, size: (await stat(file(key))).size };
        } catch {
          return undefined;
        }
      },
      async close() {},
    };
  },
});

/** A source of in-memory files: `{ 'a.txt': 'hello', 'docs/b.txt': '…' }`; `unreadable` paths are reported with ctx.warn. */
export const memorySource = defineSource({
  name: 'memory',
  options: z.object({
    name: z.string().min(1),
    files: z.record(z.string(), z.string()),
    unreadable: z.array(z.string()).default([]),
    /** Paths whose content fails to read (open throws EACCES), as a file that vanished or is locked. */
    failing: z.array(z.string()).default([]),
    mtimeMs: z.number().default(Date.UTC(2024, 0, 2, 3, 4, 5)),
  }),
  capabilities: { incremental: false, restoreModes: ['directory'] },
  create: (options) => ({
    name: options.name,
    description: `memory:${options.name}`,
    async *entries(ctx) {
      const emitted = new Set<string>();
      for (const path of Object.keys(options.files).sort()) {
        const parts = path.split('/');
        for (let i = 1; i < parts.length; i++) {
          const dir = parts.slice(0, i).join('/');
          if (emitted.has(dir)) continue;
          emitted.add(dir);
          yield { path: dir, type: 'dir', mode: 0o755, mtimeMs: options.mtimeMs, size: 0 } satisfies SourceEntry;
        }
        if (options.unreadable.includes(path)) {
          ctx.warn(path, 'permission denied', 'EACCES');
          continue;
        }
        const content = Buffer.from(options.files[path]!);
        yield {
          path,
          type: 'file',
          mode: 0o644,
          mtimeMs: options.mtimeMs,
          size: content.byteLength,
          open: options.failing.includes(path)
            ? async function* (): AsyncGenerator<Uint8Array> {
              yield* [];
              throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' });
            }
            : async function* () {
              yield content;
            },
        } satisfies SourceEntry;
      }
    },
    async restore() {
      throw new Error('not used in these tests');
    },
  }),
});

export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Polls a condition through the event loop, never a clock. */
export async function until(condition: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 10_000 && !condition(); i++) await new Promise<void>((resolve) => setImmediate(resolve));
  if (!condition()) throw new Error(`${what} never became true`);
}
