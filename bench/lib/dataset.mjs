// The benchmark dataset: generated once per (scale, generator version) and cached, then copied
// afresh for each tool so that every tool backs up, mutates and restores the same bytes.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runPlain } from './measure.mjs';
import { describeTree } from './tree.mjs';

async function sha256File(path) {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

async function run(cmd, args, what) {
  const r = await runPlain(cmd, args);
  if (r.code !== 0) throw new Error(`${what} failed (status ${r.code}): ${r.stderr.trim().split('\n').pop() ?? ''}`);
  return r;
}

/**
 * Makes sure `workDir/dataset` holds the dataset for `scale`; regenerates it only when it is
 * missing or was made with another scale or generator. Returns { dir, files, bytes, dirs, generatedSeconds }.
 */
export async function ensureDataset({ workDir, scale, generator, log }) {
  const dir = join(workDir, 'dataset');
  const markerPath = join(workDir, 'dataset.json');
  const genHash = await sha256File(generator);
  if (existsSync(markerPath) && existsSync(dir)) {
    const marker = JSON.parse(await readFile(markerPath, 'utf8'));
    if (marker.scale === scale && marker.generator === genHash) {
      log(`dataset: reusing ${dir} (scale ${scale}, ${marker.files} files, ${(marker.bytes / 2 ** 20).toFixed(0)} MiB)`);
      return { dir, files: marker.files, dirs: marker.dirs, bytes: marker.bytes, generatedSeconds: 0 };
    }
  }
  // The marker goes first and comes back last: an interrupted generation is never reused.
  await rm(markerPath, { force: true });
  log(`dataset: generating scale ${scale} into ${dir} ...`);
  const t0 = performance.now();
  await run(process.execPath, [generator, dir, String(scale)], 'dataset generation');
  const generatedSeconds = (performance.now() - t0) / 1000;
  const tree = await describeTree(dir);
  const marker = { scale, generator: genHash, files: tree.files, dirs: tree.dirs, bytes: tree.bytes };
  await writeFile(markerPath, JSON.stringify(marker, null, 2) + '\n');
  log(`dataset: ${tree.files} files, ${(tree.bytes / 2 ** 20).toFixed(0)} MiB in ${generatedSeconds.toFixed(1)} s`);
  return { dir, files: tree.files, dirs: tree.dirs, bytes: tree.bytes, generatedSeconds };
}

/** Replaces `dst` with a copy of `src` that keeps modes and mtimes. */
export async function freshCopy(src, dst) {
  await rm(dst, { recursive: true, force: true });
  await run('cp', ['-a', src, dst], `cp -a ${src} ${dst}`);
}

/** Applies the generator's deterministic ~2% change (edits, deletions, new files, append, mid-file insert). */
export async function mutate(generator, dir) {
  await run(process.execPath, [generator, '--mutate', dir], 'dataset mutation');
}
