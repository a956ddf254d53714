import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, QueueError } from '@cairn/core';
import { requireEnv, startTcpProxy } from '@cairn/testkit';
import { bullmqExecutor, bullmqJobQueue } from '../src/index.js';

/** What this plugin does beyond the shared suite: its options, its shape, and a Redis that is not there. */

const workspace = fileURLToPath(new URL('../../..', import.meta.url));
const entry = fileURLToPath(new URL('./fixtures/cairn-from-source.mjs', import.meta.url));
/** Nothing listens on port 1: connections are refused at once. */
const nowhere = 'redis://:s3cret-pass@127.0.0.1:1';

describe('bullmqExecutor', () => {
  it('checks its options at call time, naming the plugin and the path', () => {
    expect(() => bullmqExecutor({ connection: 'http://localhost:6379' })).toThrow(ConfigError);
    expect(() => bullmqExecutor({ connection: 'http://localhost:6379' })).toThrow(/\[bullmq\] invalid options: connection: /);
    expect(() => bullmqExecutor({ connection: 'redis://localhost', lockDurationMs: 10 })).toThrow(/lockDurationMs/);
    expect(() => bullmqExecutor({ connection: 'redis://localhost', queueName: 'a b' })).toThrow(/queueName/);
  });

  it('is an executor that runs the orchestrator\'s operations in-process and exposes a shared queue, without connecting until used', async () => {
    const executor = bullmqExecutor({ connection: nowhere, concurrency: 2 });
    expect(executor).toMatchObject({ kind: 'executor', plugin: 'bullmq', concurrency: 2 });
    expect(executor.queue).toMatchObject({ kind: 'bullmq', shared: true });
    const handle = executor.submit({ id: 'op-1', type: 'check', run: async () => 42 });
    expect(await handle.result).toBe(42);
    await executor.close(); // never connected: nothing to wait for
  });

  it('fails with one coded error within seconds when Redis cannot be reached, and leaves nothing open', async () => {
    const queue = bullmqJobQueue({ connection: nowhere, connectTimeoutMs: 1_000 });
    const started = performance.now();
    const error = await queue.enqueue({ job: 'docs' }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(QueueError);
    expect(error).toMatchObject({ code: 'QUEUE_UNAVAILABLE', plugin: 'bullmq' });
    expect((error as Error).message).toMatch(/^\[bullmq\] cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 \(.*ECONNREFUSED.*\): start Redis or fix the executor's connection$/);
    expect((error as Error).message).not.toContain('s3cret');
    await expect(queue.process(async () => null)).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
    await expect(queue.get('x')).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
    expect(performance.now() - started).toBeLessThan(10_000);
    await queue.close();
    await expect(queue.enqueue({ job: 'docs' })).rejects.toMatchObject({ code: 'QUEUE_CLOSED' });
  });
});

describe('a worker whose Redis goes away', () => {
  it('rides out a short outage, and stops with QUEUE_UNAVAILABLE within seconds of a long one', async () => {
    const url = new URL(requireEnv('CAIRN_TEST_REDIS_URL').CAIRN_TEST_REDIS_URL);
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
    const options = { connection: `redis://127.0.0.1:${proxy.port}`, prefix: `cairn-test-${Date.now()}`, queueName: 'outage', connectTimeoutMs: 2_000 };
    const queue = bullmqJobQueue(options);
    try {
      const worker = await queue.process(async (request) => request.job);
      // A blip: connections dropped, back well within connectTimeoutMs.
      proxy.cut();
      const { id } = await queue.enqueue({ job: 'after-blip' });
      expect(await queue.wait(id)).toBe('after-blip');
      // Gone for good: the worker says so instead of waiting forever.
      proxy.pause();
      proxy.cut();
      const started = performance.now();
      await expect(worker.stopped).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
      expect(performance.now() - started).toBeLessThan(15_000);
      await worker.close();
    } finally {
      proxy.resume();
      await queue.close();
      const janitor = bullmqJobQueue({ ...options, connection: url.href });
      await janitor.obliterate();
      await janitor.close();
      await proxy.close();
    }
  });
});

describe('cairn run and cairn worker without a reachable queue', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-bullmq-cli-'));
    await mkdir(join(dir, 'node_modules/@cairn'), { recursive: true });
    for (const [name, path] of [['core', 'packages/core'], ['source-files', 'plugins/source-files'], ['executor-bullmq', 'plugins/executor-bullmq']]) {
      await symlink(join(workspace, path!), join(dir, 'node_modules/@cairn', name!));
    }
    await mkdir(join(dir, 'data'));
    const config = (executor: string) => `import { defineConfig } from '@cairn/core';
import { filesSource } from '@cairn/source-files';
import { bullmqExecutor } from '@cairn/executor-bullmq';
export default defineConfig({
  repositories: { main: { url: './backups', password: 'unused' } },
  jobs: { docs: { sources: [filesSource({ path: './data' })], repository: 'main' } },
  ${executor}
});
`;
    await writeFile(join(dir, 'redis-down.config.mjs'), config(`executor: bullmqExecutor({ connection: ${JSON.stringify(nowhere)}, connectTimeoutMs: 1000 }),`));
    await writeFile(join(dir, 'local.config.mjs'), config(''));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const cairn = (args: string[]) => new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=@cairn/source', '--experimental-transform-types', '--no-warnings', entry, ...args], {
      cwd: dir, env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { out += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { err += text; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });

  it('cairn run --detach and cairn worker say in one line that Redis is down, within seconds', async () => {
    for (const args of [['run', 'docs', '--detach'], ['run', 'docs'], ['worker']]) {
      const started = performance.now();
      const result = await cairn([...args, '--config', 'redis-down.config.mjs']);
      expect(result.code, result.err).toBe(1);
      expect(result.err).toMatch(/^cairn: \[bullmq\] cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 \(.*\): start Redis or fix the executor's connection\n$/);
      expect(performance.now() - started).toBeLessThan(20_000);
    }
  });

  it('cairn worker and cairn run --detach need a shared queue', async () => {
    const worker = await cairn(['worker', '--config', 'local.config.mjs']);
    expect(worker.code).toBe(2);
    expect(worker.err).toMatch(/^cairn: invalid configuration: cairn worker needs a queue shared with other processes, but the config's executor \(local, the default\) runs jobs in-process: set executor: bullmqExecutor/);
    const detached = await cairn(['run', 'docs', '--detach', '--config', 'local.config.mjs']);
    expect(detached.code).toBe(2);
    expect(detached.err).toMatch(/^cairn: --detach needs a queue shared with workers/);
  });
});
