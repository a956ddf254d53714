import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiRun } from '../src/index.js';
import { json, readEvents, startStack, until } from './helpers.js';
import type { Stack } from './helpers.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ api: { rateLimit: { triggersPerMinute: 1000 } } });
});
afterAll(async () => {
  await stack.close();
});

async function body<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

async function runToEnd(runId: string): Promise<ApiRun> {
  return until(async () => (await body<{ run: ApiRun }>(await stack.call(`/api/runs/${runId}`))).run, (run) => ['succeeded', 'failed', 'aborted', 'removed'].includes(run.status));
}

describe('health and documents', () => {
  it('answers /healthz and /readyz without a token', async () => {
    expect(await body(await stack.call('/healthz', { token: null }))).toEqual({ status: 'ok' });
    const ready = await stack.call('/readyz', { token: null });
    expect(ready.status).toBe(200);
    expect(await body(ready)).toMatchObject({ status: 'ready', checks: [{ name: 'history', ok: true }, { name: 'queue', ok: true }] });
  });

  it('serves an OpenAPI 3.1 document generated from the request schemas', async () => {
    const doc = await body<{ openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>> }>(await stack.call('/api/openapi.json', { token: null }));
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/trigger-backup', '/api/runs/{id}/events', '/api/restores', '/api/repositories/{repo}/snapshots/{id}/tree', '/api/audit']));
    const trigger = JSON.stringify(doc.paths['/api/trigger-backup']!.post!.requestBody!.content['application/json']!.schema);
    expect(trigger).toContain('database_name');
    expect(trigger).toContain('"additionalProperties":false');
    expect(stack.api.openapi).toEqual(doc);
  });

  it('answers unknown paths and methods with JSON errors', async () => {
    const missing = await stack.call('/api/nothing');
    expect(missing.status).toBe(404);
    expect(await body(missing)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    const method = await stack.call('/api/jobs', { method: 'DELETE' });
    expect(method.status).toBe(405);
    expect(method.headers.get('allow')).toBe('GET');
  });
});

describe('jobs and triggers', () => {
  it('says who the token is and lists the jobs', async () => {
    expect(await body(await stack.call('/api/me', { roles: ['operator'] }))).toEqual({ subject: 'ann', roles: ['operator'] });
    const { jobs } = await body<{ jobs: Array<Record<string, unknown>> }>(await stack.call('/api/jobs', { roles: ['viewer'] }));
    expect(jobs.map((j) => j.name)).toEqual(['docs', 'db', 'bucketA', 'bucketB', 'hold']);
    expect(jobs[0]).toMatchObject({ type: 'user_data', description: 'the sample files', repository: 'main', environments: [], schedule: 'daily', sources: ['files'] });
    expect(jobs[1]).toMatchObject({ type: 'database', environments: ['staging', 'production'], sources: null });
  });

  it('estimates a job', async () => {
    const estimate = await body<{ job: string; estimate: { files: number; bytes: number }; overLimit: boolean }>(await stack.call('/api/jobs/docs/estimate', { roles: ['viewer'] }));
    expect(estimate).toMatchObject({ job: 'docs', overLimit: false, estimate: { files: 3, bytes: 6 + 8 + 5000 } });
    expect((await stack.call('/api/jobs/nope/estimate')).status).toBe(404);
  });

  it('triggers a job by name; the run really runs and ends succeeded, recorded with who asked', async () => {
    const response = await stack.call('/api/trigger-backup', { ...json({ job: 'docs', description: 'before the upgrade' }), roles: ['operator'] });
    expect(response.status).toBe(202);
    const { runId, deduplicated, job } = await body<{ runId: string; deduplicated: boolean; job: string }>(response);
    expect({ deduplicated, job }).toEqual({ deduplicated: false, job: 'docs' });
    const run = await runToEnd(runId);
    expect(run).toMatchObject({ status: 'succeeded', job: 'docs', requestedBy: 'api:ann', operation: 'backup' });
    expect(run.snapshotId).toMatch(/^[0-9a-f]{64}$/);
  });

  it('maps a type to its one job and hands the parameters to the job', async () => {
    const response = await stack.call('/api/trigger-backup', { ...json({ type: 'database', database_name: 'docs', environment: 'staging', description: 'nightly' }), roles: ['operator'] });
    expect(response.status).toBe(202);
    const { runId, job } = await body<{ runId: string; job: string }>(response);
    expect(job).toBe('db');
    const run = await runToEnd(runId);
    expect(run.status).toBe('succeeded');
    expect(run.environment).toBe('staging');
    expect(run.options).toMatchObject({ params: { database_name: 'docs', description: 'nightly' } });
    const tree = await body<{ entries: Array<{ name: string }> }>(await stack.call(`/api/repositories/main/snapshots/${run.snapshotId!}/tree?path=db-staging`));
    expect(tree.entries.map((e) => e.name)).toEqual(['deep', 'b.md']);
  });

  it('answers 404 for no job of a type, 409 for several, 400 for missing parameters or unknown fields', async () => {
    const none = await stack.call('/api/trigger-backup', json({ type: 'database', database_name: 'x', environment: 'development' }));
    expect(none.status).toBe(404);
    const several = await stack.call('/api/trigger-backup', json({ type: 'storage', storage_path: 'a/b' }));
    expect(several.status).toBe(409);
    expect((await body<{ error: { code: string; message: string } }>(several)).error).toMatchObject({ code: 'JOB_AMBIGUOUS', message: expect.stringContaining('bucketA, bucketB') });
    const missing = await stack.call('/api/trigger-backup', json({ type: 'database' }));
    expect(missing.status).toBe(400);
    expect((await body<{ error: { issues: Array<{ path: string[] }> } }>(missing)).error.issues.map((i) => i.path)).toEqual([['database_name']]);
    const storage = await stack.call('/api/trigger-backup', json({ type: 'storage' }));
    expect((await body<{ error: { issues: Array<{ path: string[] }> } }>(storage)).error.issues.map((i) => i.path)).toEqual([['storage_path']]);
    const badType = await stack.call('/api/trigger-backup', json({ type: 'logs' }));
    expect(badType.status).toBe(400);
    expect((await body<{ error: { code: string } }>(badType)).error.code).toBe('INVALID_REQUEST');
    expect((await stack.call('/api/trigger-backup', json({ job: 'docs', force: true }))).status).toBe(400);
    expect((await stack.call('/api/trigger-backup', json({ job: 42 }))).status).toBe(400);
    expect((await stack.call('/api/trigger-backup', json({ job: 'nope' }))).status).toBe(404);
    expect((await stack.call('/api/trigger-backup', json({ job: 'db', environment: 'moon' }))).status).toBe(400);
  });

  it('refuses bodies that are not JSON, malformed, or too large', async () => {
    const form = await stack.call('/api/trigger-backup', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'job=docs' });
    expect(form.status).toBe(415);
    const broken = await stack.call('/api/trigger-backup', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"job": ' });
    expect(broken.status).toBe(400);
    expect((await body<{ error: { code: string } }>(broken)).error.code).toBe('MALFORMED_JSON');
    const huge = await stack.call('/api/trigger-backup', json({ job: 'docs', description: 'x'.repeat(100_000) }));
    expect(huge.status).toBe(413);
    expect((await body<{ error: { code: string } }>(huge)).error.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('runs', () => {
  it('lists runs filtered by job, status and time, and reads a run\'s logs', async () => {
    const { runId } = await body<{ runId: string }>(await stack.call('/api/trigger-backup', json({ job: 'bucketA' })));
    await runToEnd(runId);
    const { runs } = await body<{ runs: ApiRun[] }>(await stack.call('/api/runs?job=bucketA&status=succeeded', { roles: ['viewer'] }));
    expect(runs.map((r) => r.id)).toContain(runId);
    expect(runs.every((r) => r.job === 'bucketA' && r.status === 'succeeded')).toBe(true);
    const future = await body<{ runs: ApiRun[] }>(await stack.call(`/api/runs?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`));
    expect(future.runs).toEqual([]);
    expect((await stack.call('/api/runs?status=sleeping')).status).toBe(400);
    expect((await stack.call('/api/runs?limit=-3')).status).toBe(400);
    const logs = await until(async () => (await body<{ logs: Array<{ message: string; seq: number }> }>(await stack.call(`/api/runs/${runId}/logs`))).logs, (lines) => lines.length > 0);
    expect(logs[0]!.seq).toBe(1);
    expect(logs.map((l) => l.message).join('\n')).toMatch(/snapshot/);
    expect((await stack.call('/api/runs/no-such-run')).status).toBe(404);
    expect((await stack.call('/api/runs/no-such-run/logs')).status).toBe(404);
  });

  it('streams a run\'s events until it ends, with the token in the query', async () => {
    const { runId } = await body<{ runId: string }>(await stack.call('/api/trigger-backup', json({ job: 'bucketB' })));
    const token = await stack.token(['viewer']);
    const response = await fetch(`${stack.url}/api/runs/${runId}/events?access_token=${token}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = await readEvents(response);
    expect(events.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
    expect(events.some((e) => e.event === 'status')).toBe(true);
    // The query token is accepted on this endpoint only.
    expect((await fetch(`${stack.url}/api/runs/${runId}?access_token=${token}`)).status).toBe(401);
  });

  it('removes a queued run, aborts a running one, and answers 409 for one that ended', async () => {
    const held = (await body<{ runId: string }>(await stack.call('/api/trigger-backup', json({ job: 'hold' })))).runId;
    await until(async () => (await body<{ run: ApiRun }>(await stack.call(`/api/runs/${held}`))).run.status, (status) => status === 'running');
    // The in-process worker runs one at a time: this one waits behind the held run.
    const waiting = (await body<{ runId: string }>(await stack.call('/api/trigger-backup', json({ job: 'docs', description: 'queued behind' })))).runId;
    expect((await body<{ run: ApiRun }>(await stack.call(`/api/runs/${waiting}`))).run.status).toBe('queued');
    const removed = await stack.call(`/api/runs/${waiting}`, { method: 'DELETE', roles: ['operator'] });
    expect(removed.status).toBe(200);
    expect((await runToEnd(waiting)).status).toBe('removed');
    const aborting = await stack.call(`/api/runs/${held}`, { method: 'DELETE', roles: ['operator'] });
    expect(aborting.status).toBe(202);
    expect((await runToEnd(held)).status).toBe('aborted');
    const again = (await body<{ runId: string }>(await stack.call('/api/trigger-backup', json({ job: 'hold', description: 'again' })))).runId;
    await until(async () => (await body<{ run: ApiRun }>(await stack.call(`/api/runs/${again}`))).run.status, (status) => status === 'running');
    expect((await stack.call(`/api/runs/${again}/abort`, { method: 'POST', roles: ['operator'] })).status).toBe(202);
    expect((await runToEnd(again)).status).toBe('aborted');

    const { runId } = await body<{ runId: string }>(await stack.call('/api/trigger-backup', json({ job: 'db', environment: 'production' })));
    const ended = await runToEnd(runId);
    expect(ended.status).toBe('succeeded');
    expect((await stack.call(`/api/runs/${runId}/abort`, { method: 'POST', roles: ['operator'] })).status).toBe(409);
    expect((await stack.call(`/api/runs/${runId}`, { method: 'DELETE', roles: ['operator'] })).status).toBe(409);
    expect((await stack.call('/api/runs/unknown/abort', { method: 'POST' })).status).toBe(404);
    expect((await stack.call(`/api/runs/${runId}/abort`, { method: 'POST', roles: ['viewer'] })).status).toBe(403);
  });
});

describe('schedules', () => {
  it('lists schedules with their next slot, and pauses and resumes them (admin only)', async () => {
    const { schedules } = await body<{ schedules: Array<{ name: string; cron: string; timezone: string | null; paused: boolean; next: string }> }>(await stack.call('/api/schedules', { roles: ['viewer'] }));
    expect(schedules.map((s) => s.name)).toEqual(['docs', 'bucketA']);
    expect(schedules[1]).toMatchObject({ cron: '0 3 * * *', timezone: 'Europe/Paris', paused: false });
    expect(Date.parse(schedules[0]!.next)).toBeGreaterThan(Date.now());
    expect((await stack.call('/api/schedules/pause', { method: 'POST', roles: ['operator'] })).status).toBe(403);
    const paused = await body<{ schedules: Array<{ paused: boolean }> }>(await stack.call('/api/schedules/docs/pause', { method: 'POST' }));
    expect(paused.schedules.map((s) => s.paused)).toEqual([true, false]);
    const all = await body<{ schedules: Array<{ paused: boolean }> }>(await stack.call('/api/schedules/pause', { method: 'POST' }));
    expect(all.schedules.map((s) => s.paused)).toEqual([true, true]);
    const resumed = await body<{ schedules: Array<{ paused: boolean }> }>(await stack.call('/api/schedules/resume', { method: 'POST' }));
    expect(resumed.schedules.map((s) => s.paused)).toEqual([false, false]);
    expect((await stack.call('/api/schedules/nope/pause', { method: 'POST' })).status).toBe(404);
  });
});

describe('snapshots and restores', () => {
  it('lists repositories without secrets, snapshots by job, a tree level and a diff', async () => {
    const { repositories } = await body<{ repositories: Array<{ name: string; location: string }> }>(await stack.call('/api/repositories', { roles: ['viewer'] }));
    expect(repositories).toEqual([{ name: 'main', location: stack.repoPath, jobs: ['docs', 'db', 'bucketA', 'bucketB', 'hold'] }]);
    const first = await runToEnd((await body<{ runId: string }>(await stack.call('/api/trigger-backup', json({ job: 'docs', description: 'first' })))).runId);
    await import('node:fs/promises').then((fs) => fs.writeFile(join(stack.data, 'new.txt'), 'new file'));
    const second = await runToEnd((await body<{ runId: string }>(await stack.call('/api/trigger-backup', json({ job: 'docs', description: 'second' })))).runId);
    const { snapshots } = await body<{ snapshots: Array<{ id: string; tags: string[] }> }>(await stack.call('/api/repositories/main/snapshots?job=docs'));
    expect(snapshots[0]!.id).toBe(second.snapshotId);
    expect(snapshots.every((s) => s.tags.includes('job:docs'))).toBe(true);
    const top = await body<{ entries: Array<{ name: string; type: string; size: number }> }>(await stack.call(`/api/repositories/main/snapshots/${second.snapshotId!}/tree`));
    expect(top.entries).toEqual([expect.objectContaining({ name: 'files', type: 'dir', size: 6 + 8 + 5000 + 8 })]);
    const level = await body<{ entries: Array<{ name: string; type: string; size: number; mtime: string }> }>(await stack.call(`/api/repositories/main/snapshots/${second.snapshotId!}/tree?path=files/docs`));
    expect(level.entries.map((e) => [e.name, e.type, e.size])).toEqual([['deep', 'dir', 5000], ['b.md', 'file', 8]]);
    expect(Date.parse(level.entries[1]!.mtime)).toBeGreaterThan(0);
    expect((await stack.call(`/api/repositories/main/snapshots/${second.snapshotId!}/tree?path=files/nothing`)).status).toBe(404);
    expect((await stack.call('/api/repositories/main/snapshots/ffffffff/tree')).status).toBe(404);
    const diff = await body<{ changes: Array<{ path: string; change: string }> }>(await stack.call(`/api/repositories/main/diff?from=${first.snapshotId!}&to=${second.snapshotId!}`));
    expect(diff.changes).toContainEqual({ path: 'files/new.txt', change: 'added', type: 'file' });
    expect((await stack.call('/api/repositories/main/diff?from=x')).status).toBe(400);
    expect((await stack.call('/api/repositories/other/snapshots')).status).toBe(404);
  });

  it('restores into a directory through the API, followed as a run, and the files match', async () => {
    const target = join(stack.dir, 'restored');
    const response = await stack.call('/api/restores', json({ repository: 'main', targetDir: target, include: ['files/docs'] }));
    expect(response.status).toBe(202);
    const { runId } = await body<{ runId: string }>(response);
    const events = await readEvents(await stack.call(`/api/runs/${runId}/events`));
    expect(events.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
    const run = await runToEnd(runId);
    expect(run).toMatchObject({ operation: 'restore', status: 'succeeded', requestedBy: 'api:ann' });
    expect(await readFile(join(target, 'files', 'docs', 'b.md'), 'utf8')).toBe(await readFile(join(stack.data, 'docs', 'b.md'), 'utf8'));
    expect(await readFile(join(target, 'files', 'docs', 'deep', 'c.bin'), 'utf8')).toBe('c'.repeat(5000));
    expect(await readdir(join(target, 'files'))).toEqual(['docs']);
  });

  it('restores the state at a point in time, and refuses bad restore requests', async () => {
    const target = join(stack.dir, 'at');
    const { runId } = await body<{ runId: string }>(await stack.call('/api/restores', json({ repository: 'main', at: new Date().toISOString(), targetDir: target })));
    expect((await runToEnd(runId)).status).toBe('succeeded');
    expect((await stack.call('/api/restores', json({ repository: 'main', at: '2000-01-01T00:00:00Z', targetDir: join(stack.dir, 'old') })).then(async (r) => runToEnd((await body<{ runId: string }>(r)).runId))).status).toBe('failed');
    expect((await stack.call('/api/restores', json({ repository: 'main', targetDir: 'relative/dir' }))).status).toBe(400);
    expect((await stack.call('/api/restores', json({ repository: 'main', targetDir: target, include: ['files/../../etc'] }))).status).toBe(400);
    expect((await stack.call('/api/restores', json({ repository: 'main' }))).status).toBe(400);
    expect((await stack.call('/api/restores', json({ repository: 'main', targetDir: '/tmp/x', to: 'file:///tmp/y' }))).status).toBe(400);
    expect((await stack.call('/api/restores', json({ repository: 'nope', targetDir: '/tmp/x' }))).status).toBe(404);
    expect((await stack.call('/api/restores', { ...json({ repository: 'main', targetDir: target }), roles: ['operator'] })).status).toBe(403);
  });
});

describe('audit', () => {
  it('records every write with who, what, from where and the result, for admins only', async () => {
    expect((await stack.call('/api/audit', { roles: ['operator'] })).status).toBe(403);
    const { records } = await body<{ records: Array<{ actor: string; action: string; target: string; ip: string; status: number; code?: string }> }>(await stack.call('/api/audit?limit=1000'));
    const actions = new Set(records.map((r) => r.action));
    for (const action of ['trigger-backup', 'abort', 'delete-run', 'pause', 'resume', 'restore']) expect(actions).toContain(action);
    expect(records).toContainEqual(expect.objectContaining({ actor: 'ann', action: 'trigger-backup', target: 'docs', status: 202, ip: '127.0.0.1' }));
    expect(records).toContainEqual(expect.objectContaining({ action: 'trigger-backup', status: 409, code: 'JOB_AMBIGUOUS' }));
    expect(records).toContainEqual(expect.objectContaining({ action: 'restore', status: 403, code: 'FORBIDDEN' }));
    expect(JSON.stringify(records)).not.toMatch(/eyJ|Bearer|server-test-password/);
  });
});
