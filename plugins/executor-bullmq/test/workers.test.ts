import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError } from '@cairn/core';
import { requireEnv } from '@cairn/testkit';
import { bullmqJobQueue } from '../src/index.js';
import type { BullmqJobQueue } from '../src/index.js';
import { cairnProcesses } from './cairn-processes.js';
import type { CairnProcesses } from './cairn-processes.js';

/**
 * The key test of the queue: real `cairn worker` processes on the real Redis, a real config and a
 * repository, run from this checkout's sources (cairn-processes.ts). Two workers wait for runs; a run is queued from two `cairn run --detach` at once
 * (one run, not two); the worker that took it is killed with SIGKILL in the middle of its backup;
 * the other one takes the run over once the lock expires and finishes it, and the repository then
 * passes `cairn check --read-data`. Last, an abort from another process (this test, through the
 * queue) stops a run on a worker within seconds.
 *
 * The config's source is the files source with a gate: before its 21st entry it writes
 * `reached-JOB-PID` and waits until the file `go-JOB` exists, so "mid-run" is a known moment
 * whatever the machine's speed, and the marker names the worker that holds the run.
 */

const workspace = fileURLToPath(new URL('../../..', import.meta.url));
const env = { CAIRN_PASSWORD: 'workers-test-password' };

let dir: string;
let prefix: string;
let redisUrl: string;
let queue: BullmqJobQueue;
let cairn: CairnProcesses['start'];
let cairnDone: CairnProcesses['done'];
let until: CairnProcesses['until'];
let processes: CairnProcesses | undefined;

/** The pid of the worker waiting at job's gate, once one is. */
async function holder(job: string): Promise<number | undefined> {
  const marker = (await readdir(dir)).find((name) => name.startsWith(`reached-${job}-`));
  return marker ? Number(marker.slice(`reached-${job}-`.length)) : undefined;
}

beforeAll(async () => {
  ({ CAIRN_TEST_REDIS_URL: redisUrl } = requireEnv('CAIRN_TEST_REDIS_URL'));
  prefix = `cairn-test-${randomUUID().slice(0, 8)}`;
  dir = await mkdtemp(join(tmpdir(), 'cairn-workers-'));
  processes = cairnProcesses(dir, env);
  ({ start: cairn, done: cairnDone, until } = processes);
  // A host app's layout: the config imports @cairn/* from the node_modules next to it.
  await mkdir(join(dir, 'node_modules/@cairn'), { recursive: true });
  for (const [name, path] of [['core', 'packages/core'], ['source-files', 'plugins/source-files'], ['executor-bullmq', 'plugins/executor-bullmq']]) {
    await symlink(join(workspace, path!), join(dir, 'node_modules/@cairn', name!));
  }
  // About 5 MiB of incompressible data in 40 files: the gate sits half-way through.
  await mkdir(join(dir, 'data/sub'), { recursive: true });
  for (let i = 0; i < 40; i++) await writeFile(join(dir, 'data', i % 2 ? 'sub' : '', `file-${String(i).padStart(2, '0')}.bin`), randomBytes(128 * 1024));
  await writeFile(join(dir, 'cairn.config.mjs'), `import { existsSync, writeFileSync } from 'node:fs';
import { defineConfig, throwIfAborted } from '@cairn/core';
import { filesSource } from '@cairn/source-files';
import { bullmqExecutor } from '@cairn/executor-bullmq';

const dir = ${JSON.stringify(dir)};

/** The files source, stopping before its 21st entry until the file go-JOB exists. */
function gated(job) {
  const files = filesSource({ path: dir + '/data' });
  return {
    ...files,
    async *entries(ctx) {
      let n = 0;
      for await (const entry of files.entries(ctx)) {
        if (n++ === 20) {
          writeFileSync(dir + '/reached-' + job + '-' + process.pid, '');
          while (!existsSync(dir + '/go-' + job)) {
            throwIfAborted(ctx.signal);
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
        yield entry;
      }
    },
  };
}

export default defineConfig({
  repositories: { main: { url: dir + '/backups', password: { env: 'CAIRN_PASSWORD' } } },
  jobs: {
    docs: { sources: [gated('docs')], repository: 'main' },
    hold: { sources: [gated('hold')], repository: 'main' },
  },
  // Short locks, so a worker killed with SIGKILL loses its run in seconds.
  executor: bullmqExecutor({ connection: ${JSON.stringify(redisUrl)}, prefix: ${JSON.stringify(prefix)}, queueName: 'workers', lockDurationMs: 3000, stalledIntervalMs: 1000 }),
});
`);
  queue = bullmqJobQueue({ connection: redisUrl, prefix, queueName: 'workers' });
  const init = await cairnDone(['init', '--repo', join(dir, 'backups')]);
  expect(init.code, init.err).toBe(0);
}, 120_000);

afterAll(async () => {
  await processes?.stopAll();
  if (queue) {
    await queue.obliterate();
    await queue.close();
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('cairn worker on BullMQ', () => {
  it('survives a worker killed with SIGKILL mid-run, dedupes across processes, and aborts across processes', async () => {
    const workers = [cairn(['worker']), cairn(['worker'])];
    await until('both workers to start', () => workers.every((w) => w.out.includes('worker running')));

    // Two processes ask for the same run at once: one run.
    const asked = await Promise.all([cairnDone(['run', 'docs', '--detach', '--json']), cairnDone(['run', 'docs', '--detach', '--json'])]);
    for (const result of asked) expect(result.code, result.err).toBe(0);
    const answers = asked.map((result) => JSON.parse(result.out) as { id: string; deduplicated: boolean });
    expect(answers[0]!.id).toBe(answers[1]!.id);
    expect(answers.filter((a) => a.deduplicated)).toHaveLength(1);
    const { id } = answers[0]!;

    // The worker that took it reaches the gate, mid-backup: kill it outright.
    await until('a worker to reach the middle of the run', async () => (await holder('docs')) !== undefined);
    const killedPid = (await holder('docs'))!;
    const killed = workers.find((w) => w.child.pid === killedPid)!;
    const survivor = workers.find((w) => w !== killed)!;
    expect(killed).toBeDefined();
    killed.child.kill('SIGKILL');
    expect((await killed.exited).signal).toBe('SIGKILL');
    expect((await queue.get(id))?.status).toBe('running'); // its lock has not expired yet
    await writeFile(join(dir, 'go-docs'), '');

    // `cairn run docs` now finds the same run still going, follows it, and exits with its outcome.
    const followed = await cairnDone(['run', 'docs']);
    expect(followed.code, followed.err + survivor.out).toBe(0);
    expect(followed.out).toContain(`already queued or running as run ${id.slice(0, 8)}; following it`);
    expect(followed.out).toMatch(/job docs: snapshot [0-9a-f]{8} saved/);
    const snapshotId = followed.out.trim().split('\n').at(-1)!;
    expect(snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(survivor.out).toContain(`run ${id.slice(0, 8)} (job docs): started`);
    expect(survivor.out).toContain(`snapshot ${snapshotId.slice(0, 8)} saved`);
    const ended = await queue.get(id);
    expect(ended).toMatchObject({ status: 'succeeded', request: { job: 'docs' } });
    expect((ended?.result as { snapshot: { id: string } }).snapshot.id).toBe(snapshotId);

    // The killed run left a valid repository; the one snapshot is the survivor's.
    const check = await cairnDone(['check', '--repo', join(dir, 'backups'), '--read-data']);
    expect(check.code, check.err).toBe(0);
    const snapshots = JSON.parse((await cairnDone(['snapshots', '--repo', join(dir, 'backups'), '--json'])).out) as Array<{ id: string }>;
    expect(snapshots.map((s) => s.id)).toEqual([snapshotId]);
    // The history in the shared state folder knows the run by the queue's id.
    const history = await cairnDone(['history', '--json']);
    expect(history.code, history.err).toBe(0);
    expect(history.out).toContain(id);

    // An abort from another process (this one, through the queue) stops a run on the worker.
    const held = await cairnDone(['run', 'hold', '--detach']);
    expect(held.code, held.err).toBe(0);
    const holdId = held.out.trim().split('\n').at(-1)!;
    await until('the survivor to reach the middle of the held run', async () => (await holder('hold')) === survivor.child.pid);
    const asked2 = Date.now();
    await queue.abort(holdId, 'stopped from the test');
    await expect(queue.wait(holdId)).rejects.toBeInstanceOf(AbortedError);
    expect(Date.now() - asked2).toBeLessThan(15_000);
    expect(await queue.get(holdId)).toMatchObject({ status: 'aborted', attempt: 1, error: { code: 'ABORTED' } });
    await until('the worker to report the abort', () => survivor.out.includes(`run ${holdId.slice(0, 8)} (job hold): stopped — ABORTED`), 15_000);
    const checkAgain = await cairnDone(['check', '--repo', join(dir, 'backups')]);
    expect(checkAgain.code, checkAgain.err).toBe(0);

    // SIGTERM: the worker stops cleanly.
    survivor.child.kill('SIGTERM');
    const stopped = await survivor.exited;
    expect(survivor.out.trimEnd().split('\n').at(-1)).toMatch(/worker stopped$/);
    expect(survivor.err).toBe('');
    // A signal is how a worker is stopped: a clean stop exits 0.
    expect(stopped.code).toBe(0);
  }, 240_000);
});
