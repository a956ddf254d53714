import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCipheriv } from 'node:crypto';
// Imported by path: a package dependency would make a cycle (target-local builds on core, core on repository).
import { localTarget } from '../../../plugins/target-local/src/index.js';
import { afterEach } from 'vitest';
import type { BlobStore, RestoreEntry, SourceEntry } from '../src/index.js';
import { Repository } from '../src/index.js';

export const FAST_KDF = { N: 1024, r: 8, p: 1 };
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-repo-test-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function tempStore(): Promise<{ store: BlobStore; dir: string }> {
  const dir = await tempDir();
  const store = await localTarget({ path: dir }).connect({ signal: new AbortController().signal, logger: console as never });
  return { store, dir };
}

export async function newRepository(password = 'correct horse'): Promise<{ repo: Repository; store: BlobStore; dir: string }> {
  const { store, dir } = await tempStore();
  const repo = await Repository.init(store, { password, kdf: FAST_KDF });
  return { repo, store, dir };
}

/** Deterministic pseudo-random bytes (AES-CTR keystream). */
export function randomData(seed: number, length: number): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

export interface MemoryFile {
  path: string;
  type?: 'file' | 'dir' | 'symlink';
  data?: Buffer;
  mode?: number;
  mtimeMs?: number;
  linkTarget?: string;
  changeKey?: string;
}

/** Turns a list of in-memory nodes into source entries, counting how often content is opened. */
export function entriesOf(files: MemoryFile[], opened: string[] = []): AsyncIterable<SourceEntry> {
  return (async function* () {
    for (const file of files) {
      const type = file.type ?? 'file';
      const entry: SourceEntry = {
        path: file.path,
        type,
        mode: file.mode ?? (type === 'dir' ? 0o755 : 0o644),
        mtimeMs: file.mtimeMs ?? 1_700_000_000_000,
        size: file.data?.length ?? 0,
        changeKey: file.changeKey ?? `key:${file.path}`,
      };
      if (file.linkTarget) entry.linkTarget = file.linkTarget;
      if (type === 'file') {
        entry.open = async function* () {
          opened.push(file.path);
          const data = file.data ?? Buffer.alloc(0);
          for (let at = 0; at < data.length; at += 256 * 1024) yield data.subarray(at, at + 256 * 1024);
        };
      }
      yield entry;
    }
  })();
}

export async function collect(entries: AsyncIterable<RestoreEntry>): Promise<Map<string, { entry: RestoreEntry; data?: Buffer }>> {
  const out = new Map<string, { entry: RestoreEntry; data?: Buffer }>();
  for await (const entry of entries) {
    if (entry.type === 'file') {
      const parts: Buffer[] = [];
      for await (const part of entry.open()) parts.push(Buffer.from(part));
      out.set(entry.path, { entry, data: Buffer.concat(parts) });
    } else {
      out.set(entry.path, { entry });
    }
  }
  return out;
}
