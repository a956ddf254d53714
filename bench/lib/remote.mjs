// The remote section of `pnpm bench`: the dataset backed up by Cairn to each test server (SFTP,
// FTP, S3/MinIO) and restored, side by side with `rclone copy` of the same folder to the same
// server and back. The servers come from scripts/services; rclone from Debian.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { aptInstall } from './install.mjs';
import { runMeasured, runPlain } from './measure.mjs';
import { table } from './report.mjs';
import { readServiceEnv } from './services.mjs';
import { describeTree } from './tree.mjs';

const MiB = 2 ** 20;
const PASSWORD = 'cairn-bench-password';


/** Content only (size, path, hash of each regular file): rclone keeps neither modes nor symlinks. */
const contentOf = (tree) => tree.lines.filter((l) => l.startsWith('f ')).map((l) => l.split(' ').slice(2).join(' ')).join('\n');

/** Each remote: Cairn's repository URL, rclone's remote (configured by environment) and how to empty it. */
function remotes(s, run) {
  const s3Host = s.CAIRN_TEST_S3_ENDPOINT.replace(/^https?:\/\//, '');
  return [
    {
      name: 'sftp',
      cairnUrl: `sftp://${s.CAIRN_TEST_SFTP_USER}@${s.CAIRN_TEST_SFTP_HOST}:${s.CAIRN_TEST_SFTP_PORT}${s.CAIRN_TEST_SFTP_HOME}/bench-${run}/cairn?known_hosts=${s.CAIRN_TEST_SFTP_KNOWN_HOSTS}`,
      cairnEnv: { CAIRN_TARGET_PASSWORD: s.CAIRN_TEST_SFTP_PASSWORD },
      rclone: `sftp:${s.CAIRN_TEST_SFTP_HOME}/bench-${run}/rclone`,
      rcloneEnv: (obscured) => ({
        RCLONE_CONFIG_SFTP_TYPE: 'sftp', RCLONE_CONFIG_SFTP_HOST: s.CAIRN_TEST_SFTP_HOST, RCLONE_CONFIG_SFTP_PORT: s.CAIRN_TEST_SFTP_PORT,
        RCLONE_CONFIG_SFTP_USER: s.CAIRN_TEST_SFTP_USER, RCLONE_CONFIG_SFTP_PASS: obscured(s.CAIRN_TEST_SFTP_PASSWORD),
        RCLONE_CONFIG_SFTP_KNOWN_HOSTS_FILE: s.CAIRN_TEST_SFTP_KNOWN_HOSTS,
      }),
      cleanup: `sftp:${s.CAIRN_TEST_SFTP_HOME}/bench-${run}`,
    },
    {
      // Plain FTP for both tools: Debian's rclone (1.60) fails vsftpd's TLS session reuse on data
      // connections ("tls: illegal parameter"), so an FTPS comparison cannot run here.
      name: 'ftp',
      cairnUrl: `ftp://${s.CAIRN_TEST_FTP_USER}@${s.CAIRN_TEST_FTP_HOST}:${s.CAIRN_TEST_FTP_PORT}${s.CAIRN_TEST_FTP_HOME}/bench-${run}/cairn`,
      cairnEnv: { CAIRN_TARGET_PASSWORD: s.CAIRN_TEST_FTP_PASSWORD },
      rclone: `ftp:${s.CAIRN_TEST_FTP_HOME}/bench-${run}/rclone`,
      rcloneEnv: (obscured) => ({
        RCLONE_CONFIG_FTP_TYPE: 'ftp', RCLONE_CONFIG_FTP_HOST: s.CAIRN_TEST_FTP_HOST, RCLONE_CONFIG_FTP_PORT: s.CAIRN_TEST_FTP_PORT,
        RCLONE_CONFIG_FTP_USER: s.CAIRN_TEST_FTP_USER, RCLONE_CONFIG_FTP_PASS: obscured(s.CAIRN_TEST_FTP_PASSWORD),
      }),
      cleanup: `ftp:${s.CAIRN_TEST_FTP_HOME}/bench-${run}`,
    },
    {
      name: 's3',
      cairnUrl: `s3+http://${s3Host}/cairn-bench-${run}/cairn`,
      cairnEnv: { AWS_ACCESS_KEY_ID: s.CAIRN_TEST_S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: s.CAIRN_TEST_S3_SECRET_KEY },
      rclone: `s3:cairn-bench-${run}/rclone`,
      rcloneEnv: () => ({
        RCLONE_CONFIG_S3_TYPE: 's3', RCLONE_CONFIG_S3_PROVIDER: 'Minio', RCLONE_CONFIG_S3_ENDPOINT: s.CAIRN_TEST_S3_ENDPOINT,
        RCLONE_CONFIG_S3_ACCESS_KEY_ID: s.CAIRN_TEST_S3_ACCESS_KEY, RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: s.CAIRN_TEST_S3_SECRET_KEY,
        RCLONE_CONFIG_S3_REGION: s.CAIRN_TEST_S3_REGION,
      }),
      prepare: `s3:cairn-bench-${run}`,
      cleanup: `s3:cairn-bench-${run}`,
    },
  ];
}

/**
 * Runs the remote section; returns { ok, rows } and logs a table. Every restore is verified
 * against the source (Cairn: modes and content; rclone: content, as it keeps no modes).
 */
export async function runRemote({ repoRoot, workDir, source, timeoutMs, gnuTime, log }) {
  const up = await runPlain(join(repoRoot, 'scripts/services'), ['up', 'sshd', 'ftp', 'minio']);
  if (up.code !== 0) throw new Error(`scripts/services up failed: ${up.stderr.trim().split('\n').pop()}`);
  const envFile = join(process.env.CAIRN_SERVICES_DIR ?? '/tmp/cairn-services', 'env');
  const settings = readServiceEnv(envFile);
  if ((await runPlain('rclone', ['version'])).code !== 0) {
    const installed = await aptInstall(['rclone'], log);
    if (!installed.ok) throw new Error(`rclone is needed for the remote comparison: ${installed.message}`);
  }
  const rcloneVersion = (await runPlain('rclone', ['version'])).stdout.split('\n')[0];
  // rclone takes passwords only in its own obscured form.
  const obscured = new Map();
  const obscure = (secret) => obscured.get(secret);
  for (const secret of [settings.CAIRN_TEST_SFTP_PASSWORD, settings.CAIRN_TEST_FTP_PASSWORD]) {
    obscured.set(secret, (await runPlain('rclone', ['obscure', secret])).stdout.trim());
  }

  const cli = join(repoRoot, 'packages/cli/bin/cairn.js');
  const expected = await describeTree(source);
  const run = Date.now().toString(36);
  const dir = join(workDir, 'remote');
  // The machine's AWS_CA_BUNDLE (a PEM bundle) makes rclone's S3 client fail to start; neither tool needs it here.
  const { AWS_CA_BUNDLE: _unused, ...baseEnv } = process.env;
  const rows = [];
  let ok = true;
  log(`bench: remote section — ${rcloneVersion}; dataset ${expected.files} files, ${(expected.bytes / MiB).toFixed(0)} MiB`);

  // CAIRN_BENCH_REMOTES=sftp,s3 measures only those remotes.
  const only = process.env.CAIRN_BENCH_REMOTES?.split(',').map((name) => name.trim()).filter(Boolean);
  for (const remote of remotes(settings, run).filter((r) => !only?.length || only.includes(r.name))) {
    const env = { ...baseEnv, CAIRN_PASSWORD: PASSWORD, ...remote.cairnEnv, ...remote.rcloneEnv(obscure) };
    const measure = async (label, cmd, args) => {
      await runPlain('sync', []);
      const m = await runMeasured({ cmd, args, env, cwd: dir }, { timeoutMs, gnuTime, timeFile: join(dir, 'time.txt') });
      if (!m.ok) throw new Error(`${label}: ${m.error}: ${m.stderr.trim().split('\n').slice(-2).join(' | ')}`);
      log(`[remote ${remote.name}] ${label}: ${m.seconds.toFixed(2)} s, peak RSS ${(m.peakRssBytes / MiB).toFixed(0)} MiB`);
      return m;
    };
    const restoredMatches = async (root, compare) => {
      const got = await describeTree(root);
      return compare === 'content' ? contentOf(got) === contentOf(expected) : got.digest === expected.digest;
    };
    const row = { target: remote.name };
    try {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      if (remote.prepare) await measure('create bucket', 'rclone', ['mkdir', remote.prepare]);
      await measure('cairn init', process.execPath, [cli, 'init', '--repo', remote.cairnUrl]);
      row.cairnBackup = await measure('cairn backup', process.execPath, [cli, 'backup', source, '--repo', remote.cairnUrl]);
      row.cairnRestore = await measure('cairn restore', process.execPath, [cli, 'restore', 'latest', '--repo', remote.cairnUrl, '--target', join(dir, 'cairn')]);
      row.cairnVerified = await restoredMatches(join(dir, 'cairn', 'dataset-run'), 'exact');
      row.rcloneCopy = await measure('rclone copy', 'rclone', ['copy', source, remote.rclone]);
      row.rcloneBack = await measure('rclone copy back', 'rclone', ['copy', remote.rclone, join(dir, 'rclone')]);
      row.rcloneVerified = await restoredMatches(join(dir, 'rclone'), 'content');
      if (!row.cairnVerified || !row.rcloneVerified) throw new Error(`restore did not verify (cairn ${row.cairnVerified}, rclone ${row.rcloneVerified})`);
    } catch (error) {
      ok = false;
      row.error = error.message;
      log(`[remote ${remote.name}] FAILED — ${error.message}`);
    } finally {
      await runPlain('rclone', ['purge', remote.cleanup], { env });
      await rm(dir, { recursive: true, force: true });
    }
    rows.push(row);
  }

  const s = (m) => (m ? m.seconds.toFixed(2) : '-');
  const r = (a, b) => (a && b ? `${(a.seconds / b.seconds).toFixed(2)}x` : '-');
  const rss = (m) => (m ? (m.peakRssBytes / MiB).toFixed(0) : '-');
  log('');
  log('Remote targets: Cairn backup/restore vs rclone copy of the same folder (seconds; ratio < 1: Cairn faster; aim ≤ 1.00x)');
  log(table(
    ['target', 'cairn backup', 'rclone copy', 'ratio', 'cairn restore', 'rclone back', 'ratio', 'cairn RSS MiB', 'verified'],
    rows.map((x) => [x.target, s(x.cairnBackup), s(x.rcloneCopy), r(x.cairnBackup, x.rcloneCopy), s(x.cairnRestore), s(x.rcloneBack), r(x.cairnRestore, x.rcloneBack),
      rss(x.cairnBackup), x.error ? `FAILED: ${x.error}` : 'yes']),
  ));
  return {
    ok,
    rclone: rcloneVersion,
    rows: rows.map((x) => ({
      target: x.target, error: x.error ?? null,
      cairnBackupSeconds: x.cairnBackup?.seconds ?? null, rcloneCopySeconds: x.rcloneCopy?.seconds ?? null,
      cairnRestoreSeconds: x.cairnRestore?.seconds ?? null, rcloneBackSeconds: x.rcloneBack?.seconds ?? null,
      cairnPeakRssBytes: Math.max(x.cairnBackup?.peakRssBytes ?? 0, x.cairnRestore?.peakRssBytes ?? 0) || null,
    })),
  };
}
