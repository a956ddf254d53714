import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireEnv } from '@cairn/testkit';
import { bullmqJobQueue } from '../src/index.js';
import type { BullmqJobQueue } from '../src/index.js';
import { cairnProcesses } from './cairn-processes.js';
import type { CairnProcesses } from './cairn-processes.js';

/**
 * The operations issue's acceptance, with real processes on the real Redis: two `cairn worker`
 * processes and one `cairn schedule run` share one queue. Twenty runs over three repositories all
 * end, each exactly once, while the scheduler fires its own job; `cairn abort` from another process
 * stops a run on a worker. Then the schedule: every slot runs once while the scheduler, the workers,
 * or all of them are restarted (SIGKILL included); a pause stops it; resuming with `missed: 'skip'`
 * does not replay the slots it missed. (The schedule fires every 2 seconds rather than every
 * minute: the rule, once per slot, is the same, and the test takes seconds, not hours.)
 */

const workspace = fileURLToPath(new URL('../../..', import.meta.url));
const env = { CAIRN_PASSWORD: 'acceptance-password' };
const JOBS = 20;
const REPOSITORIES = ['alpha', 'beta', 'gamma'];

let dir: string;
let prefix: string;
let queue: BullmqJobQueue;
let cairn: CairnProcesses;

beforeAll(async () => {
  const { CAIRN_TEST_REDIS_URL: redisUrl } = requireEnv('CAIRN_TEST_REDIS_URL');
  prefix = `cairn-test-${randomUUID().slice(0, 8)}`;
  dir = await mkdtemp(join(tmpdir(), 'cairn-acceptance-'));
  cairn = cairnProcesses(dir, env);
  await mkdir(join(dir, 'node_modules/@cairn'), { recursive: true });
  for (const [name, path] of [['core', 'packages/core'], ['source-files', 'plugins/source-files'], ['executor-bullmq', 'plugins/executor-bullmq']]) {
    await symlink(join(workspace, path!), join(dir, 'node_modules/@cairn', name!));
  }
  for (let i = 0; i < JOBS; i++) {
    await mkdir(join(dir, 'data', `job-${i}`), { recursive: true });
    await writeFile(join(dir, 'data', `job-${i}`, 'note.txt'), `job ${i}\n`.repeat(100));
  }
  await writeFile(join(dir, 'cairn.config.mjs'), `import { existsSync } from 'node:fs';
import { defineConfig, throwIfAborted } from '@cairn/core';
import { filesSource } from '@cairn/source-files';
import { bullmqExecutor } from '@cairn/executor-bullmq';

const dir = ${JSON.stringify(dir)};
const repositories = ${JSON.stringify(REPOSITORIES)};
const password = { env: 'CAIRN_PASSWORD' };

/** A source that holds its run until the file go-hold exists, so a run is surely in progress when it is aborted. */
function held() {
  const files = filesSource({ path: dir + '/data/job-0' });
  return {
    ...files,
    name: 'held',
    async *entries(ctx) {
      while (!existsSync(dir + '/go-hold')) {
        throwIfAborted(ctx.signal);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      yield* files.entries(ctx);
    },
  };
}

const jobs = {};
for (let i = 0; i < ${JOBS}; i++) {
  jobs['job-' + i] = { sources: [filesSource({ path: dir + '/data/job-' + i })], repository: repositories[i % 3] };
}
jobs.hold = { sources: [held()], repository: 'alpha' };
jobs.tick = { sources: [filesSource({ path: dir + '/data/job-0' })], repository: 'gamma', schedule: { cron: '*/2 * * * * *', missed: 'skip' } };

export default defineConfig({
  repositories: Object.fromEntries(repositories.map((name) => [name, { url: dir + '/' + name, password }])),
  jobs,
  executor: bullmqExecutor({ connection: ${JSON.stringify(redisUrl)}, prefix: ${JSON.stringify(prefix)}, queueName: 'acceptance', lockDurationMs: 3000, stalledIntervalMs: 1000 }),
});
`);
  queue = bullmqJobQueue({ connection: redisUrl, prefix, queueName: 'acceptance' });
  for (const name of REPOSITORIES) {
    const init = await cairn.done(['init', '--repo', join(dir, name)]);
    expect(init.code, init.err).toBe(0);
  }
}, 120_000);

afterAll(async () => {
  await cairn?.stopAll();
  if (queue) {
    await queue.obliterate();
    await queue.close();
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The snapshots of a repository, with their tags. */
async function snapshots(repository: string): Promise<Array<{ id: string; tags: string[]; time: string }>> {
  const listed = await cairn.done(['snapshots', '--repo', join(dir, repository), '--json']);
  expect(listed.code, listed.err).toBe(0);
  return JSON.parse(listed.out) as Array<{ id: string; tags: string[]; time: string }>;
}

/** Run ids of the schedule's slots that ran to a snapshot (the queue's succeeded runs of job tick). */
async function tickRuns(): Promise<string[]> {
  return (await queue.list({ status: 'succeeded', limit: 10_000 })).filter((run) => run.request.job === 'tick').map((run) => run.id);
}

/** How many times each worker line says a run started, by run id. */
function starts(workers: Array<{ out: string }>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const worker of workers) {
    for (const match of worker.out.matchAll(/run (\S+) \(job [^)]*\): started/g)) counts.set(match[1]!, (counts.get(match[1]!) ?? 0) + 1);
  }
  return counts;
}

describe('two workers and a scheduler on one Redis', () => {
  it('run 20 queued jobs over 3 repositories once each, and an abort from another process stops a run on a worker', async () => {
    const workers = [cairn.start(['worker']), cairn.start(['worker'])];
    const scheduler = cairn.start(['schedule', 'run']);
    await cairn.until('the workers and the scheduler to start', () => workers.every((w) => w.out.includes('worker running')) && scheduler.out.includes('scheduler running'));
    expect(scheduler.out).toContain('queueing runs on the bullmq queue for workers');

    // Queued the way a host app or the API does: straight into the queue, each job once; asking twice changes nothing.
    const asked = await Promise.all(Array.from({ length: JOBS }, (_, i) => queue.enqueue({ job: `job-${i}`, requestedBy: 'test:acceptance' })));
    const again = await Promise.all(Array.from({ length: JOBS }, (_, i) => queue.enqueue({ job: `job-${i}`, requestedBy: 'test:again' })));
    const ids = asked.map((a) => a.id);
    expect(new Set(ids).size).toBe(JOBS);
    for (const [i, a] of again.entries()) {
      // Still queued or running: the same run; already ended: a new one (counted below).
      if (a.deduplicated) expect(a.id).toBe(ids[i]);
      else ids.push(a.id);
    }

    // Meanwhile a held run is aborted from another process: `cairn abort` goes through the queue to the worker.
    const held = await cairn.done(['run', 'hold', '--detach']);
    expect(held.code, held.err).toBe(0);
    const holdId = held.out.trim().split('\n').at(-1)!;
    await cairn.until('a worker to start the held run', async () => (await queue.get(holdId))?.status === 'running');
    const aborted = await cairn.done(['abort', holdId.slice(0, 8)]);
    expect(aborted.code, aborted.err).toBe(0);
    expect(aborted.out).toContain(`run ${holdId.slice(0, 8)} (job hold): aborted`);
    expect(await queue.get(holdId)).toMatchObject({ status: 'aborted', error: { code: 'ABORTED' } });

    for (const id of ids) {
      const result = await queue.wait(id);
      expect(result).toMatchObject({ snapshot: { id: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    }
    // Each run started once, on one worker; the work was shared.
    const started = starts(workers);
    for (const id of ids) expect(started.get(id.slice(0, 8)), `run ${id}`).toBe(1);
    expect(workers.every((w) => /: started/.test(w.out))).toBe(true);
    // Every job has exactly its runs' snapshots, in its own repository; the three repositories are valid.
    const byJob = new Map<string, number>();
    for (const [r, name] of REPOSITORIES.entries()) {
      for (const snapshot of await snapshots(name)) {
        const job = snapshot.tags.find((tag) => tag.startsWith('job:'))!.slice(4);
        if (job === 'tick' || job === 'hold') continue;
        expect(Number(job.slice(4)) % 3, `${job} in ${name}`).toBe(r);
        byJob.set(job, (byJob.get(job) ?? 0) + 1);
      }
      const check = await cairn.done(['check', '--repo', join(dir, name)]);
      expect(check.code, check.err).toBe(0);
    }
    const runsPerJob = new Map<string, number>();
    for (const id of ids) {
      const job = (await queue.get(id))!.request.job;
      runsPerJob.set(job, (runsPerJob.get(job) ?? 0) + 1);
    }
    expect(byJob).toEqual(runsPerJob);
    expect(byJob.size).toBe(JOBS);
    // The run's log came back through the queue: readable from a machine whose history never saw the run.
    const logs = await cairn.done(['logs', ids[0]!.slice(0, 8), '--config', 'cairn.config.mjs'], { CAIRN_STATE_DIR: join(dir, 'elsewhere') });
    expect(logs.code, logs.err).toBe(0);
    expect(logs.out).toContain(`run ${ids[0]!.slice(0, 8)}: job job-0, succeeded, queued `);
    expect(logs.out).toContain('(from the queue)');
    expect(logs.out).toMatch(/INFO +job job-0 starting/);
    // The scheduler's own slots went to the workers too.
    await cairn.until('a scheduled run to end on a worker', async () => (await tickRuns()).length > 0);

    for (const proc of [...workers, scheduler]) proc.child.kill('SIGTERM');
    for (const proc of [...workers, scheduler]) expect((await proc.exited).code, proc.err).toBe(0);
  }, 300_000);

  it('fire each slot once across restarts of every process, stop for a pause and skip what was missed on resume', async () => {
    const tickSnapshots = async () => (await snapshots('gamma')).filter((s) => s.tags.includes('job:tick')).length;
    let workers = [cairn.start(['worker']), cairn.start(['worker'])];
    let scheduler = cairn.start(['schedule', 'run']);
    const firstRuns = (await tickRuns()).length;
    await cairn.until('three more slots', async () => (await tickRuns()).length >= firstRuns + 3);

    // Restart everything, the scheduler killed outright: no slot runs twice, and slots keep coming.
    scheduler.child.kill('SIGKILL');
    for (const worker of workers) worker.child.kill('SIGTERM');
    await Promise.all([scheduler, ...workers].map((p) => p.exited));
    workers = [cairn.start(['worker']), cairn.start(['worker'])];
    scheduler = cairn.start(['schedule', 'run']);
    const beforeRestartRuns = (await tickRuns()).length;
    await cairn.until('three slots after the restart', async () => (await tickRuns()).length >= beforeRestartRuns + 3);
    // Two schedulers at once (a second machine, or a restart overlapping the old process): still once per slot.
    const second = cairn.start(['schedule', 'run'], { CAIRN_STATE_DIR: join(dir, 'other-state') });
    const withSecond = (await tickRuns()).length;
    await cairn.until('three slots with two schedulers', async () => (await tickRuns()).length >= withSecond + 3);
    second.child.kill('SIGTERM');
    await second.exited;

    // Pause: nothing fires. The scheduler looks at the state at least every 30 s; the slot it may have armed before the pause is allowed.
    const paused = await cairn.done(['pause', 'tick']);
    expect(paused.code, paused.err).toBe(0);
    await cairn.until('the scheduler to stop firing', async () => {
      const before = (await tickRuns()).length;
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      return (await tickRuns()).length === before;
    }, 45_000);
    const atPause = new Set(await tickRuns());
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(new Set(await tickRuns())).toEqual(atPause);

    // Resume with `missed: 'skip'`: the slots missed while paused are not replayed; new ones run.
    const resumedAt = Date.now();
    const resumed = await cairn.done(['resume', 'tick']);
    expect(resumed.code, resumed.err).toBe(0);
    await cairn.until('slots after the resume', async () => (await tickRuns()).length >= atPause.size + 2, 45_000);
    const slotTimes = (await tickRuns()).filter((id) => !atPause.has(id)).map((id) => Date.parse(id.slice('schedule.tick.'.length)));
    // Every slot that ran since the pause took effect came after the resume: none missed while paused was replayed.
    expect(slotTimes.length).toBeGreaterThanOrEqual(2);
    for (const time of slotTimes) expect(time).toBeGreaterThan(resumedAt - 1_000);

    // Every slot's run started once across all workers ever started, and made one snapshot.
    const all = await tickRuns();
    expect(new Set(all).size).toBe(all.length);
    for (const id of all) expect(id).toMatch(/^schedule\.tick\.\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z$/);
    await cairn.until('the last runs to end', async () => (await queue.list({ status: ['queued', 'running', 'waiting'] })).length === 0);
    expect(await tickSnapshots()).toBe((await tickRuns()).length);
    for (const proc of [...workers, scheduler]) proc.child.kill('SIGTERM');
    await Promise.all([...workers, scheduler].map((p) => p.exited));
    expect(await readdir(dir)).toContain('gamma');
  }, 300_000);
});
