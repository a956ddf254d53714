import { SourceError, Spool, spooledContent } from '@cairn/core';
import type { SourceBackupContext, SourceEntry, Spooled } from '@cairn/core';
import { EXPORT_QUERY, exportPath, getProject, listMembers, listProjectIds, listSnapshots, projectNotFound, type ExportSnapshot, type Member, type Project } from './api.js';
import { LabelStudioClient, LabelStudioHttpError } from './client.js';
import type { ApiSettings } from './options.js';
import { pickSettings } from './project-settings.js';

/** File names inside `projects/<id>/`, chosen so that sorted by name they come in the order a restore needs them. */
export const FILES = {
  project: 'project.json',
  users: 'project.users.json',
  tasks: 'tasks.json',
  predictions: 'tasks.predictions.json',
  exports: 'exports',
} as const;

const DIR_MODE = 0o755;
const FILE_MODE = 0o644;

/**
 * The entries of mode `api`:
 * ```
 * projects/<id>/                         the project (metadata: id, title)
 * projects/<id>/exports/<eid>.json       each completed export snapshot, as downloaded (metadata: its record)
 * projects/<id>/project.json             title, description, labeling config and settings
 * projects/<id>/project.users.json       the organization's members [{id, email}], to map `completed_by`
 * projects/<id>/tasks.json               the full JSON export (download_all_tasks=true), byte for byte
 * projects/<id>/tasks.predictions.json   the project's predictions (the export lists only their ids)
 * ```
 * Exports are downloaded to an unlinked temporary file before they are yielded: the size must be
 * exact before the content is read, and the server holds a whole export in memory until it is read.
 */
export async function* backupEntries(settings: ApiSettings, ctx: SourceBackupContext): AsyncGenerator<SourceEntry> {
  const client = new LabelStudioClient(settings, 'backup', ctx.signal);
  const spool = new Spool('cairn-label-studio-');
  let finished = false;
  try {
    const ids = settings.projects.length ? settings.projects : await listProjectIds(client);
    // All projects are read first, so a wrong id or token fails before anything is stored.
    const projects: Project[] = [];
    for (const id of ids) {
      try {
        projects.push(await getProject(client, id));
      } catch (error) {
        // A project deleted between the listing and now is simply gone; a named one must exist.
        if (settings.projects.length || !(error instanceof SourceError && error.code === 'SOURCE_NOT_FOUND')) throw error;
        ctx.logger.info(`[label-studio] project ${id} was deleted during the backup: left out`);
      }
    }
    const members = await membersOrNone(client, ctx);
    const now = Date.now();

    yield dir('projects', now);
    for (const project of projects) {
      const root = `projects/${project.id}`;
      const created = time(project.created_at) ?? now;
      yield dir(root, created, { id: project.id, title: project.title });
      if (settings.includeSnapshots) yield* snapshotEntries(client, spool, project, root, ctx);
      yield memoryFile(`${root}/${FILES.project}`, created, pickSettings(project), { id: project.id, createdAt: project.created_at ?? null, createdBy: project.created_by?.email ?? null });
      yield memoryFile(`${root}/${FILES.users}`, created, members);
      const tasks = await download(client, spool, exportPath(project.id), EXPORT_QUERY, `exporting the tasks of project ${project.id}`, projectNotFound(client, project.id));
      yield spooledFile(`${root}/${FILES.tasks}`, Date.now(), tasks);
      const predictions = await download(client, spool, '/api/predictions/', { project: String(project.id) }, `reading the predictions of project ${project.id}`);
      yield spooledFile(`${root}/${FILES.predictions}`, Date.now(), predictions);
    }
    finished = true;
  } finally {
    // Files not read yet stay open for the repository, which reads ahead of where the walk is; a
    // backup that stopped early closes them.
    if (!finished) await spool.dispose();
    else {
      await spool.removeDirectory();
      ctx.signal.addEventListener('abort', () => void spool.dispose(), { once: true });
    }
  }
}

async function membersOrNone(client: LabelStudioClient, ctx: SourceBackupContext): Promise<Member[]> {
  try {
    return await listMembers(client);
  } catch (error) {
    if (!(error instanceof LabelStudioHttpError) || error.status === 401) throw error;
    // Without the list, a restore attributes annotations to the importing user; not worth failing a backup for.
    ctx.logger.warn(`[label-studio] cannot list the users of the organization, so annotators will not be mapped by email on restore: ${(error as Error).message}`);
    return [];
  }
}

async function* snapshotEntries(client: LabelStudioClient, spool: Spool, project: Project, root: string, ctx: SourceBackupContext): AsyncGenerator<SourceEntry> {
  const snapshots = (await listSnapshots(client, project.id)).sort((a, b) => a.id - b.id);
  yield dir(`${root}/${FILES.exports}`, time(project.created_at) ?? Date.now());
  for (const snapshot of snapshots) {
    const path = `${root}/${FILES.exports}/${snapshot.id}.json`;
    if (snapshot.status !== 'completed') {
      ctx.logger.info(`[label-studio] export snapshot ${snapshot.id} of project ${project.id} is ${snapshot.status ?? 'not completed'}: left out`);
      continue;
    }
    const downloadPath = `/api/projects/${project.id}/exports/${snapshot.id}/download`;
    const what = `downloading export snapshot ${snapshot.id} of project ${project.id}`;
    const metadata = snapshotMetadata(snapshot);
    const mtimeMs = time(snapshot.finished_at) ?? time(snapshot.created_at) ?? Date.now();
    // A completed snapshot never changes: its size comes from a one-byte range request, and the
    // repository can skip downloading it again (changeKey).
    const probe = await client.request('GET', downloadPath, { what, query: { exportType: 'JSON' }, headers: { Range: 'bytes=0-0' }, accept: [404] });
    if (probe.status === 404) {
      await probe.body?.cancel().catch(() => {});
      ctx.warn(path, `export snapshot ${snapshot.id} of project ${project.id} has no file on the server (HTTP 404)`);
      continue;
    }
    const total = /\/(\d+)$/.exec(probe.headers.get('content-range') ?? '')?.[1];
    if (probe.status === 206 && total !== undefined) {
      await probe.body?.cancel().catch(() => {});
      const size = Number(total);
      yield {
        path, type: 'file', mode: FILE_MODE, mtimeMs, size, metadata,
        ...(snapshot.md5 ? { changeKey: `${snapshot.id}:${snapshot.md5}` } : {}),
        open: () => exactly(client.request('GET', downloadPath, { what, query: { exportType: 'JSON' } }).then((r) => client.body(r, what)), size, what),
      };
    } else {
      // The server ignored the range: this answer is the whole file.
      const spooled = await spool.write(client.body(probe, what));
      yield { ...spooledFile(path, mtimeMs, spooled), metadata };
    }
  }
}

async function download(
  client: LabelStudioClient, spool: Spool, path: string, query: Record<string, string>, what: string, notFound?: () => string,
): Promise<Spooled> {
  const response = await client.request('GET', path, { what, query, ...(notFound ? { notFound } : {}) });
  const expected = response.headers.get('content-length');
  const spooled = await spool.write(client.body(response, what));
  if (expected !== null && Number(expected) !== spooled.size) {
    await spooled.close();
    throw new SourceError('SOURCE_UNREADABLE', `${what}: ${client.url} sent ${spooled.size} bytes where it announced ${expected}; try again`, { plugin: 'label-studio' });
  }
  return spooled;
}

/** Streams `source` and fails when it does not give exactly `size` bytes. */
async function* exactly(source: Promise<AsyncIterable<Uint8Array>>, size: number, what: string): AsyncGenerator<Uint8Array> {
  let received = 0;
  for await (const chunk of await source) {
    received += chunk.byteLength;
    if (received > size) throw new SourceError('SOURCE_UNREADABLE', `${what}: more than the ${size} bytes announced`, { plugin: 'label-studio' });
    yield chunk;
  }
  if (received !== size) throw new SourceError('SOURCE_UNREADABLE', `${what}: ${received} bytes where ${size} were announced`, { plugin: 'label-studio' });
}

function snapshotMetadata(snapshot: ExportSnapshot): Record<string, unknown> {
  return {
    id: snapshot.id,
    title: snapshot.title ?? '',
    createdAt: snapshot.created_at ?? null,
    finishedAt: snapshot.finished_at ?? null,
    md5: snapshot.md5 ?? null,
    counters: snapshot.counters ?? {},
    createdBy: snapshot.created_by?.email ?? null,
  };
}

function dir(path: string, mtimeMs: number, metadata?: Record<string, unknown>): SourceEntry {
  return { path, type: 'dir', mode: DIR_MODE, mtimeMs, size: 0, ...(metadata ? { metadata } : {}) };
}

function memoryFile(path: string, mtimeMs: number, value: unknown, metadata?: Record<string, unknown>): SourceEntry {
  const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
  return {
    path, type: 'file', mode: FILE_MODE, mtimeMs, size: body.length, ...(metadata ? { metadata } : {}),
    open: async function* () {
      yield body;
    },
  };
}

function spooledFile(path: string, mtimeMs: number, spooled: Spooled): SourceEntry {
  return { path, type: 'file', mode: FILE_MODE, mtimeMs, ...spooledContent(spooled) };
}

function time(text: string | null | undefined): number | undefined {
  if (!text) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}
