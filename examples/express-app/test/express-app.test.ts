import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCairn } from '@cairn/core';
import { localTarget } from '@cairn/target-local';
import { createProjectsApp } from '../src/app.ts';
import type { ProjectsApp } from '../src/app.ts';

let workDir: string;
let projects: ProjectsApp;
let server: Server;
let base: string;
const logs: string[] = [];

beforeEach(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'cairn-express-app-'));
  const repository = { target: join(workDir, 'recycle-bin'), password: 'express-app-test' };
  const setup = createCairn({ targets: [localTarget] });
  await setup.init({ repository, kdf: { N: 1024, r: 8, p: 1 } });
  await setup.close();
  projects = createProjectsApp({ dataDir: join(workDir, 'data'), repository, log: (line) => logs.push(line) });
  server = await new Promise<Server>((resolve) => {
    const listening = projects.app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  base = `http://127.0.0.1:${address.port}`;
});
afterEach(async () => {
  await new Promise((resolve) => server.close(resolve));
  await projects.close();
  await rm(workDir, { recursive: true, force: true });
});

/** A JSON answer: an object (or, for lists, an array) with the fields the tests read. */
type Answer = { snapshot?: string; error?: string; files?: unknown } & Record<string, unknown>;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Answer }> {
  const response = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', 'x-user': 'ann' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, json: (await response.json()) as Answer };
}

const apollo = { id: 'apollo', name: 'Apollo', files: { 'notes/plan.txt': 'land on the moon\n', 'budget.csv': 'year,amount\n1969,25.4\n', 'ünïcode/ファイル.txt': '✓' } };

describe('examples/express-app: a guarded "delete project"', () => {
  it('deletes a project only after backing it up, and restores it from the recycle bin exactly', async () => {
    expect((await call('POST', '/projects', apollo)).status).toBe(201);
    const before = await call('GET', '/projects/apollo');
    expect(before.json).toEqual({ id: 'apollo', name: 'Apollo', files: apollo.files });

    const deleted = await call('DELETE', '/projects/apollo');
    expect(deleted.status).toBe(200);
    expect(deleted.json).toMatchObject({ deleted: 'apollo', restore: 'POST /recycle-bin/apollo/restore' });
    expect((await call('GET', '/projects/apollo')).status).toBe(404);
    expect((await call('GET', '/projects')).json).toEqual([]);

    const bin = await call('GET', '/recycle-bin');
    expect(bin.json).toEqual([{ id: 'apollo', deletedAt: expect.any(String), snapshot: deleted.json.snapshot }]);

    const restored = await call('POST', '/recycle-bin/apollo/restore');
    expect(restored.status).toBe(200);
    expect(restored.json).toMatchObject({ restored: 'apollo', snapshot: deleted.json.snapshot, files: 4 });
    expect((await call('GET', '/projects/apollo')).json).toEqual(before.json);
    // A second restore would overwrite the live project: refused.
    expect((await call('POST', '/recycle-bin/apollo/restore')).status).toBe(409);
    expect(logs.some((line) => line.startsWith('project apollo deleted by ann; snapshot '))).toBe(true);
  });

  it('keeps the project when it cannot be backed up (the recycle bin is gone), answering 503 with the reason', async () => {
    await call('POST', '/projects', apollo);
    await rm(join(workDir, 'recycle-bin'), { recursive: true, force: true });
    const answer = await call('DELETE', '/projects/apollo');
    expect(answer.status).toBe(503);
    expect(answer.json.error).toMatch(/^project apollo was not deleted: its backup failed \(/);
    expect(existsSync(join(workDir, 'data', 'projects', 'apollo', 'project.json'))).toBe(true);
    expect((await call('GET', '/projects/apollo')).json.files).toEqual(apollo.files);
  });

  it('answers bad requests with 4xx and a JSON reason', async () => {
    expect(await call('POST', '/projects', { id: '../etc', name: 'x' })).toEqual({ status: 400, json: { error: 'a project id is 1 to 64 lower-case letters, digits and "-"' } });
    expect((await call('POST', '/projects', { id: 'x', name: 'x', files: { '../escape': 'no' } })).status).toBe(400);
    expect((await call('DELETE', '/projects/nope')).status).toBe(404);
    expect((await call('POST', '/recycle-bin/nope/restore')).status).toBe(404);
    const broken = await fetch(`${base}/projects`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":' });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toEqual({ error: 'the request body is not valid JSON' });
  });
});
