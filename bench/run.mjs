#!/usr/bin/env node
// `pnpm bench`: backs up, changes, backs up, restores and checks the generated dataset with Cairn
// and, side by side, with restic and borg; prints per-step tables with Cairn/restic ratios and
// the issue's targets, and writes results.json. See bench/README.md.
// Exit status: 0 when every step of every tool that could run succeeded (targets missed or not —
// this is a report), 1 when a step failed or a restore did not verify, 2 on bad settings.
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ensureDataset, freshCopy, mutate } from './lib/dataset.mjs';
import { aptInstall } from './lib/install.mjs';
import { GNU_TIME, killRunning, runMeasured, runPlain } from './lib/measure.mjs';
import { runApiBench } from './lib/api.mjs';
import { runMinioSourceBench } from './lib/minio-source.mjs';
import { runMysqlSourceBench } from './lib/mysql-source.mjs';
import { runRemote } from './lib/remote.mjs';
import { computeRatios, evaluateTargets, renderReport } from './lib/report.mjs';
import { TOOL_NAMES, makeTool } from './lib/tools.mjs';
import { compareTrees, describeTree, readAll, treeBytes } from './lib/tree.mjs';

const MiB = 2 ** 20;
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const log = (line) => console.log(line);

function usageError(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}

function readSettings() {
  const env = process.env;
  const scale = Number(env.CAIRN_BENCH_SCALE ?? '1');
  if (!Number.isFinite(scale) || scale <= 0 || scale > 100) usageError(`CAIRN_BENCH_SCALE must be a number in (0, 100], got "${env.CAIRN_BENCH_SCALE}"`);
  const tools = (env.CAIRN_BENCH_TOOLS ?? TOOL_NAMES.join(',')).split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const unknown = tools.filter((t) => !TOOL_NAMES.includes(t));
  if (unknown.length || tools.length === 0) usageError(`CAIRN_BENCH_TOOLS must list some of ${TOOL_NAMES.join(',')}, got "${env.CAIRN_BENCH_TOOLS}"`);
  const timeoutSeconds = Number(env.CAIRN_BENCH_TIMEOUT ?? '3600');
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) usageError(`CAIRN_BENCH_TIMEOUT must be seconds > 0, got "${env.CAIRN_BENCH_TIMEOUT}"`);
  const generator = resolve(env.CAIRN_BENCH_GENERATOR ?? join(repoRoot, '../shared/bench/gen-dataset.mjs'));
  if (!existsSync(generator)) usageError(`dataset generator not found at ${generator}; set CAIRN_BENCH_GENERATOR to gen-dataset.mjs`);
  const workDir = resolve(env.CAIRN_BENCH_DIR ?? join(repoRoot, 'bench/.work'));
  const remote = (env.CAIRN_BENCH_REMOTE ?? '1') !== '0';
  const sources = (env.CAIRN_BENCH_SOURCES ?? 'minio,mysql').split(',').map((s) => s.trim()).filter(Boolean);
  const unknownSources = sources.filter((s) => s !== 'minio' && s !== 'mysql' && s !== '0');
  if (unknownSources.length) usageError(`CAIRN_BENCH_SOURCES must list some of minio,mysql (or be 0), got "${env.CAIRN_BENCH_SOURCES}"`);
  const api = (env.CAIRN_BENCH_API ?? '1') !== '0';
  return { scale, tools: [...new Set(tools)], timeoutMs: timeoutSeconds * 1000, generator, workDir, remote, api, sources: sources.filter((s) => s !== '0') };
}

/** Finds where a tool put the restored tree: restic and borg recreate the source's absolute path. */
async function findRestoredRoot(target, source, topNames) {
  const want = [...topNames].sort().join('/');
  for (const candidate of [target, join(target, source), join(target, basename(source))]) {
    if (!existsSync(candidate)) continue;
    const names = (await readdir(candidate)).sort().join('/');
    if (names === want) return candidate;
  }
  const found = existsSync(target) ? (await readdir(target)).slice(0, 10).join(', ') : 'nothing';
  throw new Error(`no restored tree matching the source under ${target} (found: ${found || 'an empty directory'})`);
}

const sync = () => runPlain('sync', []);

async function runTool(tool, { settings, dataset, gnuTime }) {
  const toolDir = join(settings.workDir, tool.name);
  const source = join(settings.workDir, 'dataset-run');
  const result = { ...tool.meta, ok: true, steps: {}, repoBytes: {}, notes: [] };
  const ctx = { toolDir, repo: join(toolDir, 'repo'), source, target: join(toolDir, 'restore'), backupNumber: 0 };
  const env = { ...process.env, ...tool.env(ctx) };
  const tag = `[${tool.name}]`;
  let timeFiles = 0;

  const fail = (step, error, measured) => {
    result.ok = false;
    result.failedStep = step;
    result.error = error;
    if (measured) result.stderrTail = measured.stderr.slice(-2000);
    log(`${tag} ${step}: FAILED — ${error}`);
    if (measured?.stderr.trim()) log(measured.stderr.trim().split('\n').slice(-10).map((l) => `${tag}   ${l}`).join('\n'));
    return result;
  };

  /** Runs one measured step; returns the record, or null after recording a failure. */
  const step = async (key, spec, basisBytes) => {
    await sync(); // the previous step's dirty pages must not be written back on this step's clock
    const m = await runMeasured({ cwd: toolDir, ...spec, env }, {
      timeoutMs: settings.timeoutMs,
      gnuTime,
      timeFile: join(toolDir, `time-${++timeFiles}.txt`),
    });
    const record = {
      ok: m.ok,
      command: [spec.cmd, ...spec.args].join(' '),
      seconds: m.seconds,
      userSeconds: m.userSeconds,
      systemSeconds: m.systemSeconds,
      peakRssBytes: m.peakRssBytes,
      rssSource: m.rssSource,
      basisBytes,
      mibPerSec: basisBytes ? basisBytes / MiB / m.seconds : null,
      repoBytes: existsSync(ctx.repo) ? await treeBytes(ctx.repo) : 0,
    };
    result.steps[key] = record;
    if (!m.ok) {
      record.error = m.error;
      fail(key, `\`${record.command}\` ${m.error}`, m);
      return null;
    }
    record.stdout = m.stdout;
    const speed = record.mibPerSec === null ? '' : `, ${record.mibPerSec.toFixed(1)} MiB/s`;
    log(`${tag} ${key}: ${m.seconds.toFixed(2)} s${speed}, peak RSS ${(m.peakRssBytes / MiB).toFixed(1)} MiB, repo ${(record.repoBytes / MiB).toFixed(1)} MiB`);
    return record;
  };

  const backup = async (key) => {
    ctx.backupNumber++;
    const basis = key === 'backup-incremental' ? result.mutatedBytes : dataset.bytes;
    const r = await step(key, tool.backup(ctx), basis);
    if (!r) return null;
    const parsed = tool.parseBackup(r.stdout);
    if (parsed) {
      r.snapshotId = parsed.id;
      r.summary = parsed.summary;
    } else {
      result.notes.push(`${key}: no snapshot JSON found on stdout`);
      log(`${tag} ${key}: note — no snapshot JSON found on stdout`);
    }
    return r;
  };

  try {
    await rm(toolDir, { recursive: true, force: true });
    await mkdir(toolDir, { recursive: true });
    log(`${tag} copying the dataset to ${source} and reading it once (warm cache) ...`);
    await freshCopy(dataset.dir, source);
    await readAll(source);

    if (!(await step('init', tool.init(ctx), null))) return result;
    if (!(await backup('backup-first'))) return result;
    result.repoBytes.afterFirst = result.steps['backup-first'].repoBytes;
    if (!(await backup('backup-unchanged'))) return result;
    result.repoBytes.afterUnchanged = result.steps['backup-unchanged'].repoBytes;

    await mutate(settings.generator, source);
    const expected = await describeTree(source); // also leaves the mutated tree in the page cache
    result.mutatedBytes = expected.bytes;
    result.mutatedFiles = expected.files;
    if (!(await backup('backup-incremental'))) return result;
    result.repoBytes.afterIncremental = result.steps['backup-incremental'].repoBytes;
    result.addedByIncremental = result.repoBytes.afterIncremental - result.repoBytes.afterUnchanged;

    await rm(ctx.target, { recursive: true, force: true });
    await mkdir(ctx.target);
    if (!(await step('restore', tool.restore(ctx), expected.bytes))) return result;
    let restored;
    try {
      const root = await findRestoredRoot(ctx.target, source, await readdir(source));
      restored = await describeTree(root);
    } catch (error) {
      result.restoreVerify = { ok: false, differences: [error.message] };
      return fail('restore', `restore did not verify: ${error.message}`);
    }
    const cmp = compareTrees(expected, restored);
    result.restoreVerify = { ok: cmp.equal, files: restored.files, bytes: restored.bytes, digest: restored.digest, expectedDigest: expected.digest, differences: cmp.differences, mtimeMismatches: cmp.mtimeMismatches };
    if (!cmp.equal) {
      result.steps.restore.ok = false;
      return fail('restore', `restored tree differs from the source (${restored.files}/${expected.files} files): ${cmp.differences.slice(0, 3).join('; ')}`);
    }
    log(`${tag} restore verified: ${restored.files} files, ${(restored.bytes / MiB).toFixed(1)} MiB, digest ${restored.digest.slice(0, 16)}${cmp.mtimeMismatches ? ` (${cmp.mtimeMismatches} file mtimes differ)` : ''}`);
    await rm(ctx.target, { recursive: true, force: true });

    const repoNow = await treeBytes(ctx.repo);
    if (!(await step('check', tool.check(ctx), repoNow))) return result;
    result.repoBytes.afterCheck = result.steps.check.repoBytes;
    return result;
  } catch (error) {
    return fail('harness', error.message);
  }
}

function stripForJson(results) {
  return results.map((t) => ({
    ...t,
    steps: Object.fromEntries(Object.entries(t.steps ?? {}).map(([k, s]) => {
      const { stdout: _stdout, ...rest } = s;
      return [k, rest];
    })),
  }));
}

async function main() {
  const settings = readSettings();
  const started = performance.now();
  await mkdir(settings.workDir, { recursive: true });
  log(`bench: work dir ${settings.workDir}, scale ${settings.scale}, tools ${settings.tools.join(',')}`);
  const loadBefore = loadavg()[0];
  // Other work on the machine skews every timing; say so instead of printing unreliable ratios silently.
  if (loadBefore > 0.5) log(`bench: warning — the machine is busy (1-minute load ${loadBefore.toFixed(2)} on ${cpus().length} CPUs): timings will be noisy`);

  let gnuTime = existsSync(GNU_TIME);
  if (!gnuTime) {
    const r = await aptInstall(['time'], log);
    gnuTime = existsSync(GNU_TIME);
    if (!gnuTime) log(`bench: GNU time unavailable (${r.message}); peak RSS comes from the /proc sampler alone`);
  }

  const tools = [];
  const results = [];
  const wanted = settings.tools.map((name) => makeTool(name, { repoRoot }));
  const probes = await Promise.all(wanted.map((t) => t.probe()));
  const toInstall = wanted.filter((t, i) => !probes[i].ok && t.aptPackage).map((t) => t.aptPackage);
  if (toInstall.length) {
    const r = await aptInstall(toInstall, log);
    if (!r.ok) log(`bench: ${r.message}; continuing without ${toInstall.join(', ')}`);
  }
  for (const tool of wanted) {
    const probe = await tool.probe();
    tool.meta = { name: tool.name, available: probe.ok, version: probe.version ?? null, settings: tool.settings() };
    if (probe.ok) tools.push(tool);
    else {
      results.push({ ...tool.meta, ok: tool.name !== 'cairn', reason: probe.reason, steps: {} });
      log(`bench: ${tool.name} not run — ${probe.reason}`);
    }
  }

  const dataset = await ensureDataset({ workDir: settings.workDir, scale: settings.scale, generator: settings.generator, log });
  for (const tool of tools) {
    log(`bench: ${tool.name} ${tool.meta.version}`);
    results.push(await runTool(tool, { settings, dataset, gnuTime }));
  }
  results.sort((a, b) => TOOL_NAMES.indexOf(a.name) - TOOL_NAMES.indexOf(b.name));

  let remote = null;
  if (settings.remote) {
    const source = join(settings.workDir, 'dataset-run');
    await freshCopy(dataset.dir, source);
    await readAll(source);
    remote = await runRemote({ repoRoot, workDir: settings.workDir, source, timeoutMs: settings.timeoutMs, gnuTime, log })
      .catch((error) => ({ ok: false, error: error.message, rows: [] }));
    if (remote.error) log(`bench: remote section FAILED — ${remote.error}`);
  }
  let api = null;
  if (settings.api) {
    const source = join(settings.workDir, 'dataset-run');
    await freshCopy(dataset.dir, source);
    await readAll(source);
    log('');
    api = await runApiBench({ repoRoot, workDir: settings.workDir, source, timeoutMs: settings.timeoutMs, log })
      .catch((error) => ({ ok: false, error: error.message }));
    if (api.ok === false) log(`bench: API section FAILED — ${api.error}`);
  }
  await rm(join(settings.workDir, 'dataset-run'), { recursive: true, force: true });

  // Application sources against their servers, each beside the reference tool for that data.
  const sourceRuns = { minio: runMinioSourceBench, mysql: runMysqlSourceBench };
  const applicationSources = {};
  for (const name of settings.sources) {
    log('');
    applicationSources[name] = await sourceRuns[name]({ repoRoot, workDir: settings.workDir, timeoutMs: settings.timeoutMs, gnuTime, log })
      .catch((error) => ({ ok: false, error: error.message }));
    if (applicationSources[name].ok === false) log(`bench: ${name} source section FAILED — ${applicationSources[name].error}`);
  }

  const mutatedFrom = results.find((t) => t.mutatedBytes);
  const meta = {
    scale: settings.scale,
    dataset: { files: dataset.files, dirs: dataset.dirs, bytes: dataset.bytes },
    mutated: mutatedFrom ? { files: mutatedFrom.mutatedFiles, bytes: mutatedFrom.mutatedBytes } : null,
    host: { cpus: cpus().length, cpuModel: cpus()[0]?.model?.trim() ?? 'unknown', memBytes: totalmem(), node: process.version, loadBefore, loadAfter: loadavg()[0] },
    cache: 'warm: page cache not dropped; each tool reads the whole dataset once before its first backup',
    rss: gnuTime ? 'max(GNU time %M, /proc tree VmRSS sum sampled every 50 ms)' : '/proc tree VmRSS sum sampled every 50 ms',
    repoSize: 'sum of the sizes of the files in the repository directory',
  };
  const ratios = computeRatios(results);
  const targets = evaluateTargets(results);
  log('');
  log(renderReport({ results, ratios, targets, meta }));

  const totalSeconds = (performance.now() - started) / 1000;
  const failed = results.filter((t) => !t.ok);
  const json = { startedAt: new Date(Date.now() - totalSeconds * 1000).toISOString(), totalSeconds, ...meta, tools: stripForJson(results), ratios, targets, remote, api, applicationSources,
    ok: failed.length === 0 && remote?.ok !== false && api?.ok !== false && Object.values(applicationSources).every((r) => r.ok !== false) };
  const out = join(settings.workDir, 'results.json');
  await writeFile(out, JSON.stringify(json, null, 2) + '\n');
  log('');
  log(`bench: results written to ${out}; total ${totalSeconds.toFixed(0)} s (dataset generation ${dataset.generatedSeconds.toFixed(0)} s)`);
  if (failed.length) {
    log(`bench: FAILED — ${failed.map((t) => `${t.name} (${t.failedStep ? `${t.failedStep}: ${t.error}` : t.reason})`).join('; ')}`);
    process.exitCode = 1;
  }
  if (remote?.ok === false || api?.ok === false || Object.values(applicationSources).some((r) => r.ok === false)) process.exitCode = 1;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killRunning();
    console.error(`bench: interrupted by ${signal}`);
    process.exit(130);
  });
}

main().catch((error) => {
  killRunning();
  console.error(`bench: ${error.message}`);
  process.exit(1);
});
