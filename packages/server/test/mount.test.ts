import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeHttp, json, listen, startStack, until } from './helpers.js';
import type { Stack } from './helpers.js';

async function checkMounted(stack: Stack, base: string): Promise<void> {
  const health = await fetch(`${base}/healthz`);
  expect(await health.json()).toEqual({ status: 'ok' });
  const jobs = await stack.call('/api/jobs');
  expect(jobs.status).toBe(200);
  const trigger = await stack.call('/api/trigger-backup', json({ job: 'docs' }));
  expect(trigger.status).toBe(202);
  const { runId } = (await trigger.json()) as { runId: string };
  await until(async () => ((await (await stack.call(`/api/runs/${runId}`)).json()) as { run: { status: string } }).run.status, (status) => status === 'succeeded');
  expect((await stack.call('/api/trigger-backup', json({ type: 'nope' }))).status).toBe(400);
  expect((await stack.call('/api/trigger-backup', json({ job: 'docs', description: 'y'.repeat(70_000) }))).status).toBe(413);
  expect((await stack.call('/api/nothing')).status).toBe(404);
}

describe('mounted in a host app', () => {
  it('works as Express middleware under a mount path', async () => {
    let base = '';
    const stack = await startStack({
      async mount(api) {
        const app = express();
        // A host app that parses JSON bodies itself: the API takes the parsed body.
        app.use(express.json());
        app.get('/', (_req, res) => { res.send('the host app'); });
        app.use('/backups', api.handler);
        const server = createServer(app);
        const url = await listen(server);
        base = `${url}/backups`;
        return { url: base, close: () => closeHttp(server) };
      },
    });
    try {
      await checkMounted(stack, base);
      expect(await (await fetch(base.replace('/backups', '/'))).text()).toBe('the host app');
    } finally {
      await stack.close();
    }
  });

  it('works as a Fastify plugin under a prefix, its body parsers left out', async () => {
    let base = '';
    const stack = await startStack({
      async mount(api) {
        const app = Fastify();
        app.get('/', async () => 'the host app');
        app.post('/echo', async (request) => request.body);
        await app.register(api.fastifyPlugin, { prefix: '/backups' });
        const url = await app.listen({ port: 0, host: '127.0.0.1' });
        base = `${url}/backups`;
        return { url: base, close: () => app.close() };
      },
    });
    try {
      await checkMounted(stack, base);
      const root = base.replace('/backups', '');
      expect(await (await fetch(`${root}/`)).text()).toBe('the host app');
      // The host app's own JSON parsing is untouched outside the plugin.
      expect(await (await fetch(`${root}/echo`, json({ a: 1 }))).json()).toEqual({ a: 1 });
    } finally {
      await stack.close();
    }
  });
});

describe('the dashboard\'s files', () => {
  let stack: Stack;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-dashboard-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>Cairn</title>');
    await writeFile(join(dir, 'assets', 'app-0123456789.js'), 'console.log(1)');
    await writeFile(join(dir, '..', 'cairn-outside.txt'), 'secret');
    stack = await startStack({ api: { dashboardDir: dir } });
  });
  afterAll(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
    await rm(join(dir, '..', 'cairn-outside.txt'), { force: true });
  });

  it('serves files at / without a token, falls back to index.html, never leaves the folder, and keeps /api JSON', async () => {
    const index = await fetch(`${stack.url}/`);
    expect(index.headers.get('content-type')).toMatch(/text\/html/);
    expect(await index.text()).toContain('<title>Cairn</title>');
    const asset = await fetch(`${stack.url}/assets/app-0123456789.js`);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect(asset.headers.get('cache-control')).toMatch(/immutable/);
    expect(await (await fetch(`${stack.url}/runs/abc`)).text()).toContain('<title>Cairn</title>');
    expect(await (await fetch(`${stack.url}/%2e%2e/cairn-outside.txt`)).text()).not.toContain('secret');
    expect(await (await fetch(`${stack.url}/..%2fcairn-outside.txt`)).text()).not.toContain('secret');
    const api = await fetch(`${stack.url}/api/unknown`);
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toMatch(/application\/json/);
    expect((await fetch(`${stack.url}/`, { method: 'POST' })).status).toBe(404);
  });
});
