// Runs one command and measures its wall time, CPU time and peak memory.
// Peak RSS comes from two sources, and the larger wins:
//  - GNU time's %M: the kernel's ru_maxrss for the command, exact for the largest single process
//    of the tree (threads included), but it cannot add up several processes alive at once;
//  - a /proc sampler (every 50 ms) that sums VmRSS over the whole process tree, which catches
//    a tool that forks helpers, at the cost of missing peaks shorter than the interval.
import { spawn } from 'node:child_process';
import { readFile, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export const GNU_TIME = '/usr/bin/time';
const SAMPLE_MS = 50;
const STDOUT_KEEP = 4 << 20;
const STDERR_KEEP = 64 << 10;

// Commands run in their own process group (so a timeout kills the whole tree); that also keeps
// them out of reach of the terminal's Ctrl-C, so the harness forwards it through this set.
const running = new Set();
export function killRunning(signal = 'SIGKILL') {
  for (const pid of running) {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Keeps the last `limit` bytes of a stream, so a chatty tool cannot fill the harness's memory. */
function tailCollector(limit) {
  let chunks = [];
  let size = 0;
  return {
    push(chunk) {
      chunks.push(chunk);
      size += chunk.length;
      while (size - chunks[0].length >= limit) size -= chunks.shift().length;
    },
    text() {
      const all = Buffer.concat(chunks);
      return all.subarray(Math.max(0, all.length - limit)).toString('utf8');
    },
  };
}

async function childrenOf(pid) {
  const out = [];
  let tasks;
  try {
    tasks = await readdir(`/proc/${pid}/task`);
  } catch {
    return out; // gone already
  }
  for (const tid of tasks) {
    try {
      const text = await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8');
      for (const c of text.split(' ')) if (c.trim()) out.push(Number(c));
    } catch {
      // the thread or process ended between readdir and read
    }
  }
  return out;
}

async function rssKiB(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Sum of VmRSS (bytes) over the descendants of `rootPid`, plus `rootPid` itself if `includeRoot`. */
async function treeRss(rootPid, includeRoot) {
  let total = includeRoot ? await rssKiB(rootPid) : 0;
  const queue = await childrenOf(rootPid);
  while (queue.length) {
    const pid = queue.shift();
    total += await rssKiB(pid);
    queue.push(...(await childrenOf(pid)));
  }
  return total * 1024;
}

/**
 * Runs `spec` ({ cmd, args, env, cwd }) to completion.
 * Resolves (never rejects for a failing command) with
 * { ok, code, signal, timedOut, seconds, userSeconds, systemSeconds, peakRssBytes, rssSource, stdout, stderr, error }.
 */
export async function runMeasured(spec, { timeoutMs, gnuTime, timeFile }) {
  const argv = gnuTime
    ? [GNU_TIME, ['-f', '%M %U %S', '-o', timeFile, spec.cmd, ...spec.args]]
    : [spec.cmd, spec.args];
  const stdout = tailCollector(STDOUT_KEEP);
  const stderr = tailCollector(STDERR_KEEP);
  if (gnuTime) await rm(timeFile, { force: true });

  const started = performance.now();
  // detached: the command gets its own process group, so a timeout can kill all of it.
  const child = spawn(argv[0], argv[1], {
    cwd: spec.cwd,
    env: spec.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  if (child.pid) running.add(child.pid);
  child.stdout.on('data', (c) => stdout.push(c));
  child.stderr.on('data', (c) => stderr.push(c));

  let done = false;
  let sampledPeak = 0;
  const sampler = (async () => {
    if (!existsSync('/proc/self/status')) return;
    while (!done) {
      // Under GNU time the root is `time` itself: leave its own ~2 MiB out.
      const rss = await treeRss(child.pid, !gnuTime);
      if (rss > sampledPeak) sampledPeak = rss;
      await sleep(SAMPLE_MS);
    }
  })();

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, timeoutMs);

  const { code, signal, spawnError } = await new Promise((resolve) => {
    child.on('error', (error) => resolve({ code: null, signal: null, spawnError: error }));
    child.on('close', (code, signal) => resolve({ code, signal, spawnError: null }));
  });
  const seconds = (performance.now() - started) / 1000;
  clearTimeout(timer);
  running.delete(child.pid);
  done = true;
  await sampler;

  let maxrss = 0;
  let userSeconds = null;
  let systemSeconds = null;
  if (gnuTime) {
    try {
      // GNU time writes "Command exited with non-zero status N" before the format line on failure.
      const lines = (await readFile(timeFile, 'utf8')).trim().split('\n');
      const [m, u, s] = lines[lines.length - 1].trim().split(/\s+/).map(Number);
      if (Number.isFinite(m)) maxrss = m * 1024;
      if (Number.isFinite(u)) userSeconds = u;
      if (Number.isFinite(s)) systemSeconds = s;
    } catch {
      // no time report (spawn failed): the sampler's figure stands
    }
  }
  const peakRssBytes = Math.max(maxrss, sampledPeak);
  const rssSource = maxrss >= sampledPeak ? 'ru_maxrss' : '/proc tree sum';

  let error = null;
  if (spawnError) error = `could not start ${argv[0]}: ${spawnError.message}`;
  else if (timedOut) error = `timed out after ${timeoutMs / 1000} s and was killed (CAIRN_BENCH_TIMEOUT)`;
  else if (signal) error = `killed by signal ${signal}`;
  else if (code !== 0) error = `exited with status ${code}`;

  return {
    ok: error === null,
    code,
    signal,
    timedOut,
    seconds,
    userSeconds,
    systemSeconds,
    peakRssBytes,
    rssSource,
    stdout: stdout.text(),
    stderr: stderr.text(),
    error,
  };
}

/** Runs a short helper command (sync, cp, apt-get, --version), unmeasured; resolves { code, stdout, stderr }. */
export function runPlain(cmd, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    const out = tailCollector(1 << 20);
    const err = tailCollector(64 << 10);
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.on('error', (error) => resolve({ code: -1, stdout: '', stderr: error.message }));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: out.text(), stderr: err.text() }));
  });
}
