import { realpath, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import type { ApiRun } from '../src/index.js';
import { json, startStack, until } from './helpers.js';
import type { Stack } from './helpers.js';

/*
 * Every success answer, checked against the schema the served OpenAPI document gives for its route
 * and status (read back into zod): what a client generated from the document relies on.
 */

type JsonSchema = z.core.JSONSchema.JSONSchema;
type Paths = Record<string, Record<string, { responses: Record<string, { description?: string; content?: Record<string, { schema: JsonSchema }> }> }>>;

let stack: Stack;
let paths: Paths;
/** The document's error body schema (components.schemas.Error). */
let errorSchema: JsonSchema;
/** `GET /api/runs/{id}`: the operations called, as the document names them. */
const called = new Set<string>();

beforeAll(async () => {
  stack = await startStack({ api: { rateLimit: { triggersPerMinute: 1000 } } });
  const document = (await (await stack.call('/api/openapi.json', { token: null })).json()) as { paths: Paths; components: { schemas: { Error: JsonSchema } } };
  ({ paths, components: { schemas: { Error: errorSchema } } } = document);
});
afterAll(async () => {
  await stack.close();
});

function schemaOf(method: string, template: string, status: number): JsonSchema {
  const schema = paths[template]?.[method.toLowerCase()]?.responses[status]?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`the document has no JSON answer ${status} for ${method} ${template}`);
  return schema;
}

/** Calls `template` with its `{name}` segments from `params` as an admin, and checks the 2xx answer against the document. */
async function check<T>(method: 'GET' | 'POST' | 'DELETE', template: string, options: { params?: Record<string, string>; query?: string; body?: unknown } = {}): Promise<T> {
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(options.params![name]!));
  const init = options.body === undefined ? { method } : { ...json(options.body), method };
  const response = await stack.call(`${path}${options.query ? `?${options.query}` : ''}`, init);
  const body = (await response.json()) as unknown;
  expect(response.status, `${method} ${path}: ${JSON.stringify(body)}`).toBeLessThan(300);
  const result = z.fromJSONSchema(schemaOf(method, template, response.status)).safeParse(body);
  expect(result.error?.issues ?? [], `${method} ${path} answered ${JSON.stringify(body)}`).toEqual([]);
  called.add(`${method} ${template}`);
  return body as T;
}

/** An error answer a route declares of its own: the document names its code for that status, and the body matches the Error schema. */
async function checkError(method: 'GET' | 'POST' | 'DELETE', template: string, status: number, code: string, options: { params?: Record<string, string>; query?: string; body?: unknown } = {}): Promise<void> {
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(options.params![name]!));
  const init = options.body === undefined ? { method } : { ...json(options.body), method };
  const response = await stack.call(`${path}${options.query ? `?${options.query}` : ''}`, init);
  const body = (await response.json()) as { error: { code: string } };
  expect(response.status, `${method} ${path}: ${JSON.stringify(body)}`).toBe(status);
  expect(body.error.code).toBe(code);
  const declared = paths[template]?.[method.toLowerCase()]?.responses[status];
  expect(declared?.description, `${method} ${template} ${status}`).toContain(`\`${code}\``);
  expect(declared?.content?.['application/json']?.schema).toEqual({ $ref: '#/components/schemas/Error' });
  expect(z.fromJSONSchema(errorSchema).safeParse(body).error?.issues ?? []).toEqual([]);
}

async function runToEnd(id: string): Promise<ApiRun> {
  const { run } = await until(() => check<{ run: ApiRun }>('GET', '/api/runs/{id}', { params: { id } }), ({ run }) => ['succeeded', 'failed', 'aborted', 'removed'].includes(run.status));
  return run;
}

async function backup(job: string, description: string): Promise<ApiRun> {
  const { runId } = await check<{ runId: string }>('POST', '/api/trigger-backup', { body: { job, description } });
  return runToEnd(runId);
}

it('answers every endpoint with a body the document\'s schema for it accepts', async () => {
  // The document's schemas refuse what they do not name, so an undocumented field fails here.
  expect(z.fromJSONSchema(schemaOf('GET', '/healthz', 200)).safeParse({ status: 'ok', extra: 1 }).success).toBe(false);

  await check('GET', '/healthz');
  await check('GET', '/readyz');
  await check('GET', '/api/me');
  await check('GET', '/api/jobs');

  // Two real backups: the second has a parent and a diff; a symlink gives the tree a `linkTarget`.
  await symlink('a.txt', join(stack.data, 'link'));
  const first = await backup('docs', 'first');
  await writeFile(join(stack.data, 'new.txt'), 'new file');
  const second = await backup('docs', 'second');
  expect([first.status, second.status]).toEqual(['succeeded', 'succeeded']);
  await check('GET', '/api/jobs/{name}/estimate', { params: { name: 'docs' } });
  await check('GET', '/api/runs/{id}/logs', { params: { id: second.id } });

  await check('GET', '/api/repositories');
  await check('GET', '/api/repositories/{repo}/snapshots', { params: { repo: 'main' } });
  await check('GET', '/api/repositories/{repo}/snapshots/{id}/tree', { params: { repo: 'main', id: second.snapshotId! } });
  const files = await check<{ entries: Array<{ linkTarget?: string }> }>('GET', '/api/repositories/{repo}/snapshots/{id}/tree', { params: { repo: 'main', id: second.snapshotId! }, query: 'path=files' });
  expect(files.entries.some((entry) => entry.linkTarget === 'a.txt')).toBe(true);
  await check('GET', '/api/repositories/{repo}/diff', { params: { repo: 'main' }, query: `from=${first.snapshotId!}&to=${second.snapshotId!}` });

  await check('GET', '/api/settings');
  const restore = await check<{ runId: string; targetDir: string }>('POST', '/api/restores', { body: { repository: 'main', targetDir: 'restored' } });
  expect(restore.targetDir).toBe(join(await realpath(stack.restoreDir), 'restored'));
  expect((await runToEnd(restore.runId)).status).toBe('succeeded');
  // The restore filled its folder: asking for it again is refused, as the route's own 409 says.
  await checkError('POST', '/api/restores', 409, 'RESTORE_FOLDER_NOT_EMPTY', { body: { repository: 'main', targetDir: 'restored' } });
  const tree = { params: { repo: 'main', id: second.snapshotId! } };
  await checkError('GET', '/api/repositories/{repo}/snapshots/{id}/tree', 404, 'PATH_NOT_FOUND', { ...tree, query: 'path=files/nothing' });
  await checkError('GET', '/api/repositories/{repo}/snapshots/{id}/tree', 400, 'NOT_A_DIRECTORY', { ...tree, query: 'path=files/a.txt' });

  // A run held running, and one queued behind it (the in-process worker runs one at a time).
  const held = (await check<{ runId: string }>('POST', '/api/trigger-backup', { body: { job: 'hold' } })).runId;
  await until(() => check<{ run: ApiRun }>('GET', '/api/runs/{id}', { params: { id: held } }), ({ run }) => run.status === 'running');
  const waiting = (await check<{ runId: string }>('POST', '/api/trigger-backup', { body: { job: 'docs', description: 'queued behind' } })).runId;
  await check('GET', '/api/runs/{id}', { params: { id: waiting } });
  await check('GET', '/api/runs');
  await check('DELETE', '/api/runs/{id}', { params: { id: waiting } });
  await check('POST', '/api/runs/{id}/abort', { params: { id: held } });
  expect([(await runToEnd(waiting)).status, (await runToEnd(held)).status]).toEqual(['removed', 'aborted']);
  await checkError('POST', '/api/runs/{id}/abort', 409, 'RUN_ENDED', { params: { id: held } });
  await checkError('DELETE', '/api/runs/{id}', 409, 'RUN_ENDED', { params: { id: held } });
  await check('GET', '/api/runs', { query: 'limit=1000' });

  await check('GET', '/api/schedules');
  await check('POST', '/api/schedules/{name}/pause', { params: { name: 'docs' } });
  await check('POST', '/api/schedules/pause');
  await check('POST', '/api/schedules/resume');
  await check('POST', '/api/schedules/{name}/resume', { params: { name: 'docs' } });
  await check('GET', '/api/audit');

  // Every operation with a JSON answer was called (the event stream is not JSON).
  const documented = Object.entries(paths).flatMap(([template, operations]) => Object.entries(operations)
    .filter(([, operation]) => Object.values(operation.responses).some((response) => response.content?.['application/json']))
    .map(([method]) => `${method.toUpperCase()} ${template}`));
  expect([...called].sort()).toEqual(documented.sort());
});
