// The MySQL source section of `pnpm bench`: one table of CAIRN_BENCH_MYSQL_MIB MiB of rows (default
// 200) on the test MariaDB, side by side with MariaDB's own tools:
//  - logical: Cairn's backup vs `mariadb-dump --single-transaction`, Cairn's restore into a new
//    database vs replaying the dump with `mariadb`;
//  - tablespace: Cairn's backup vs `mariadb-backup --backup`, Cairn's restore into a new database
//    vs `mariadb-backup --prepare --export` plus DISCARD/copy/IMPORT TABLESPACE by hand (the only
//    way to put a mariadb-backup table into a running server that others share);
//  - the second backup of the unchanged table in each mode: time as a fraction of the first, and
//    bytes added as a fraction of the table's size.
// Every restore is checked with CHECKSUM TABLE against the source. The dataset database is generated
// once from deterministic rows and kept for later runs; everything else is removed at the end.
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { aptInstall } from './install.mjs';
import { runMeasured, runPlain } from './measure.mjs';
import { table } from './report.mjs';
import { readServiceEnv } from './services.mjs';

const MiB = 2 ** 20;
const PASSWORD = 'cairn-bench-password';
/** Bumped when the generated rows change, so an old database is not taken for the new data. */
const GENERATION = 2;
/** About what one generated row takes in InnoDB. */
const ROW_BYTES = 1024;


/**
 * Runs the section. Resolves `{ ok, error, rows, markdown, …figures }`: `rows` are the table's rows
 * (step, cairn s, reference s, ratio, verified), `markdown` the same as a Markdown table. Never throws
 * for a failed step: `ok` is false and `error` says why.
 */
export async function runMysqlSource({ repoRoot, workDir, timeoutMs, gnuTime, log }) {
  const mib = Number(process.env.CAIRN_BENCH_MYSQL_MIB ?? 200);
  if (!Number.isInteger(mib) || mib < 1) throw new Error(`CAIRN_BENCH_MYSQL_MIB must be a whole number of MiB, got ${process.env.CAIRN_BENCH_MYSQL_MIB}`);
  const rowCount = Math.round((mib * MiB) / ROW_BYTES);
  const up = await runPlain(join(repoRoot, 'scripts/services'), ['up', 'mariadb']);
  if (up.code !== 0) throw new Error(`scripts/services up failed: ${up.stderr.trim().split('\n').pop()}`);
  const s = readServiceEnv();
  if ((await runPlain('mariadb-backup', ['--version'])).code !== 0) {
    const installed = await aptInstall(['mariadb-backup'], log);
    if (!installed.ok) log(`[mysql source] mariadb-backup unavailable (${installed.message}): the tablespace rows show Cairn alone`);
  }
  const backupTool = await runPlain('mariadb-backup', ['--version']);
  const haveBackupTool = backupTool.code === 0;

  const db = `cairn_bench_g${GENERATION}_${mib}mib`;
  const run = Date.now().toString(36);
  const into = {
    logical: `cairn_bench_restore_${run}`,
    dump: `cairn_bench_dump_${run}`,
    tablespace: `cairn_bench_ts_${run}`,
    mariabackup: `cairn_bench_mb_${run}`,
  };
  const dir = join(workDir, 'mysql-source');
  const repo = join(dir, 'repo');
  const backupDir = join(dir, 'mariabackup');
  const cli = join(repoRoot, 'packages/cli/bin/cairn.js');
  const conn = ['-h', s.CAIRN_TEST_MYSQL_HOST, '-P', s.CAIRN_TEST_MYSQL_PORT, '-u', s.CAIRN_TEST_MYSQL_USER];
  // Both sides read the password from MYSQL_PWD: it never appears on a command line.
  const env = { ...process.env, CAIRN_PASSWORD: PASSWORD, MYSQL_PWD: s.CAIRN_TEST_MYSQL_PASSWORD };
  const url = (database, query = '') => `mysql://${s.CAIRN_TEST_MYSQL_USER}@${s.CAIRN_TEST_MYSQL_HOST}:${s.CAIRN_TEST_MYSQL_PORT}/${database}${query}`;
  const sql = async (statement) => {
    const r = await runPlain('mariadb', [...conn, '-N', '-B', '-e', statement], { env, cwd: dir });
    if (r.code !== 0) throw new Error(`mariadb -e failed: ${r.stderr.trim().split('\n').pop()}`);
    return r.stdout.trim();
  };
  const measure = async (label, cmd, args) => {
    await runPlain('sync', []);
    const m = await runMeasured({ cmd, args, env, cwd: dir }, { timeoutMs, gnuTime, timeFile: join(dir, 'time.txt') });
    if (!m.ok) throw new Error(`${label}: ${m.error}: ${m.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    log(`[mysql source] ${label}: ${m.seconds.toFixed(2)} s, peak RSS ${(m.peakRssBytes / MiB).toFixed(0)} MiB`);
    return m;
  };
  const cairn = (label, ...args) => measure(label, process.execPath, [cli, ...args]);
  const summary = (m) => JSON.parse(m.stdout).summary;
  const checksum = (database) => sql(`CHECKSUM TABLE ${database}.items`).then((line) => line.split('\t')[1]);

  log(`bench: MySQL source — one table, ${rowCount} rows, ~${mib} MiB, on MariaDB${haveBackupTool ? `; ${backupTool.stdout.trim() || backupTool.stderr.trim()}` : ''}`);
  const result = { ok: true, error: null, tableRows: rowCount, mib, database: db, rows: [], markdown: '' };
  try {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await ensureDatabase({ db, rowCount, sql, log });
    const source = await checksum(db);
    // The table's file, not information_schema's estimate (stale right after the rows were generated).
    const size = await stat(join(s.CAIRN_TEST_MYSQL_DATADIR, db, 'items.ibd')).then((st) => st.size, () => mib * MiB);
    result.tableBytes = size;

    await cairn('cairn init', 'init', '--repo', repo);
    // Logical.
    const logical = await cairn('cairn backup (logical)', 'backup', url(db), '--repo', repo, '--json');
    const dump = await measure('mariadb-dump --single-transaction', 'mariadb-dump', [...conn, '--single-transaction', '--routines', '--triggers', `--result-file=${join(dir, 'dump.sql')}`, db]);
    const logicalAgain = await cairn('cairn backup (logical, unchanged)', 'backup', url(db), '--repo', repo, '--json');
    const logicalRestore = await cairn('cairn restore --to (logical, new database)', 'restore', JSON.parse(logical.stdout).id, '--repo', repo, '--to', url(into.logical));
    await sql(`CREATE DATABASE ${into.dump}`);
    const replay = await measure('mariadb < dump.sql', 'sh', ['-c', `exec mariadb ${conn.join(' ')} ${into.dump} < ${join(dir, 'dump.sql')}`]);
    await rm(join(dir, 'dump.sql'), { force: true });
    // Tablespace.
    const physical = await cairn('cairn backup (tablespace)', 'backup', url(db, '?mode=tablespace'), '--repo', repo, '--json');
    const physicalAgain = await cairn('cairn backup (tablespace, unchanged)', 'backup', url(db, '?mode=tablespace'), '--repo', repo, '--json');
    const physicalRestore = await cairn('cairn restore --to (tablespace, new database)', 'restore', JSON.parse(physical.stdout).id, '--repo', repo, '--to', url(into.tablespace));
    let mbBackup;
    let mbRestore;
    if (haveBackupTool) {
      // mariadb-backup logs in as root over the socket (the services script's root is socket-only).
      const socket = [`--user=root`, `--socket=${s.CAIRN_TEST_MYSQL_SOCKET}`];
      mbBackup = await measure('mariadb-backup --backup', 'mariadb-backup', ['--backup', `--target-dir=${backupDir}`, ...socket, `--databases=${db}`]);
      const datadir = s.CAIRN_TEST_MYSQL_DATADIR;
      const mb = `mariadb ${conn.join(' ')}`;
      mbRestore = await measure('mariadb-backup --prepare --export + IMPORT TABLESPACE', 'sh', ['-c', [
        'set -e',
        `mariadb-backup --prepare --export --target-dir=${backupDir} 2>${join(dir, 'prepare.log')}`,
        `${mb} -e "CREATE DATABASE ${into.mariabackup}; CREATE TABLE ${into.mariabackup}.items LIKE ${db}.items; ALTER TABLE ${into.mariabackup}.items DISCARD TABLESPACE"`,
        `cp ${backupDir}/${db}/items.ibd ${backupDir}/${db}/items.cfg ${datadir}/${into.mariabackup}/`,
        `chown mysql:mysql ${datadir}/${into.mariabackup}/items.ibd ${datadir}/${into.mariabackup}/items.cfg`,
        `${mb} -e "ALTER TABLE ${into.mariabackup}.items IMPORT TABLESPACE"`,
      ].join('\n')]);
    }
    const verified = {
      logical: (await checksum(into.logical)) === source,
      dump: (await checksum(into.dump)) === source,
      tablespace: (await checksum(into.tablespace)) === source,
      mariabackup: haveBackupTool ? (await checksum(into.mariabackup)) === source : undefined,
    };
    Object.assign(result, {
      logicalSeconds: logical.seconds, dumpSeconds: dump.seconds, logicalRatio: logical.seconds / dump.seconds,
      logicalRestoreSeconds: logicalRestore.seconds, replaySeconds: replay.seconds, logicalRestoreRatio: logicalRestore.seconds / replay.seconds,
      tablespaceSeconds: physical.seconds, mariabackupSeconds: mbBackup?.seconds, tablespaceRatio: mbBackup ? physical.seconds / mbBackup.seconds : undefined,
      tablespaceRestoreSeconds: physicalRestore.seconds, mariabackupRestoreSeconds: mbRestore?.seconds,
      tablespaceRestoreRatio: mbRestore ? physicalRestore.seconds / mbRestore.seconds : undefined,
      logicalUnchanged: { seconds: logicalAgain.seconds, timeFraction: logicalAgain.seconds / logical.seconds, bytesAdded: summary(logicalAgain).bytesAdded, sizeFraction: summary(logicalAgain).bytesAdded / size },
      tablespaceUnchanged: { seconds: physicalAgain.seconds, timeFraction: physicalAgain.seconds / physical.seconds, bytesAdded: summary(physicalAgain).bytesAdded, sizeFraction: summary(physicalAgain).bytesAdded / size },
      firstBytesAdded: { logical: summary(logical).bytesAdded, tablespace: summary(physical).bytesAdded },
      cairnPeakRssBytes: Math.max(logical.peakRssBytes, logicalAgain.peakRssBytes, logicalRestore.peakRssBytes, physical.peakRssBytes, physicalAgain.peakRssBytes, physicalRestore.peakRssBytes),
      verified,
    });
    const failed = Object.entries(verified).filter(([, ok]) => ok === false).map(([name]) => name);
    if (failed.length) throw new Error(`restores that do not equal the source (CHECKSUM TABLE): ${failed.join(', ')}`);
  } catch (error) {
    result.ok = false;
    result.error = error.message;
    log(`[mysql source] FAILED — ${error.message}`);
  } finally {
    await runPlain('mariadb', [...conn, '-e', Object.values(into).map((d) => `DROP DATABASE IF EXISTS ${d};`).join(' ')], { env });
    await rm(dir, { recursive: true, force: true });
  }

  const sec = (v) => (Number.isFinite(v) ? v.toFixed(2) : '-');
  const x = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');
  const yes = (v) => (v === undefined ? '-' : v ? 'yes' : 'NO');
  const pair = (a, b) => (a === undefined && b === undefined ? '-' : `${yes(a)} / ${yes(b)}`);
  const unchanged = (u) => (u ? `${(u.timeFraction * 100).toFixed(1)}% of the first's time; ${u.bytesAdded} B added = ${(u.sizeFraction * 100).toFixed(3)}% of the table` : '-');
  const v = result.verified ?? {};
  const header = ['step', 'cairn (s)', 'reference (s)', 'ratio', 'verified cairn / reference'];
  result.rows = [
    ['logical backup vs mariadb-dump --single-transaction', sec(result.logicalSeconds), sec(result.dumpSeconds), x(result.logicalRatio), '-'],
    ['logical restore into a new database vs mariadb < dump', sec(result.logicalRestoreSeconds), sec(result.replaySeconds), x(result.logicalRestoreRatio), pair(v.logical, v.dump)],
    ['tablespace backup vs mariadb-backup --backup', sec(result.tablespaceSeconds), sec(result.mariabackupSeconds), x(result.tablespaceRatio), '-'],
    ['tablespace restore vs mariadb-backup --prepare --export + IMPORT', sec(result.tablespaceRestoreSeconds), sec(result.mariabackupRestoreSeconds), x(result.tablespaceRestoreRatio), pair(v.tablespace, v.mariabackup)],
    ['second logical backup, unchanged', sec(result.logicalUnchanged?.seconds), '-', '-', unchanged(result.logicalUnchanged)],
    ['second tablespace backup, unchanged', sec(result.tablespaceUnchanged?.seconds), '-', '-', unchanged(result.tablespaceUnchanged)],
  ];
  const title = `MySQL source: ${rowCount} rows, ~${mib} MiB (${result.tableBytes ? `${(result.tableBytes / MiB).toFixed(0)} MiB in its .ibd file` : 'size unknown'}) — Cairn vs MariaDB's tools (ratio < 1: Cairn faster; aim ≤ 1.00x, unchanged < 1%)`;
  result.markdown = [
    `**${title}**`,
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...result.rows.map((r) => `| ${r.join(' | ')} |`),
    ...(result.error ? ['', `FAILED — ${result.error}`] : []),
  ].join('\n');
  log('');
  log(title);
  log(table(header, result.rows));
  if (result.cairnPeakRssBytes) log(`peak RSS: cairn ${(result.cairnPeakRssBytes / MiB).toFixed(0)} MiB`);
  if (result.error) log(`MySQL source section FAILED — ${result.error}`);
  return result;
}

/** The name `bench/run.mjs` imports. */
export const runMysqlSourceBench = runMysqlSource;

/**
 * Makes sure `db`.items holds the bench rows (by count), else generates them: per row an MD5 label,
 * 448 bytes of text that compresses and 512 pseudo-random bytes (SHA-512 of the id) that do not, a
 * DECIMAL and a DATETIME, all derived from the id, so every run and machine has the same data.
 */
async function ensureDatabase({ db, rowCount, sql, log }) {
  const exists = await sql(`SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${db}' AND TABLE_NAME = 'items'`);
  if (exists === '1' && (await sql(`SELECT COUNT(*) FROM ${db}.items`)) === String(rowCount)) {
    log(`[mysql source] reusing database ${db}`);
    return;
  }
  // Databases of older generations hold data no run will use again.
  for (const old of (await sql("SHOW DATABASES LIKE 'cairn\\_bench\\_g%'")).split('\n').filter(Boolean)) {
    if (!old.startsWith(`cairn_bench_g${GENERATION}_`)) await sql(`DROP DATABASE IF EXISTS ${old}`);
  }
  log(`[mysql source] generating ${rowCount} rows into ${db} (kept for later runs) ...`);
  await sql(`DROP DATABASE IF EXISTS ${db}; CREATE DATABASE ${db}; CREATE TABLE ${db}.items (id INT PRIMARY KEY, label CHAR(32), note VARCHAR(500), body VARBINARY(512), amount DECIMAL(12,2), at DATETIME) ENGINE=InnoDB`);
  const random = Array.from({ length: 8 }, (_, k) => `UNHEX(SHA2(CONCAT(seq, '-${k}'), 512))`).join(', ');
  for (let start = 1; start <= rowCount; start += 20_000) {
    const end = Math.min(rowCount, start + 19_999);
    await sql(`INSERT INTO ${db}.items SELECT seq, MD5(seq), REPEAT(MD5(seq * 7), 14), CONCAT(${random}), seq / 100, FROM_UNIXTIME(1700000000 + seq) FROM ${db}.seq_${start}_to_${end}`);
  }
}
