import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * Shared by the acceptance tests: deterministic data written in pieces (never a whole large file
 * in memory), a manifest of a tree that compares everything a restore must give back, and the
 * built `cairn` binary for the tests that need a real process.
 */

export const bin = fileURLToPath(new URL('../bin/cairn.js', import.meta.url));
export const built = existsSync(fileURLToPath(new URL('../dist/main.js', import.meta.url)));

const PIECE = 1024 * 1024;

/** Deterministic pseudo-random bytes: the AES-128-CTR keystream for `seed`, from byte `offset`. */
export function keystream(seed: number): { next(length: number): Buffer } {
  const key = createHash('sha256').update(`cairn-acceptance-${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return { next: (length) => cipher.update(Buffer.alloc(length)) };
}

/** Writes `size` deterministic bytes to `path`, 1 MiB at a time. */
export async function writeRandomFile(path: string, seed: number, size: number, mode = 0o644): Promise<void> {
  const stream = keystream(seed);
  const handle = await open(path, 'w', mode);
  try {
    for (let done = 0; done < size; done += PIECE) {
      const piece = stream.next(Math.min(PIECE, size - done));
      await handle.write(piece, 0, piece.length);
    }
  } finally {
    await handle.close();
  }
}

/** Overwrites `length` bytes at `offset` of an existing file with other deterministic bytes (a mid-file edit). */
export async function overwriteRange(path: string, seed: number, offset: number, length: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const data = keystream(seed).next(length);
    await handle.write(data, 0, length, offset);
  } finally {
    await handle.close();
  }
}

export interface ManifestEntry {
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits; left out for symlinks (always 0777 on Linux). */
  mode?: number;
  size?: number;
  /** Modification time rounded to the millisecond. */
  mtimeMs: number;
  linkTarget?: string;
  sha256?: string;
}

/**
 * Everything under `root` (not `root` itself), keyed by relative path: type, mode, size, mtime to
 * the millisecond, symlink target and the SHA-256 of file content, hashed as a stream. `hashes`
 * remembers content hashes by (device, inode, size, mtime, ctime), so an unchanged large source
 * file is not hashed again for the next version's manifest.
 */
export async function manifest(root: string, hashes?: Map<string, string>): Promise<Record<string, ManifestEntry>> {
  const out: Record<string, ManifestEntry> = {};
  async function walk(abs: string, rel: string): Promise<void> {
    for (const name of (await readdir(abs)).sort()) {
      const path = `${abs}/${name}`;
      const key = rel ? `${rel}/${name}` : name;
      const info = await lstat(path, { bigint: true });
      const mtimeMs = Number((info.mtimeNs + 500_000n) / 1_000_000n);
      if (info.isSymbolicLink()) {
        out[key] = { type: 'symlink', mtimeMs, linkTarget: await readlink(path) };
      } else if (info.isDirectory()) {
        out[key] = { type: 'dir', mode: Number(info.mode & 0o7777n), mtimeMs };
        await walk(path, key);
      } else if (info.isFile()) {
        const identity = `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
        let sha256 = hashes?.get(identity);
        if (sha256 === undefined) {
          sha256 = await sha256File(path);
          hashes?.set(identity, sha256);
        }
        out[key] = { type: 'file', mode: Number(info.mode & 0o7777n), size: Number(info.size), mtimeMs, sha256 };
      } else {
        throw new Error(`unexpected node type at ${path}`);
      }
    }
  }
  await walk(root, '');
  return out;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of createReadStream(path, { highWaterMark: PIECE })) hash.update(piece as Buffer);
  return hash.digest('hex');
}

/** Mulberry32: a small seeded PRNG, so "random" kill moments are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Spawned {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built binary. With `killAfterMs`, sends SIGKILL after that long (if it is still running);
 * with `killWhen`, as soon as that condition (polled every few ms) holds. `uid`/`gid` run it as
 * another user (root only).
 */
export function spawnCairn(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; killAfterMs?: number; killWhen?: () => Promise<boolean>; uid?: number; gid?: number } = {},
): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { PATH: process.env.PATH, ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    let exited = false;
    const timer = options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    const poll = async (): Promise<void> => {
      while (!exited) {
        if (await options.killWhen!()) {
          child.kill('SIGKILL');
          return;
        }
        await new Promise((wake) => setTimeout(wake, 5));
      }
    };
    if (options.killWhen) poll().catch(reject);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      exited = true;
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Exactly one line on stderr, `cairn: …`, and nothing that looks like a stack frame. */
export function oneErrorLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  if (lines.length !== 1 || !lines[0]!.startsWith('cairn: ')) throw new Error(`expected one "cairn: …" line on stderr, got:\n${stderr}`);
  if (stderr.includes('    at ')) throw new Error(`stack trace on stderr:\n${stderr}`);
  return lines[0]!;
}
