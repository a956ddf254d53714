// The MinIO source section of `pnpm bench`: a bucket of CAIRN_BENCH_MINIO_OBJECTS objects
// (default 10,000) of 1 KiB–4 MiB backed up by Cairn's minio source and restored into a new
// bucket, side by side with `rclone copy` from and to the same server; then the second Cairn
// backup of the unchanged bucket, as a fraction of the first. The bucket is created once (from
// deterministic data) and kept for later runs; everything else is removed at the end.
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { aptInstall } from './install.mjs';
import { runMeasured, runPlain } from './measure.mjs';
import { table } from './report.mjs';
import { readServiceEnv } from './services.mjs';

const KiB = 1024;
const MiB = 2 ** 20;
const PASSWORD = 'cairn-bench-password';
/** Bumped when the generated objects change, so an old bucket is not taken for the new data. */
const GENERATION = 1;


/**
 * Object `i` of the bucket: its key (spread over nested prefixes) and size. Sizes run from 1 KiB to
 * 4 MiB, skewed to the small end as real buckets are (size = 1 KiB · 4096^(u³), u uniform): the
 * median is about 3 KiB, the mean about 180 KiB, so 10,000 objects hold about 1.7 GiB. Object 0
 * is exactly 1 KiB and object 1 exactly 4 MiB.
 */
export function benchObject(i) {
  const u = createHash('sha256').update(`cairn-bench-minio-size-${i}`).digest().readUInt32BE(0) / 2 ** 32;
  const size = i === 0 ? KiB : i === 1 ? 4 * MiB : Math.max(KiB, Math.min(4 * MiB, Math.round(KiB * 4096 ** (u ** 3))));
  const key = `d${String(i % 16).padStart(2, '0')}/s${(i >> 4) % 8}/object-${String(i).padStart(6, '0')}.bin`;
  return { key, size };
}

/** Writes object `i`'s deterministic, incompressible bytes (an AES-CTR keystream) to `path`. */
async function writeObject(path, i, size) {
  const key = createHash('sha256').update(`cairn-bench-minio-bytes-${GENERATION}-${i}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const handle = await open(path, 'w');
  try {
    for (let done = 0; done < size; done += MiB) {
      const piece = cipher.update(Buffer.alloc(Math.min(MiB, size - done)));
      await handle.write(piece, 0, piece.length);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Runs the section; returns a JSON-able result ({ ok, error, … figures }) and logs a table. Both
 * restores are verified against the source bucket with `rclone check` (sizes and MD5 sums).
 */
export async function runMinioSourceBench({ repoRoot, workDir, timeoutMs, gnuTime, log }) {
  const count = Number(process.env.CAIRN_BENCH_MINIO_OBJECTS ?? 10_000);
  if (!Number.isInteger(count) || count < 2) throw new Error(`CAIRN_BENCH_MINIO_OBJECTS must be a whole number of at least 2, got ${process.env.CAIRN_BENCH_MINIO_OBJECTS}`);
  const transfers = Number(process.env.CAIRN_BENCH_RCLONE_TRANSFERS ?? 16);

  const up = await runPlain(join(repoRoot, 'scripts/services'), ['up', 'minio']);
  if (up.code !== 0) throw new Error(`scripts/services up failed: ${up.stderr.trim().split('\n').pop()}`);
  const s = readServiceEnv();
  if ((await runPlain('rclone', ['version'])).code !== 0) {
    const installed = await aptInstall(['rclone'], log);
    if (!installed.ok) throw new Error(`rclone is needed for the MinIO comparison: ${installed.message}`);
  }
  const rcloneVersion = (await runPlain('rclone', ['version'])).stdout.split('\n')[0];

  const objects = Array.from({ length: count }, (_, i) => benchObject(i));
  const totalBytes = objects.reduce((n, o) => n + o.size, 0);
  const bucket = `cairn-bench-minio-g${GENERATION}-${count}`;
  const run = Date.now().toString(36);
  const cairnBucket = `cairn-bench-restore-${run}`;
  const rcloneBucket = `cairn-bench-rclone-${run}`;
  const hostPort = s.CAIRN_TEST_S3_ENDPOINT.replace(/^https?:\/\//, '');
  const scheme = s.CAIRN_TEST_S3_ENDPOINT.startsWith('https:') ? 'minio+https' : 'minio+http';
  const dir = join(workDir, 'minio-source');
  const repo = join(dir, 'repo');
  const cli = join(repoRoot, 'packages/cli/bin/cairn.js');
  // The machine's AWS_CA_BUNDLE (a PEM bundle) makes rclone's S3 client fail to start; neither tool needs it here.
  const { AWS_CA_BUNDLE: _unused, ...baseEnv } = process.env;
  const env = {
    ...baseEnv,
    CAIRN_PASSWORD: PASSWORD,
    AWS_ACCESS_KEY_ID: s.CAIRN_TEST_S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: s.CAIRN_TEST_S3_SECRET_KEY, AWS_REGION: s.CAIRN_TEST_S3_REGION,
    RCLONE_CONFIG_MINIO_TYPE: 's3', RCLONE_CONFIG_MINIO_PROVIDER: 'Minio', RCLONE_CONFIG_MINIO_ENV_AUTH: 'false', RCLONE_CONFIG_MINIO_ENDPOINT: s.CAIRN_TEST_S3_ENDPOINT,
    RCLONE_CONFIG_MINIO_ACCESS_KEY_ID: s.CAIRN_TEST_S3_ACCESS_KEY, RCLONE_CONFIG_MINIO_SECRET_ACCESS_KEY: s.CAIRN_TEST_S3_SECRET_KEY,
    RCLONE_CONFIG_MINIO_REGION: s.CAIRN_TEST_S3_REGION,
  };
  const plain = async (what, cmd, args) => {
    const r = await runPlain(cmd, args, { env, cwd: dir });
    if (r.code !== 0) throw new Error(`${what} failed (status ${r.code}): ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    return r;
  };
  const measure = async (label, cmd, args) => {
    await runPlain('sync', []);
    const m = await runMeasured({ cmd, args, env, cwd: dir }, { timeoutMs, gnuTime, timeFile: join(dir, 'time.txt') });
    if (!m.ok) throw new Error(`${label}: ${m.error}: ${m.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    log(`[minio source] ${label}: ${m.seconds.toFixed(2)} s, peak RSS ${(m.peakRssBytes / MiB).toFixed(0)} MiB`);
    return m;
  };
  const cairn = (label, ...args) => measure(label, process.execPath, [cli, ...args]);
  const sameAsSource = async (remote) => (await runPlain('rclone', ['check', `minio:${bucket}`, remote], { env, cwd: dir })).code === 0;

  log(`bench: MinIO source — ${count} objects, ${(totalBytes / MiB).toFixed(0)} MiB; ${rcloneVersion}, rclone --transfers ${transfers}`);
  const result = { ok: true, error: null, objects: count, bytes: totalBytes, bucket, rclone: rcloneVersion, rcloneTransfers: transfers };
  try {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await ensureBucket({ bucket, objects, totalBytes, dir, env, plain, log });

    await cairn('cairn init', 'init', '--repo', repo);
    const first = await cairn('cairn backup', 'backup', `${scheme}://${hostPort}/${bucket}`, '--repo', repo, '--json');
    const firstSummary = JSON.parse(first.stdout).summary;
    const rcloneCopy = await measure('rclone copy (download)', 'rclone', ['copy', `minio:${bucket}`, join(dir, 'rclone-local'), '--transfers', String(transfers), '--checkers', String(transfers)]);
    const second = await cairn('cairn backup (unchanged bucket)', 'backup', `${scheme}://${hostPort}/${bucket}`, '--repo', repo, '--json');
    const secondSummary = JSON.parse(second.stdout).summary;
    const restore = await cairn('cairn restore --to (new bucket)', 'restore', 'latest', '--repo', repo, '--to', `${scheme}://${hostPort}/${cairnBucket}`);
    const rcloneBack = await measure('rclone copy (upload to a new bucket)', 'rclone', ['copy', join(dir, 'rclone-local'), `minio:${rcloneBucket}`, '--transfers', String(transfers), '--checkers', String(transfers)]);
    const cairnVerified = await sameAsSource(`minio:${cairnBucket}`);
    const rcloneVerified = await sameAsSource(`minio:${rcloneBucket}`);

    Object.assign(result, {
      cairnBackupSeconds: first.seconds,
      rcloneCopySeconds: rcloneCopy.seconds,
      backupRatio: first.seconds / rcloneCopy.seconds,
      cairnRestoreSeconds: restore.seconds,
      rcloneRestoreSeconds: rcloneBack.seconds,
      restoreRatio: restore.seconds / rcloneBack.seconds,
      secondBackupSeconds: second.seconds,
      secondBackupFraction: second.seconds / first.seconds,
      firstBackup: { bytesRead: firstSummary.bytesRead, filesNew: firstSummary.filesNew },
      secondBackup: { bytesRead: secondSummary.bytesRead, filesUnchanged: secondSummary.filesUnchanged },
      cairnPeakRssBytes: Math.max(first.peakRssBytes, second.peakRssBytes, restore.peakRssBytes),
      rclonePeakRssBytes: Math.max(rcloneCopy.peakRssBytes, rcloneBack.peakRssBytes),
      cairnVerified,
      rcloneVerified,
    });
    if (firstSummary.filesNew !== count) throw new Error(`the first backup stored ${firstSummary.filesNew} objects, not ${count}`);
    if (secondSummary.bytesRead !== 0) throw new Error(`the second backup of the unchanged bucket read ${secondSummary.bytesRead} bytes`);
    if (!cairnVerified || !rcloneVerified) throw new Error(`a restore did not verify (cairn ${cairnVerified}, rclone ${rcloneVerified})`);
  } catch (error) {
    result.ok = false;
    result.error = error.message;
    log(`[minio source] FAILED — ${error.message}`);
  } finally {
    for (const remove of [cairnBucket, rcloneBucket]) await runPlain('rclone', ['purge', `minio:${remove}`], { env });
    await rm(dir, { recursive: true, force: true });
  }

  const sec = (v) => (Number.isFinite(v) ? v.toFixed(2) : '-');
  const x = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');
  log('');
  log(`MinIO source: ${count} objects, ${(totalBytes / MiB).toFixed(0)} MiB — Cairn vs rclone copy --transfers ${transfers} (seconds; ratio < 1: Cairn faster; aim ≤ 1.00x)`);
  log(table(
    ['step', 'cairn', 'rclone', 'ratio', 'verified'],
    [
      ['backup / download the bucket', sec(result.cairnBackupSeconds), sec(result.rcloneCopySeconds), x(result.backupRatio), '-'],
      ['restore / upload into a new bucket', sec(result.cairnRestoreSeconds), sec(result.rcloneRestoreSeconds), x(result.restoreRatio),
        result.cairnVerified === undefined ? '-' : `${result.cairnVerified ? 'yes' : 'NO'} / ${result.rcloneVerified ? 'yes' : 'NO'}`],
      ['second backup, unchanged bucket', sec(result.secondBackupSeconds), '-', `${Number.isFinite(result.secondBackupFraction) ? (result.secondBackupFraction * 100).toFixed(1) : '-'}% of first`,
        result.secondBackup ? `${result.secondBackup.bytesRead} B read` : '-'],
    ],
  ));
  if (result.cairnPeakRssBytes) log(`peak RSS: cairn ${(result.cairnPeakRssBytes / MiB).toFixed(0)} MiB, rclone ${(result.rclonePeakRssBytes / MiB).toFixed(0)} MiB`);
  if (result.error) log(`MinIO source section FAILED — ${result.error}`);
  return result;
}

/**
 * Makes sure `bucket` holds exactly the bench objects (count and total size, per `rclone size`);
 * otherwise generates them locally, in batches, and uploads them with rclone.
 */
async function ensureBucket({ bucket, objects, totalBytes, dir, env, plain, log }) {
  const size = await runPlain('rclone', ['size', `minio:${bucket}`, '--json'], { env, cwd: dir });
  if (size.code === 0) {
    const found = JSON.parse(size.stdout);
    if (found.count === objects.length && found.bytes === totalBytes) {
      log(`[minio source] reusing bucket ${bucket}`);
      return;
    }
    log(`[minio source] bucket ${bucket} holds ${found.count} objects / ${found.bytes} bytes, not the bench data: making it again`);
    await plain('emptying the bench bucket', 'rclone', ['purge', `minio:${bucket}`]);
  }
  log(`[minio source] generating ${objects.length} objects into bucket ${bucket} (kept for later runs) ...`);
  await plain('creating the bench bucket', 'rclone', ['mkdir', `minio:${bucket}`]);
  const local = join(dir, 'generate');
  const BATCH = 2000;
  for (let start = 0; start < objects.length; start += BATCH) {
    await rm(local, { recursive: true, force: true });
    for (let i = start; i < Math.min(objects.length, start + BATCH); i++) {
      const path = join(local, objects[i].key);
      await mkdir(join(path, '..'), { recursive: true });
      await writeObject(path, i, objects[i].size);
    }
    await plain('uploading the bench objects', 'rclone', ['copy', local, `minio:${bucket}`, '--transfers', '16', '--checkers', '16']);
  }
  await rm(local, { recursive: true, force: true });
}
