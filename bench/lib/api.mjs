// The HTTP API section of `pnpm bench`: `cairn serve` with a config whose one job backs up the
// bench dataset, then
//  - the job triggered over the API with nothing else going on (the baseline),
//  - status queries per second (autocannon, GET /api/runs/ID with a valid token, 10 connections)
//    against the idle server,
//  - the same job into a fresh repository while autocannon keeps querying the run's status for as
//    long as the backup lasts: the queries per second the server kept up, their latency, and the
//    backup's slowdown against the baseline.
// Both backups write into new repositories, so they do the same work.
import { spawn } from 'node:child_process';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { runPlain } from './measure.mjs';
import { table } from './report.mjs';

const PASSWORD = 'cairn-bench-password';
const SECRET = 'cairn-bench-api-secret-of-at-least-32-bytes';
const CONNECTIONS = 10;
const IDLE_SECONDS = 5;

/**
 * Runs the section over the dataset at `source`. Resolves `{ ok, error, rows, markdown, …figures }`;
 * never throws for a failed step: `ok` is false and `error` says why.
 */
export async function runApiBench({ repoRoot, workDir, source, timeoutMs, log }) {
  const dir = join(workDir, 'api');
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'node_modules/@cairn'), { recursive: true });
  // The config imports @cairn/* as a host app's would: from node_modules beside it (this checkout's builds).
  for (const [name, path] of [['core', 'packages/core'], ['source-files', 'plugins/source-files']]) {
    await symlink(join(repoRoot, path), join(dir, 'node_modules/@cairn', name));
  }
  const repositories = { quiet: join(dir, 'quiet'), loaded: join(dir, 'loaded') };
  await writeFile(join(dir, 'cairn.config.mjs'), `import { defineConfig } from '@cairn/core';
import { filesSource } from '@cairn/source-files';
const password = { env: 'CAIRN_PASSWORD' };
const sources = [filesSource({ path: ${JSON.stringify(source)}, name: 'dataset' })];
export default defineConfig({
  repositories: { quiet: { url: ${JSON.stringify(repositories.quiet)}, password }, loaded: { url: ${JSON.stringify(repositories.loaded)}, password } },
  jobs: { quiet: { sources, repository: 'quiet' }, loaded: { sources, repository: 'loaded' } },
});
`);
  const cli = join(repoRoot, 'packages/cli/bin/cairn.js');
  const env = { ...process.env, CAIRN_PASSWORD: PASSWORD, CAIRN_API_SECRET: SECRET };
  for (const repo of Object.values(repositories)) {
    const init = await runPlain(process.execPath, [cli, 'init', '--repo', repo], { env });
    if (init.code !== 0) return { ok: false, error: `cairn init failed: ${init.stderr.trim()}` };
  }
  const server = await startServer(process.execPath, [cli, 'serve', '--port', '0', '--config', join(dir, 'cairn.config.mjs')], { cwd: dir, env }, timeoutMs);
  try {
    const auth = { authorization: `Bearer ${server.token}` };
    log('[api] baseline: the job triggered over the API, nothing else running');
    const quiet = await backupOverApi(server.url, auth, 'quiet', timeoutMs);
    log(`[api] baseline backup ${quiet.seconds.toFixed(2)} s`);

    log(`[api] idle server: ${IDLE_SECONDS} s of status queries, ${CONNECTIONS} connections`);
    const idle = await hammer(`${server.url}api/runs/${quiet.runId}`, auth, { duration: IDLE_SECONDS });

    log('[api] the same backup into a fresh repository while status queries run for its whole duration');
    const trigger = await triggerJob(server.url, auth, 'loaded');
    const load = startHammer(`${server.url}api/runs/${trigger.runId}`, auth);
    const loaded = await waitForRun(server.url, auth, trigger, timeoutMs);
    load.instance.stop();
    const underLoad = summarise(await load.done);
    const slowdown = loaded.seconds / quiet.seconds;
    const rows = [
      ['status queries/s, idle server', idle.rps.toFixed(0), `p50 ${idle.p50} ms, p99 ${idle.p99} ms`, idle.errors ? `${idle.errors} errors` : 'all 200'],
      ['status queries/s, during the backup', underLoad.rps.toFixed(0), `p50 ${underLoad.p50} ms, p99 ${underLoad.p99} ms`, underLoad.errors ? `${underLoad.errors} errors` : 'all 200'],
      ['backup, no queries', `${quiet.seconds.toFixed(2)} s`, '', ''],
      ['backup, under the queries', `${loaded.seconds.toFixed(2)} s`, `${slowdown.toFixed(2)}x the baseline`, ''],
    ];
    const markdown = table(['API section', 'figure', 'detail', 'responses'], rows);
    log(markdown);
    return { ok: idle.errors === 0 && underLoad.errors === 0, ...(idle.errors || underLoad.errors ? { error: 'some status queries failed' } : {}), rows, markdown, idle, underLoad, backupSeconds: { quiet: quiet.seconds, loaded: loaded.seconds }, slowdown };
  } catch (error) {
    return { ok: false, error: error.message };
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Starts `cairn serve` and resolves once it printed its url and token lines. */
async function startServer(cmd, args, options, timeoutMs) {
  const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (text) => { out += text; });
  child.stderr.setEncoding('utf8').on('data', (text) => { err += text; });
  const exited = new Promise((resolve) => child.on('close', resolve));
  const deadline = Date.now() + Math.min(timeoutMs, 60_000);
  while (!/^token: /m.test(out)) {
    if (child.exitCode !== null) throw new Error(`cairn serve exited ${child.exitCode}: ${err.trim() || out.trim()}`);
    if (Date.now() > deadline) throw new Error(`cairn serve printed no token within a minute: ${err.trim()}`);
    await sleep(50);
  }
  return {
    url: /^url: (\S+)$/m.exec(out)[1],
    token: /^token: (\S+)$/m.exec(out)[1],
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function triggerJob(url, auth, job) {
  const response = await fetch(`${url}api/trigger-backup`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ job }) });
  if (response.status !== 202) throw new Error(`POST /api/trigger-backup answered ${response.status}: ${await response.text()}`);
  const { runId } = await response.json();
  return { runId, started: performance.now() };
}

/** Polls the run (twice a second) until it ends; the time is from the trigger to the end. */
async function waitForRun(url, auth, { runId, started }, timeoutMs) {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
    const { run } = await (await fetch(`${url}api/runs/${runId}`, { headers: auth })).json();
    if (run.status === 'succeeded') return { runId, seconds: (performance.now() - started) / 1000 };
    if (['failed', 'aborted'].includes(run.status)) throw new Error(`run ${runId} ${run.status}: ${run.error?.message ?? ''}`);
    await sleep(500);
  }
  throw new Error(`run ${runId} did not end within ${timeoutMs / 1000} s`);
}

async function backupOverApi(url, auth, job, timeoutMs) {
  return waitForRun(url, auth, await triggerJob(url, auth, job), timeoutMs);
}

function startHammer(url, headers, options = {}) {
  let instance;
  const done = new Promise((resolve, reject) => {
    instance = autocannon({ url, headers, connections: CONNECTIONS, duration: options.duration ?? 3600 }, (error, result) => (error ? reject(error) : resolve(result)));
  });
  return { instance, done };
}

async function hammer(url, headers, options) {
  return summarise(await startHammer(url, headers, options).done);
}

function summarise(result) {
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}
