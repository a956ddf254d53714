import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, realpath, stat, symlink, writeFile } from 'node:fs/promises';
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

/** Every file and folder under `root`, with its content and mtime: what "nothing changed" compares. */
async function readTree(root: string): Promise<Record<string, string>> {
  const tree: Record<string, string> = {};
  for (const name of (await readdir(root, { recursive: true })).sort()) {
    const info = await stat(join(root, name));
    tree[name] = `${info.isDirectory() ? '(folder)' : await readFile(join(root, name), 'utf8')} @${info.mtimeMs}`;
  }
  return tree;
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

  it('lists each level of nested directories with the bytes under each; 404 for a path not there, 400 for a file', async () => {
    const nested = await startStack({
      files: { 'top.txt': 'top', 'a/one.txt': 'x'.repeat(10), 'a/b/two.txt': 'y'.repeat(200), 'a/b/c/three.bin': 'z'.repeat(3000), 'a/b/c/d/four.txt': '4444' },
    });
    try {
      await mkdir(join(nested.data, 'a', 'b', 'empty'));
      const { runId } = await body<{ runId: string }>(await nested.call('/api/trigger-backup', json({ job: 'docs' })));
      const run = await until(async () => (await body<{ run: ApiRun }>(await nested.call(`/api/runs/${runId}`))).run, (r) => ['succeeded', 'failed'].includes(r.status));
      expect(run.status).toBe('succeeded');
      const level = async (path: string) => {
        const response = await nested.call(`/api/repositories/main/snapshots/${run.snapshotId!}/tree?path=${encodeURIComponent(path)}`, { roles: ['viewer'] });
        expect(response.status, path).toBe(200);
        const answer = await body<{ path: string; entries: Array<{ name: string; path: string; type: string; size: number }> }>(response);
        return { path: answer.path, entries: answer.entries.map((e) => [e.name, e.path, e.type, e.size]) };
      };
      expect(await level('')).toEqual({ path: '', entries: [['files', 'files', 'dir', 3 + 10 + 200 + 3000 + 4]] });
      // (The stack makes docs/deep, empty here.)
      expect(await level('files')).toEqual({
        path: 'files', entries: [['a', 'files/a', 'dir', 10 + 200 + 3000 + 4], ['docs', 'files/docs', 'dir', 0], ['top.txt', 'files/top.txt', 'file', 3]],
      });
      expect(await level('files/a')).toEqual({ path: 'files/a', entries: [['b', 'files/a/b', 'dir', 200 + 3000 + 4], ['one.txt', 'files/a/one.txt', 'file', 10]] });
      expect(await level('files/a/b')).toEqual({
        path: 'files/a/b', entries: [['c', 'files/a/b/c', 'dir', 3000 + 4], ['empty', 'files/a/b/empty', 'dir', 0], ['two.txt', 'files/a/b/two.txt', 'file', 200]],
      });
      // Normalised as the dashboard's links and people write it.
      expect(await level('/files/./a/b/c/')).toEqual({ path: 'files/a/b/c', entries: [['d', 'files/a/b/c/d', 'dir', 4], ['three.bin', 'files/a/b/c/three.bin', 'file', 3000]] });
      expect(await level('files/a/b/empty')).toEqual({ path: 'files/a/b/empty', entries: [] });

      const missing = await nested.call(`/api/repositories/main/snapshots/${run.snapshotId!}/tree?path=files/a/nope`);
      expect(missing.status).toBe(404);
      expect((await body<{ error: unknown }>(missing)).error).toEqual({ code: 'PATH_NOT_FOUND', message: expect.stringContaining('files/a/nope') });
      expect((await nested.call(`/api/repositories/main/snapshots/${run.snapshotId!}/tree?path=files/top.txt/below`)).status).toBe(404);
      const file = await nested.call(`/api/repositories/main/snapshots/${run.snapshotId!}/tree?path=files/a/one.txt`);
      expect(file.status).toBe(400);
      expect((await body<{ error: unknown }>(file)).error).toEqual({ code: 'NOT_A_DIRECTORY', message: expect.stringContaining('files/a/one.txt') });
      expect((await nested.call(`/api/repositories/main/snapshots/${run.snapshotId!}/tree?path=files/../files`)).status).toBe(400);
    } finally {
      await nested.close();
    }
  });

  it('restores into a folder inside the restore folder through the API, followed as a run, and the files match', async () => {
    const response = await stack.call('/api/restores', json({ repository: 'main', targetDir: 'restored/docs', include: ['files/docs'] }));
    expect(response.status).toBe(202);
    const { runId, targetDir: target } = await body<{ runId: string; targetDir: string }>(response);
    expect(target).toBe(join(await realpath(stack.restoreDir), 'restored', 'docs'));
    const events = await readEvents(await stack.call(`/api/runs/${runId}/events`));
    expect(events.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
    const run = await runToEnd(runId);
    expect(run).toMatchObject({ operation: 'restore', status: 'succeeded', requestedBy: 'api:ann' });
    expect(await readFile(join(target, 'files', 'docs', 'b.md'), 'utf8')).toBe(await readFile(join(stack.data, 'docs', 'b.md'), 'utf8'));
    expect(await readFile(join(target, 'files', 'docs', 'deep', 'c.bin'), 'utf8')).toBe('c'.repeat(5000));
    expect(await readdir(join(target, 'files'))).toEqual(['docs']);
    expect((await stat(stack.restoreDir)).mode & 0o777).toBe(0o700);
  });

  it('refuses a targetDir that is absolute, has ".." segments or leads out through a symlink, creating nothing outside; 409 for a file in the way', async () => {
    const outside = join(stack.dir, 'outside');
    await mkdir(outside);
    await mkdir(stack.restoreDir, { recursive: true });
    await symlink(outside, join(stack.restoreDir, 'escape'));
    await symlink(join(stack.dir, 'nowhere'), join(stack.restoreDir, 'dangling'));
    const refused = [outside, '/tmp/x', '..', '../outside', 'a/../../outside', 'a/..', '.', 'escape', 'escape/deeper', 'dangling', 'dangling/deeper'];
    for (const targetDir of refused) {
      const response = await stack.call('/api/restores', json({ repository: 'main', targetDir }));
      expect(response.status, targetDir).toBe(400);
      expect((await body<{ error: unknown }>(response)).error).toEqual({ code: 'RESTORE_OUTSIDE_FOLDER', message: expect.stringContaining(`inside the restore folder ${stack.restoreDir}`) });
    }
    expect(await readdir(outside)).toEqual([]);
    // A file in the way is not a folder to restore into: said at once, not after the repository is open.
    await writeFile(join(stack.restoreDir, 'a-file'), 'x');
    const blocked = await stack.call('/api/restores', json({ repository: 'main', targetDir: 'a-file/below' }));
    expect(blocked.status).toBe(409);
    expect((await body<{ error: { code: string } }>(blocked)).error.code).toBe('RESTORE_UNWRITABLE');
    expect(existsSync(join(stack.dir, 'nowhere'))).toBe(false);
    expect((await readdir(stack.restoreDir)).sort()).not.toContain('a');
  });

  it('refuses a targetDir that holds files with 409, touching nothing; restores into an existing empty folder', async () => {
    const taken = join(stack.restoreDir, 'taken');
    await mkdir(join(taken, 'inner'), { recursive: true });
    await writeFile(join(taken, 'a.txt'), 'mine, not the snapshot\'s');
    await writeFile(join(taken, 'inner', 'b.md'), 'also mine');
    const before = await readTree(taken);
    for (const targetDir of ['taken', 'taken/', './taken', 'taken/inner']) {
      const refused = await stack.call('/api/restores', json({ repository: 'main', targetDir }));
      expect(refused.status, targetDir).toBe(409);
      const { error } = await body<{ error: { code: string; message: string } }>(refused);
      expect(error.code).toBe('RESTORE_FOLDER_NOT_EMPTY');
      const name = targetDir === 'taken/inner' ? 'taken/inner' : 'taken';
      expect(error.message).toBe(`the folder ${name} in the restore folder ${stack.restoreDir} already holds files, and a restore never writes over what exists: choose another name, like ${name}-2`);
    }
    // The suggestion is a name that is free.
    await mkdir(join(stack.restoreDir, 'taken-2'));
    expect((await body<{ error: { message: string } }>(await stack.call('/api/restores', json({ repository: 'main', targetDir: 'taken' })))).error.message).toMatch(/like taken-3$/);
    expect(await readTree(taken)).toEqual(before);
    expect(Object.keys(before)).toEqual(['a.txt', 'inner', 'inner/b.md']);
    expect(await readFile(join(taken, 'a.txt'), 'utf8')).toBe('mine, not the snapshot\'s');

    // An empty folder that exists is a new folder to restore into.
    const started = await stack.call('/api/restores', json({ repository: 'main', targetDir: 'taken-2' }));
    expect(started.status).toBe(202);
    const { runId, targetDir } = await body<{ runId: string; targetDir: string }>(started);
    expect(targetDir).toBe(join(await realpath(stack.restoreDir), 'taken-2'));
    expect((await runToEnd(runId)).status).toBe('succeeded');
    expect(await readFile(join(targetDir, 'files', 'docs', 'deep', 'c.bin'), 'utf8')).toBe('c'.repeat(5000));
    // Once it holds the restore, it is taken too.
    expect((await stack.call('/api/restores', json({ repository: 'main', targetDir: 'taken-2' }))).status).toBe(409);
  });

  it('gives one new folder to one of two restores asked for it at once', async () => {
    const answers = await Promise.all([1, 2].map(() => stack.call('/api/restores', json({ repository: 'main', targetDir: 'twice' }))));
    expect(answers.map((answer) => answer.status).sort()).toEqual([202, 409]);
    const refused = answers.find((answer) => answer.status === 409)!;
    expect((await body<{ error: { code: string } }>(refused)).error.code).toBe('RESTORE_FOLDER_NOT_EMPTY');
    const { runId } = await body<{ runId: string }>(answers.find((answer) => answer.status === 202)!);
    expect((await runToEnd(runId)).status).toBe('succeeded');
  });

  it('checks the folder before the rate limit, and creates it only for a restore that starts', async () => {
    const limited = await startStack({ api: { rateLimit: { triggersPerMinute: 1 } } });
    try {
      await mkdir(join(limited.restoreDir, 'full'), { recursive: true });
      await writeFile(join(limited.restoreDir, 'full', 'x'), 'x');
      // Refused for the folder, it does not count against the limit.
      expect((await limited.call('/api/restores', json({ repository: 'main', targetDir: 'full' }))).status).toBe(409);
      expect((await limited.call('/api/restores', json({ repository: 'main', targetDir: 'one' }))).status).toBe(202);
      const refused = await limited.call('/api/restores', json({ repository: 'main', targetDir: 'two/deeper' }));
      expect(refused.status).toBe(429);
      expect(existsSync(join(limited.restoreDir, 'two'))).toBe(false);
      // Still the folder's answer first, with the limit reached.
      expect((await limited.call('/api/restores', json({ repository: 'main', targetDir: 'full' }))).status).toBe(409);
      expect((await readdir(limited.restoreDir)).sort()).toEqual(['full', 'one']);
    } finally {
      await limited.close();
    }
  });

  it('restores the state at a point in time, and refuses bad restore requests', async () => {
    const { runId } = await body<{ runId: string }>(await stack.call('/api/restores', json({ repository: 'main', at: new Date().toISOString(), targetDir: 'at' })));
    expect((await runToEnd(runId)).status).toBe('succeeded');
    expect((await stack.call('/api/restores', json({ repository: 'main', at: '2000-01-01T00:00:00Z', targetDir: 'old' })).then(async (r) => runToEnd((await body<{ runId: string }>(r)).runId))).status).toBe('failed');
    expect((await stack.call('/api/restores', json({ repository: 'main', targetDir: 'at', include: ['files/../../etc'] }))).status).toBe(400);
    expect((await stack.call('/api/restores', json({ repository: 'main' }))).status).toBe(400);
    expect((await stack.call('/api/restores', json({ repository: 'main', targetDir: 'x', to: 'file:///tmp/y' }))).status).toBe(400);
    expect((await stack.call('/api/restores', json({ repository: 'nope', targetDir: 'x' }))).status).toBe(404);
    expect((await stack.call('/api/restores', { ...json({ repository: 'main', targetDir: 'at' }), roles: ['operator'] })).status).toBe(403);
  });

  it('without a restore folder, refuses restores into a folder with 409 and says so in the settings; live systems still work', async () => {
    expect(await body(await stack.call('/api/settings', { roles: ['viewer'] }))).toEqual({ restoreDir: stack.restoreDir });
    const bare = await startStack({ api: { restoreDir: undefined } });
    try {
      expect(await body(await bare.call('/api/settings', { roles: ['viewer'] }))).toEqual({ restoreDir: null });
      const refused = await bare.call('/api/restores', json({ repository: 'main', targetDir: 'x' }));
      expect(refused.status).toBe(409);
      expect((await body<{ error: { code: string; message: string } }>(refused)).error).toMatchObject({ code: 'NO_RESTORE_FOLDER', message: expect.stringContaining('without a restore folder') });
      // Accepted: the restore folder plays no part in a restore into a live system.
      const live = await bare.call('/api/restores', json({ repository: 'main', to: 'live://shop' }));
      expect(live.status).toBe(202);
      expect(Object.keys(await body(live))).toEqual(['runId']);
    } finally {
      await bare.close();
    }
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
