import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import {
  Scheduler, createCairn, defineConfig, historyRecorder, jobRunHandler, memoryHistory, memoryJobQueue, parseSchedule, silentLogger, sqliteScheduleState,
} from '@cairn/core';
import type { QueueWorker } from '@cairn/core';
import { createCairnApi, signToken } from '@cairn/server';
import { filesSource } from '@cairn/source-files';
import { localTarget } from '@cairn/target-local';

/*
 * A real Cairn behind a real @cairn/server for the dashboard's end-to-end test: a local repository
 * in a temp dir, a files source over a temp folder, the in-process queue run by core's
 * jobRunHandler, and a Scheduler on SQLite schedule state, on 127.0.0.1:0 with the dashboard.
 */

const SECRET = 'dashboard-e2e-secret-of-32-chars!';
const PASSWORD = 'dashboard-e2e-password';
const JOB = 'documents';
const SOURCE = 'docs';

export interface CairnTestServer {
  url: string;
  /** An admin token (server's signToken). */
  token: string;
  jobName: string;
  sourceDir: string;
  fileCount: number;
  /** A file two folders down, relative to the snapshot root, and its size. */
  nestedFile: string;
  nestedFileSize: number;
  /** The server's restore folder (`restoreDir` of the API). */
  restoreFolder: string;
  /** A new folder to restore into, relative to restoreFolder (what the form takes). */
  restoreDir: string;
  /** Where the restore of the source's folder lands inside restoreDir. */
  restoredSourceDir(): string;
  /** Modifies, adds and removes a file of the source; expectedChanges then lists them with the dashboard's words. */
  changeSource(): Promise<void>;
  expectedChanges: Array<{ path: string; label: string }>;
  /** Triggers a backup through the API and waits for it to end; returns its run id. */
  backupNow(): Promise<string>;
  schedulePaused(name: string): Promise<boolean>;
  close(): Promise<void>;
}

export async function startCairnServer(options: { dashboardDir: string }): Promise<CairnTestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-dashboard-e2e-'));
  const sourceDir = join(dir, 'data', SOURCE);
  const files: Record<string, Buffer> = {
    'readme.txt': Buffer.from('Cairn dashboard end-to-end test\n'),
    'reports/2025/q1.csv': Buffer.from('month,amount\njan,1\nfeb,2\nmar,3\n'),
    'reports/2025/q2.csv': Buffer.from('month,amount\napr,4\nmay,5\njun,6\n'),
    'reports/summary.md': Buffer.from('# Summary\n'),
    'photos/large.bin': randomBytes(8 * 1024 * 1024),
    'photos/small.bin': randomBytes(70_000),
    'empty.txt': Buffer.alloc(0),
  };
  for (let i = 0; i < 40; i += 1) files[`notes/note-${String(i).padStart(2, '0')}.txt`] = Buffer.from(`note ${i}\n`.repeat(i + 1));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(sourceDir, path, '..'), { recursive: true });
    await writeFile(join(sourceDir, path), content);
  }
  const repoPath = join(dir, 'repo');
  const restoreFolder = join(dir, 'restores');
  const restoreDir = 'restored';
  const env = { CAIRN_E2E_PASSWORD: PASSWORD };
  const cairn = createCairn({ targets: [localTarget], sources: [filesSource], logger: silentLogger, env });
  await cairn.init({ repository: { target: repoPath, password: PASSWORD }, kdf: { N: 1024, r: 8, p: 1 } });
  const history = memoryHistory();
  cairn.use(historyRecorder(history, { flushIntervalMs: 10 }));
  const config = defineConfig({
    repositories: { main: { url: repoPath, password: { env: 'CAIRN_E2E_PASSWORD' } } },
    jobs: {
      [JOB]: { type: 'user_data', description: 'The team\'s documents', sources: [filesSource({ path: sourceDir, name: SOURCE })], repository: 'main', schedule: 'daily' },
      weekly: { type: 'storage', description: 'Weekly copy', sources: [filesSource({ path: join(sourceDir, 'reports'), name: 'reports' })], repository: 'main', schedule: { cron: '0 4 * * 1', timezone: 'UTC' } },
    },
  });
  const queue = memoryJobQueue();
  const worker: QueueWorker = await queue.process(jobRunHandler({ cairn, config, env }));
  const state = sqliteScheduleState({ path: join(dir, 'state', 'schedules.db') });
  const schedules = Object.fromEntries(Object.entries(config.jobs).filter(([, job]) => job.schedule).map(([name, job]) => [name, parseSchedule(job.schedule!, name)]));
  const scheduler = new Scheduler({
    schedules, state, logger: silentLogger,
    async trigger(name, slot) {
      await queue.enqueue({ job: name, requestedBy: `schedule:${name}` }, { runId: `schedule.${name}.${slot.toISOString()}` });
    },
  });
  await scheduler.start();
  const api = createCairnApi({
    cairn, config, queue, history, scheduler, env, logger: silentLogger, auth: { secret: SECRET },
    rateLimit: { triggersPerMinute: 1000 }, dashboardDir: options.dashboardDir, restoreDir: restoreFolder,
  });
  const server = createServer(api.handler);
  const url = await listen(server);
  const token = await signToken(SECRET, { sub: 'ann', roles: ['admin'] });

  const call = async (path: string, init: RequestInit = {}): Promise<unknown> => {
    const response = await fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    const body: unknown = await response.json();
    if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${JSON.stringify(body)}`);
    return body;
  };

  return {
    url, token, jobName: JOB, sourceDir, fileCount: Object.keys(files).length,
    nestedFile: `${SOURCE}/reports/2025/q2.csv`, nestedFileSize: files['reports/2025/q2.csv']!.length,
    restoreFolder, restoreDir,
    restoredSourceDir: () => join(restoreFolder, restoreDir, SOURCE),
    async changeSource() {
      await writeFile(join(sourceDir, 'readme.txt'), 'Changed by the test\n');
      await writeFile(join(sourceDir, 'reports', 'q3.csv'), 'month,amount\njul,7\n');
      await rm(join(sourceDir, 'empty.txt'));
    },
    expectedChanges: [
      { path: `${SOURCE}/readme.txt`, label: 'changed' },
      { path: `${SOURCE}/reports/q3.csv`, label: 'added' },
      { path: `${SOURCE}/empty.txt`, label: 'removed' },
    ],
    async backupNow() {
      const { runId } = await call('/api/trigger-backup', { method: 'POST', body: JSON.stringify({ job: JOB, description: 'second' }) }) as { runId: string };
      for (let i = 0; i < 1200; i += 1) {
        const { run } = await call(`/api/runs/${encodeURIComponent(runId)}`) as { run: { status: string } };
        if (run.status === 'succeeded') return runId;
        if (['failed', 'aborted', 'removed'].includes(run.status)) throw new Error(`the backup ended ${run.status}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error('the backup did not end within a minute');
    },
    async schedulePaused(name) {
      return (await state.get(name)).paused;
    },
    async close() {
      await api.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      scheduler.stop();
      await worker.close({ abortRunning: true });
      await queue.close();
      await cairn.close();
      await history.close();
      state.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Every file under `root` by relative path, with a hash of its bytes: two equal maps mean equal trees. */
export async function readTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[relative(root, path)] = createHash('sha256').update(await readFile(path)).digest('hex');
  }
  return out;
}
