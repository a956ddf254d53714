// Tree walking for the harness: a content digest to verify restores, byte totals for throughput
// and repository size, and a cache warm-up read.
import { createHash } from 'node:crypto';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Yields [relativePath, Dirent] for everything under root, depth first, names in byte order. */
async function* walk(root, rel = '') {
  const entries = await readdir(join(root, rel), { withFileTypes: true });
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  for (const entry of entries) {
    const path = rel ? `${rel}/${entry.name}` : entry.name;
    yield [path, entry];
    if (entry.isDirectory()) yield* walk(root, path);
  }
}

const BUF = Buffer.alloc(1 << 20);

async function hashFile(path) {
  const hash = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    for (;;) {
      const { bytesRead } = await fh.read(BUF, 0, BUF.length, null);
      if (bytesRead === 0) break;
      hash.update(BUF.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

/**
 * Describes a tree as one line per entry (type, permission bits, size, path, sha256 or link
 * target) and digests those lines. Mtimes are left out of the digest — tools differ in whether
 * they restore directory mtimes — and counted separately by `compareTrees`.
 */
export async function describeTree(root) {
  const lines = [];
  const mtimes = new Map();
  let files = 0;
  let dirs = 0;
  let symlinks = 0;
  let bytes = 0;
  for await (const [rel, entry] of walk(root)) {
    const abs = join(root, rel);
    const st = await lstat(abs);
    const mode = (st.mode & 0o7777).toString(8);
    if (entry.isFile()) {
      files++;
      bytes += st.size;
      mtimes.set(rel, Math.floor(st.mtimeMs / 1000));
      lines.push(`f ${mode} ${st.size} ${rel} ${await hashFile(abs)}`);
    } else if (entry.isDirectory()) {
      dirs++;
      lines.push(`d ${mode} ${rel}`);
    } else if (entry.isSymbolicLink()) {
      symlinks++;
      lines.push(`l ${rel} -> ${await readlink(abs)}`);
    } else {
      lines.push(`? ${rel}`);
    }
  }
  const digest = createHash('sha256').update(lines.join('\n')).digest('hex');
  return { files, dirs, symlinks, bytes, digest, lines, mtimes };
}

/** Compares two descriptions; returns { equal, differences: string[] (first few), mtimeMismatches }. */
export function compareTrees(expected, actual) {
  const differences = [];
  if (expected.digest !== actual.digest) {
    const want = new Set(expected.lines);
    const have = new Set(actual.lines);
    for (const l of expected.lines) if (!have.has(l) && differences.length < 5) differences.push(`missing or different: ${l}`);
    for (const l of actual.lines) if (!want.has(l) && differences.length < 10) differences.push(`unexpected: ${l}`);
    if (differences.length === 0) differences.push('entry order differs');
  }
  let mtimeMismatches = 0;
  for (const [rel, t] of expected.mtimes) if (actual.mtimes.get(rel) !== t) mtimeMismatches++;
  return { equal: expected.digest === actual.digest, differences, mtimeMismatches };
}

/** Sum of the sizes of the regular files under root (what a store holds, without directory blocks). */
export async function treeBytes(root) {
  let total = 0;
  for await (const [rel, entry] of walk(root)) if (entry.isFile()) total += (await lstat(join(root, rel))).size;
  return total;
}

/** Reads every file once so that each tool's first backup starts from the same warm page cache. */
export async function readAll(root) {
  let total = 0;
  for await (const [rel, entry] of walk(root)) {
    if (!entry.isFile()) continue;
    const fh = await open(join(root, rel), 'r');
    try {
      for (;;) {
        const { bytesRead } = await fh.read(BUF, 0, BUF.length, null);
        if (bytesRead === 0) break;
        total += bytesRead;
      }
    } finally {
      await fh.close();
    }
  }
  return total;
}
