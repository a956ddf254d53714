import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AbortedError, ConfigError, SourceError, createCairn } from '@cairn/core';
import type { Cairn, RestoreEntry, SourceEntry, SourceInstance } from '@cairn/core';
import { backupContext, describeSourceConformance, memoryLogger, memoryTarget } from '@cairn/testkit';
import { labelStudioSource } from '../src/index.js';
import {
  annotationsOf, api, choice, createProject, createSnapshot, dropProjects, email, projectState, seedTasks, sourceOptions, sourceUrl, taskIds, token,
  track, url,
} from './label-studio-services.js';
import { unusedPort } from '@cairn/testkit';
import type { ProjectState } from './label-studio-services.js';

const kdf = { N: 1024, r: 8, p: 1 };

afterAll(() => dropProjects());

describeSourceConformance('label-studio', async () => {
  const id = await createProject('cairn-ls-conformance');
  await seedTasks(id, 6);
  await createSnapshot(id, 'conformance');
  return { source: labelStudioSource(sourceOptions([id])) };
});

/** A repository in memory and a Cairn that knows the source (URLs resolve with the test token), logging to memory. */
async function newCairn(): Promise<{ cairn: Cairn; repository: { target: ReturnType<typeof memoryTarget>; password: string }; logger: ReturnType<typeof memoryLogger> }> {
  const logger = memoryLogger();
  const cairn = createCairn({ targets: [memoryTarget], sources: [labelStudioSource], env: { LABEL_STUDIO_API_KEY: token }, logger });
  const repository = { target: memoryTarget({ name: randomUUID() }), password: 'pw' };
  await cairn.init({ repository, kdf });
  return { cairn, repository, logger };
}

/** The id of the project a restore created, from its log line (and remembered for clean-up). */
function restoredProject(logger: ReturnType<typeof memoryLogger>, from: number): number {
  const lines = logger.lines.map((l) => l.message).filter((m) => m.includes(`project ${from} restored into project`));
  const id = Number(/restored into project (\d+)/.exec(lines.at(-1) ?? '')?.[1]);
  expect(id, lines.join('\n')).toBeGreaterThan(0);
  return track(id);
}

async function entriesOf(source: SourceInstance): Promise<{ entries: SourceEntry[]; contents: Map<string, Buffer>; warnings: Array<{ path: string }> }> {
  const ctx = backupContext();
  const entries: SourceEntry[] = [];
  const contents = new Map<string, Buffer>();
  for await (const entry of source.entries(ctx)) {
    entries.push(entry);
    if (entry.type === 'file') {
      const parts: Uint8Array[] = [];
      for await (const part of await entry.open!()) parts.push(part);
      contents.set(entry.path, Buffer.concat(parts));
    }
  }
  return { entries, contents, warnings: ctx.warnings };
}

/** The state of a project without the settings a merge keeps from the destination. */
function tasksOf(state: ProjectState): ProjectState['tasks'] {
  return state.tasks;
}

describe('label-studio source: back up and restore projects', () => {
  it('backs up, changes the project, backs up again, and restores each snapshot into a new project as it was', async () => {
    const id = await createProject('cairn-ls-roundtrip', {
      description: 'round trip ✓', color: '#AA33CC', show_instruction: true, expert_instruction: '<p>Label <b>carefully</b></p>',
      maximum_annotations: 2, sampling: 'Uniform sampling', show_skip_button: false,
    });
    await seedTasks(id, 50);
    const ids = await taskIds(id);
    await api('POST', `/api/tasks/${ids[1]}/annotations/`, { result: [], was_cancelled: true });
    await api('POST', `/api/tasks/${ids[5]}/annotations/`, { result: [choice('neutral')], ground_truth: false });
    await createSnapshot(id, 'before the edits');
    const v1 = await projectState(id);
    expect(v1.tasks).toHaveLength(50);

    const { cairn, repository, logger } = await newCairn();
    const first = await cairn.backup({ repository, sources: [cairn.resolveSource(sourceUrl(id))] });
    expect(first.warnings).toEqual([]);
    const listing = (await cairn.ls({ repository, snapshot: first.snapshot.id })).map((e) => e.path);
    expect(listing).toEqual(expect.arrayContaining([
      `label-studio-${id}/projects/${id}/project.json`, `label-studio-${id}/projects/${id}/tasks.json`,
      `label-studio-${id}/projects/${id}/tasks.predictions.json`, `label-studio-${id}/projects/${id}/project.users.json`,
    ]));
    expect(listing.filter((p) => p.includes('/exports/'))).toHaveLength(1);

    // Annotations edited and deleted, tasks added and deleted, one more snapshot.
    const [edited] = await annotationsOf(ids[0]!);
    await api('PATCH', `/api/annotations/${edited!.id}/`, { result: [choice('neutral')] });
    const [removed] = await annotationsOf(ids[3]!);
    await api('DELETE', `/api/annotations/${removed!.id}/`);
    await api('DELETE', `/api/tasks/${ids[10]}/`);
    await api('DELETE', `/api/tasks/${ids[11]}/`);
    await seedTasks(id, 4, 100);
    await api('PATCH', `/api/projects/${id}/`, { description: 'after the edits', color: '#112233' });
    await createSnapshot(id, 'after the edits');
    const v2 = await projectState(id);
    expect(v2).not.toEqual(v1);

    const second = await cairn.backup({ repository, sources: [cairn.resolveSource(sourceUrl(id))] });
    // The first export snapshot did not change: it is not downloaded again.
    expect(second.snapshot.summary.filesUnchanged).toBeGreaterThanOrEqual(1);

    for (const [snapshot, expected] of [[first.snapshot.id, v1], [second.snapshot.id, v2]] as const) {
      await cairn.restore({ repository, snapshot, to: sourceUrl() });
      const copy = restoredProject(logger, id);
      expect(copy).not.toBe(id);
      expect(await projectState(copy)).toEqual(expected);
      const title = (await api<{ title: string }>('GET', `/api/projects/${copy}/`)).title;
      expect(title).toBe((await api<{ title: string }>('GET', `/api/projects/${id}/`)).title);
    }
  });

  it('fills an existing empty project (mode new), refuses a non-empty one, adds with merge and starts over with replace', async () => {
    const id = await createProject('cairn-ls-modes', { description: 'modes' });
    await seedTasks(id, 9);
    const expected = await projectState(id);
    const { cairn, repository } = await newCairn();
    const { snapshot } = await cairn.backup({ repository, sources: [cairn.resolveSource(sourceUrl(id))] });

    const empty = track((await api<{ id: number }>('POST', '/api/projects/', { title: `cairn-ls-empty-${randomUUID().slice(0, 6)}` })).id);
    await cairn.restore({ repository, snapshot: snapshot.id, to: sourceUrl(empty) });
    expect(await projectState(empty)).toEqual(expected);
    expect((await api<{ title: string }>('GET', `/api/projects/${empty}/`)).title).toMatch(/^cairn-ls-empty-/);

    const error = await cairn.restore({ repository, snapshot: snapshot.id, to: sourceUrl(empty) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).code).toBe('RESTORE_UNWRITABLE');
    expect((error as Error).message).toMatch(new RegExp(`project ${empty} on .* already holds 9 tasks: .*--mode merge`));
    expect(await projectState(empty)).toEqual(expected);

    await cairn.restore({ repository, snapshot: snapshot.id, to: sourceUrl(empty), mode: 'merge' });
    const merged = await projectState(empty);
    expect(merged.tasks).toHaveLength(18);
    expect(merged.tasks.filter((_, i) => i % 2 === 0)).toEqual(tasksOf(expected));

    await cairn.restore({ repository, snapshot: snapshot.id, to: sourceUrl(empty), mode: 'replace' });
    expect(await projectState(empty)).toEqual(expected);

    await expect(cairn.restore({ repository, snapshot: snapshot.id, to: sourceUrl(), mode: 'merge' }))
      .rejects.toThrow(/--mode merge works with an existing project/);
    await expect(cairn.restore({ repository, snapshot: snapshot.id, to: sourceUrl(999_999) }))
      .rejects.toThrow(/project 999999 does not exist on .*create it first/);
  });

  it('backs up several projects or every project, and restores a several-project snapshot into new projects', async () => {
    const a = await createProject('cairn-ls-multi-a');
    const b = await createProject('cairn-ls-multi-b');
    await seedTasks(a, 3);
    await seedTasks(b, 4, 10);
    const [stateA, stateB] = [await projectState(a), await projectState(b)];

    const several = labelStudioSource(sourceOptions([a, b], { includeSnapshots: false }));
    expect(several.name).toBe('label-studio');
    const { entries } = await entriesOf(several);
    expect(entries.filter((e) => e.type === 'dir').map((e) => e.path)).toEqual(['projects', `projects/${a}`, `projects/${b}`]);

    const all = await entriesOf(labelStudioSource(sourceOptions([])));
    const dirs = all.entries.filter((e) => /^projects\/\d+$/.test(e.path)).map((e) => e.path);
    expect(dirs).toEqual(expect.arrayContaining([`projects/${a}`, `projects/${b}`]));

    const { cairn, repository, logger } = await newCairn();
    const { snapshot } = await cairn.backup({ repository, sources: [cairn.resolveSource(sourceUrl([a, b]))] });
    await cairn.restore({ repository, snapshot: snapshot.id, to: sourceUrl() });
    expect(await projectState(restoredProject(logger, a))).toEqual(stateA);
    expect(await projectState(restoredProject(logger, b))).toEqual(stateB);
  });

  it('stores the export snapshots with their records, and the tasks export byte for byte', async () => {
    const id = await createProject('cairn-ls-snapshots');
    await seedTasks(id, 5);
    const snapshotId = await createSnapshot(id, 'named snapshot');
    const { entries, contents, warnings } = await entriesOf(labelStudioSource(sourceOptions([id])));
    expect(warnings).toEqual([]);
    const file = entries.find((e) => e.path === `projects/${id}/exports/${snapshotId}.json`)!;
    expect(file.metadata).toMatchObject({ id: snapshotId, title: 'named snapshot', createdBy: email, counters: { task_number: 5 } });
    expect(file.changeKey).toMatch(new RegExp(`^${snapshotId}:[0-9a-f]{32}$`));
    const downloaded = Buffer.from(await (await fetch(`${url}/api/projects/${id}/exports/${snapshotId}/download?exportType=JSON`, { headers: { Authorization: `Token ${token}` } })).arrayBuffer());
    expect(contents.get(file.path)).toEqual(downloaded);

    const tasks = JSON.parse(contents.get(`projects/${id}/tasks.json`)!.toString()) as Array<{ data: unknown }>;
    expect(tasks).toHaveLength(5);
    const settings = JSON.parse(contents.get(`projects/${id}/project.json`)!.toString()) as Record<string, unknown>;
    expect(settings).toMatchObject({ label_config: expect.stringContaining('<Choices name="sentiment"') });
    for (const key of ['id', 'created_at', 'task_number', 'organization', 'created_by', 'parsed_label_config']) expect(settings).not.toHaveProperty(key);

    const without = await entriesOf(labelStudioSource(sourceOptions([id], { includeSnapshots: false })));
    expect(without.entries.some((e) => e.path.includes('exports'))).toBe(false);
  });

  it('restores entries that arrive out of order (tasks before the project settings, predictions before tasks)', async () => {
    const id = await createProject('cairn-ls-order');
    await seedTasks(id, 8);
    const expected = await projectState(id);
    const { entries, contents } = await entriesOf(labelStudioSource(sourceOptions([id], { includeSnapshots: false })));
    const rank = (path: string) => (path.endsWith('tasks.predictions.json') ? 0 : path.endsWith('tasks.json') ? 1 : path.endsWith('project.json') ? 3 : 2);
    const reordered = [...entries].sort((x, y) => (x.type === 'dir' || y.type === 'dir' ? 0 : rank(x.path) - rank(y.path)));
    const restoreEntries = async function* (): AsyncGenerator<RestoreEntry> {
      for (const entry of reordered) {
        const body = contents.get(entry.path);
        yield { ...entry, open: async function* () {
          if (body) yield body;
        } };
      }
    };
    const logger = memoryLogger();
    const target = labelStudioSource(sourceOptions([]));
    await target.restore(restoreEntries(), { signal: new AbortController().signal, logger, mode: 'origin', restoreMode: 'new' });
    expect(await projectState(restoredProject(logger, id))).toEqual(expected);
  });

  it('credits annotations by users who are not members here to the importing user, instead of failing the import', async () => {
    const id = await createProject('cairn-ls-ghost');
    await seedTasks(id, 6);
    const expected = await projectState(id);
    const { entries, contents } = await entriesOf(labelStudioSource(sourceOptions([id], { includeSnapshots: false })));
    const users = JSON.parse(contents.get(`projects/${id}/project.users.json`)!.toString()) as Array<{ id: number; email: string }>;
    contents.set(`projects/${id}/project.users.json`, Buffer.from(JSON.stringify(users.map((u) => ({ ...u, email: `ghost-${u.id}@nowhere.test` })))));
    const logger = memoryLogger();
    await labelStudioSource(sourceOptions([])).restore((async function* (): AsyncGenerator<RestoreEntry> {
      for (const entry of entries) {
        const body = contents.get(entry.path);
        yield { ...entry, size: body?.length ?? 0, open: async function* () {
          if (body) yield body;
        } };
      }
    })(), { signal: new AbortController().signal, logger, mode: 'origin', restoreMode: 'new' });
    // Here the importing user is the original annotator, so the project is the same.
    expect(await projectState(restoredProject(logger, id))).toEqual(expected);
    expect(logger.lines.map((l) => l.message).join('\n')).toMatch(/2 annotations by users who are not members here are credited to the importing user/);
  });

  it('a server that accepts connections but never answers: a timeout error, not a hang', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const error = await entriesOf(labelStudioSource({ url: `http://127.0.0.1:${port}`, token, projects: [1], timeoutMs: 300, retries: 1 })).catch((e: unknown) => e);
      expect((error as SourceError).code).toBe('SOURCE_UNREADABLE');
      expect((error as Error).message).toContain(`reading project 1: http://127.0.0.1:${port} did not answer within 0.3 s`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('an aborted backup stops at the next request with AbortedError', async () => {
    const id = await createProject('cairn-ls-abort');
    await seedTasks(id, 3);
    const controller = new AbortController();
    const seen: string[] = [];
    const error = await (async () => {
      for await (const entry of labelStudioSource(sourceOptions([id])).entries(backupContext(controller.signal))) {
        seen.push(entry.path);
        controller.abort();
      }
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect(seen.length).toBeLessThan(5);
  });

  it('authenticates with a personal access token (a JWT refresh token) as well as a legacy token', async () => {
    const { token: pat } = await api<{ token: string }>('POST', '/api/token/');
    try {
      expect(pat.split('.')).toHaveLength(3);
      const id = await createProject('cairn-ls-pat');
      await seedTasks(id, 2);
      const { entries } = await entriesOf(labelStudioSource(sourceOptions([id], { token: pat })));
      expect(entries.some((e) => e.path === `projects/${id}/tasks.json`)).toBe(true);
    } finally {
      await api('POST', '/api/token/blacklist/', { refresh: pat });
    }
  });

  it('a wrong token: SOURCE_UNREADABLE naming the variable to check, never the token', async () => {
    const id = await createProject('cairn-ls-badtoken');
    const wrong = 'wrong0token0000000000000000000000000000';
    const error = await entriesOf(labelStudioSource(sourceOptions([id], { token: wrong }))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).code).toBe('SOURCE_UNREADABLE');
    expect((error as Error).message).toMatch(/rejected the API token \(HTTP 401: Invalid token\.\): check LABEL_STUDIO_API_KEY/);
    expect((error as Error).message).not.toContain(wrong);
  });

  it('a missing project: SOURCE_NOT_FOUND naming it', async () => {
    const error = await entriesOf(labelStudioSource(sourceOptions([987_654]))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).code).toBe('SOURCE_NOT_FOUND');
    expect((error as Error).message).toContain(`project 987654 does not exist on ${url}`);
  });

  it('a server that is down: a clear error within seconds', async () => {
    const port = await unusedPort();
    const started = performance.now();
    const error = await entriesOf(labelStudioSource({ url: `http://127.0.0.1:${port}`, token, projects: [1], retries: 1 })).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect((error as SourceError).code).toBe('SOURCE_UNREADABLE');
    expect((error as Error).message).toContain(`cannot reach Label Studio at http://127.0.0.1:${port} (ECONNREFUSED)`);
  });

  it('mode export-dir backs up the export folder as files, and restores only into a directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-ls-exports-'));
    try {
      await mkdir(join(dir, 'nested'));
      await writeFile(join(dir, 'project-1-at-2024.json'), '[{"id":1}]');
      await writeFile(join(dir, 'nested', 'b.json'), '[]');
      const source = labelStudioSource({ mode: 'export-dir', exportDir: dir });
      expect(source.name).toBe('label-studio');
      const { entries, contents } = await entriesOf(source);
      expect(entries.map((e) => e.path).sort()).toEqual(['nested', 'nested/b.json', 'project-1-at-2024.json']);
      expect(contents.get('project-1-at-2024.json')!.toString()).toBe('[{"id":1}]');
      await expect(source.restore((async function* () {})(), { signal: new AbortController().signal, logger: memoryLogger(), mode: 'origin' }))
        .rejects.toBeInstanceOf(ConfigError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('checks its options: mode api needs url and token, export-dir a folder', () => {
    expect(() => labelStudioSource({ url } as never)).toThrow(/token: mode api needs an API token: set LABEL_STUDIO_API_KEY/);
    expect(() => labelStudioSource({ token } as never)).toThrow(/url: mode api needs the server's url/);
    expect(() => labelStudioSource({ mode: 'export-dir' })).toThrow(/exportDir: mode export-dir needs the folder/);
    expect(labelStudioSource(sourceOptions([7])).name).toBe('label-studio-7');
    expect(labelStudioSource(sourceOptions([7])).description).toBe(`${sourceUrl(7)}`);
  });
});
