import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Scheduler, createCairn, defineConfig, defineSource, historyRecorder, jobRunHandler, memoryHistory, memoryJobQueue, memoryScheduleState, parseSchedule, silentLogger,
} from '@cairn/core';
import type { Cairn, CairnConfig, HistoryStore, JobQueue, QueueWorker } from '@cairn/core';
import { throwIfAborted } from '@cairn/core';
import type { SourceInstance } from '@cairn/core';
import { filesSource } from '@cairn/source-files';
import { z } from 'zod';
import { localTarget } from '@cairn/target-local';
import { createCairnApi, signToken } from '../src/index.js';
import type { CairnApi, CairnApiOptions, Role } from '../src/index.js';

export const SECRET = 'a-test-secret-of-32-characters!!';
export const kdf = { N: 1024, r: 8, p: 1 };
const password = 'server-test-password';

export interface Stack {
  dir: string;
  data: string;
  repoPath: string;
  /** The API's restore folder (`api.restoreDir`), inside `dir`. */
  restoreDir: string;
  cairn: Cairn;
  config: CairnConfig;
  history: HistoryStore;
  queue: JobQueue;
  api: CairnApi;
  url: string;
  token(roles: Role[], sub?: string): Promise<string>;
  /** fetch with a bearer token of `roles` (admin by default). */
  call(path: string, init?: RequestInit & { roles?: Role[]; token?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

export interface StackOptions {
  /** Replaces the in-process queue (the worker is then the caller's). */
  queue?: JobQueue;
  process?: boolean;
  api?: Partial<CairnApiOptions>;
  files?: Record<string, string>;
  /** Mounts the handler some other way; returns the base URL. */
  mount?: (api: CairnApi) => Promise<{ url: string; close(): Promise<void> }>;
}

/** A real core on a local repository in a temp dir, an in-process queue run by jobRunHandler, and the API on 127.0.0.1:0. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-server-'));
  const data = join(dir, 'data');
  await mkdir(join(data, 'docs', 'deep'), { recursive: true });
  const files = options.files ?? { 'a.txt': 'alpha\n', 'docs/b.md': '# bravo\n', 'docs/deep/c.bin': 'c'.repeat(5000) };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(data, path, '..'), { recursive: true });
    await writeFile(join(data, path), content);
  }
  const repoPath = join(dir, 'repo');
  const env = { REPO_PASSWORD: password };
  const cairn = createCairn({ targets: [localTarget], sources: [filesSource, liveSource], logger: silentLogger, env });
  await cairn.init({ repository: { target: repoPath, password }, kdf });
  const history = memoryHistory();
  cairn.use(historyRecorder(history, { flushIntervalMs: 10 }));
  const config = defineConfig({
    repositories: { main: { url: repoPath, password: { env: 'REPO_PASSWORD' } } },
    jobs: {
      docs: { type: 'user_data', description: 'the sample files', sources: [filesSource({ path: data, name: 'files' })], repository: 'main', schedule: 'daily' },
      db: {
        type: 'database', repository: 'main', environments: ['staging', 'production'],
        sources: (environment, params) => [filesSource({ path: params.database_name === 'docs' ? join(data, 'docs') : data, name: `db-${environment ?? 'all'}` })],
      },
      bucketA: { type: 'storage', sources: [filesSource({ path: data, name: 'a' })], repository: 'main', schedule: { cron: '0 3 * * *', timezone: 'Europe/Paris' } },
      bucketB: { type: 'storage', sources: [filesSource({ path: data, name: 'b' })], repository: 'main' },
      hold: { sources: [held(filesSource({ path: data, name: 'held' }))], repository: 'main' },
    },
  });
  const queue = options.queue ?? memoryJobQueue();
  let worker: QueueWorker | undefined;
  if (options.process !== false && !options.queue) worker = await queue.process(jobRunHandler({ cairn, config, env }));
  const schedules = Object.fromEntries(Object.entries(config.jobs).filter(([, job]) => job.schedule).map(([name, job]) => [name, parseSchedule(job.schedule!, name)]));
  const scheduler = new Scheduler({ schedules, state: memoryScheduleState(), logger: silentLogger, trigger: () => {} });
  const restoreDir = join(dir, 'restores');
  const api = createCairnApi({ cairn, config, queue, history, scheduler, env, logger: silentLogger, auth: { secret: SECRET }, restoreDir, ...options.api });
  let url: string;
  let closeServer: () => Promise<void>;
  if (options.mount) {
    const mounted = await options.mount(api);
    url = mounted.url;
    closeServer = mounted.close;
  } else {
    const server = createServer(api.handler);
    url = await listen(server);
    closeServer = () => closeHttp(server);
  }
  const token = (roles: Role[], sub = 'ann') => signToken(SECRET, { sub, roles });
  return {
    dir, data, repoPath, restoreDir, cairn, config, history, queue, api, url, token,
    async call(path, init = {}) {
      const { roles = ['admin'], token: given, ...rest } = init;
      const bearer = given === undefined ? await token(roles) : given;
      const headers = new Headers(rest.headers);
      if (bearer !== null) headers.set('authorization', `Bearer ${bearer}`);
      return fetch(`${url}${path}`, { ...rest, headers });
    },
    async close() {
      await api.close();
      await closeServer();
      await worker?.close({ abortRunning: true });
      if (!options.queue) await queue.close();
      await cairn.close();
      await history.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A live system (`to: 'live://NAME'`) that needs no server; it restores nothing (no snapshot holds its data). */
const liveSource = defineSource({
  name: 'live',
  options: z.object({ name: z.string() }),
  capabilities: { incremental: false, restoreModes: ['origin'] },
  urls: { schemes: ['live'], parse: (url) => ({ name: new URL(url).hostname }) },
  create: ({ name }) => ({
    name, description: `live://${name}`,
    async *entries() {},
    async restore() {
      return { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
    },
  }),
});

/** A source that holds its run until it is aborted, so a run is surely in progress when a test aborts it. */
function held(files: SourceInstance): SourceInstance {
  return {
    ...files,
    async *entries(ctx) {
      while (!ctx.signal.aborted) await new Promise((resolve) => setTimeout(resolve, 20));
      throwIfAborted(ctx.signal);
      yield* files.entries(ctx);
    },
  };
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function closeHttp(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export function json(body: unknown): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/** Polls `read` until `done` holds, or fails after `timeoutMs`. */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Reads a Server-Sent Events stream to its end: each event's name and parsed data. */
export async function readEvents(response: Response): Promise<Array<{ event: string; data: unknown }>> {
  const text = await response.text();
  return text.split('\n\n').filter((block) => block.includes('data:')).map((block) => {
    const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
    const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]!) as unknown;
    return { event, data };
  });
}
