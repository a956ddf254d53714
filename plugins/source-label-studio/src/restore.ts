import { ConfigError, SourceError, Spool } from '@cairn/core';
import type { RestoreEntry, RestoreMode, RestoreResult, SourceRestoreContext, Spooled } from '@cairn/core';
import { EXPORT_QUERY, exportPath, listMembers, type Member, type Project } from './api.js';
import { FILES } from './backup.js';
import { LabelStudioClient, LabelStudioHttpError } from './client.js';
import { jsonArrayItems } from './json-array.js';
import type { ApiSettings } from './options.js';
import type { ProjectSettings } from './project-settings.js';
import { TaskDigest, importablePrediction, importableTask, type ExportedTask, type ListedPrediction } from './tasks.js';

const PLUGIN = 'label-studio';
/** Tasks are imported in requests of about this many bytes (the server takes up to 200 MB), or this many tasks. */
const BATCH_BYTES = 4 * 1024 * 1024;
const BATCH_ITEMS = 1000;

interface Shared {
  client: LabelStudioClient;
  settings: ApiSettings;
  mode: RestoreMode;
  /** The existing project to fill; undefined: create one per backed-up project. */
  into: Project | undefined;
  /** Emails of this server's organization members. */
  members: Set<string>;
  spool: Spool;
  ctx: SourceRestoreContext;
}

/**
 * Restores the projects of a snapshot into a live server: into a new project each (`--to
 * label-studio+http://host:port`), or into one existing project (`…/projects/ID`), which mode
 * `new` wants empty, `merge` adds to, and `replace` empties first. Tasks are read from the stored
 * export one at a time and imported in batches, so no export is ever held whole in memory.
 */
export async function restoreEntries(settings: ApiSettings, entries: AsyncIterable<RestoreEntry>, ctx: SourceRestoreContext): Promise<RestoreResult> {
  if (ctx.mode !== 'origin') {
    throw new ConfigError(`restore mode "${ctx.mode}" is not the label-studio source's: it restores into a server (--to label-studio+http://host:port); a restore into a directory needs no source`, { plugin: PLUGIN });
  }
  const mode = ctx.restoreMode ?? 'new';
  if (settings.projects.length > 1) {
    throw new ConfigError(`restore into one project (…/projects/ID), or into the server (no /projects) to create a project per backed-up one; not into ${settings.projects.length} projects`, { plugin: PLUGIN });
  }
  const client = new LabelStudioClient(settings, 'restore', ctx.signal);
  const id = settings.projects[0];
  if (id === undefined && mode !== 'new') {
    throw new ConfigError(`--mode ${mode} works with an existing project: restore into ${settings.url.replace(/^http/, 'label-studio+http')}/projects/ID; without a project id each backed-up project becomes a new project`, { plugin: PLUGIN });
  }
  let into: Project | undefined;
  if (id !== undefined) {
    into = await client.json<Project>('GET', `/api/projects/${id}/`, {
      what: `reading project ${id}`,
      notFound: () => `project ${id} does not exist on ${client.url}, or the token's user cannot see it: create it first, or restore into the server (without /projects/${id}) to create a new project`,
    });
    const tasks = into.task_number ?? 0;
    if (mode === 'new' && tasks > 0) {
      throw new SourceError('RESTORE_UNWRITABLE', `project ${id} on ${client.url} already holds ${tasks} task${tasks === 1 ? '' : 's'}: restore into an empty project, or choose --mode merge (add the tasks) or --mode replace (delete its tasks first)`, { plugin: PLUGIN });
    }
  }
  const members = new Set((await membersOrNone(client, ctx)).map((m) => m.email.toLowerCase()));
  const shared: Shared = { client, settings, mode, into, members, spool: new Spool('cairn-label-studio-'), ctx };

  const result: RestoreResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const done: ProjectRestore[] = [];
  let current: ProjectRestore | undefined;
  let snapshotsLeft = 0;
  try {
    for await (const entry of entries) {
      if (entry.path === 'projects' && entry.type === 'dir') {
        result.dirs++;
        continue;
      }
      const match = /^projects\/(\d+)(?:\/(.+))?$/.exec(entry.path);
      if (!match) {
        throw new ConfigError(`this snapshot does not hold Label Studio projects (it has ${JSON.stringify(entry.path)}): a snapshot made in mode export-dir restores into a directory (--target DIR)`, { plugin: PLUGIN });
      }
      const sourceId = Number(match[1]);
      if (current?.sourceId !== sourceId) {
        if (current) done.push(await current.finish());
        if (into && done.length > 0) {
          throw new SourceError('RESTORE_UNWRITABLE', `the snapshot holds several projects; project ${done[0]!.sourceId} was restored into project ${into.id}, the rest not: restore a single project (--source NAME of a one-project backup) into …/projects/ID, or the whole snapshot into the server (without /projects/ID)`, { plugin: PLUGIN });
        }
        current = new ProjectRestore(sourceId, shared);
      }
      const name = match[2];
      if (entry.type === 'dir') {
        result.dirs++;
        continue;
      }
      if (name === undefined || name.startsWith(`${FILES.exports}/`)) {
        snapshotsLeft++;
        continue;
      }
      await current.file(name, entry);
      result.files++;
      result.bytes += entry.size;
      ctx.onProgress?.({ filesDone: result.files, bytesDone: result.bytes });
    }
    if (current) done.push(await current.finish());
  } finally {
    await shared.spool.dispose();
  }
  if (done.length === 0) throw new SourceError('RESTORE_UNWRITABLE', 'the snapshot holds no Label Studio project: nothing was restored', { plugin: PLUGIN });
  // A new project's id is only known now: say where each went, in the form `--to` takes.
  result.destination = done.map((project) => `label-studio+${client.url.replace(/\/+$/, '')}/projects/${project.projectId}`).join(', ');
  if (snapshotsLeft > 0) {
    ctx.logger.info(`[label-studio] ${snapshotsLeft} export snapshot file${snapshotsLeft === 1 ? ' was' : 's were'} not put back into the server (Label Studio cannot import a snapshot as one); restore them into a directory with --target DIR`);
  }
  return result;
}

async function membersOrNone(client: LabelStudioClient, ctx: SourceRestoreContext): Promise<Member[]> {
  try {
    return await listMembers(client);
  } catch (error) {
    if (!(error instanceof LabelStudioHttpError) || error.status === 401) throw error;
    ctx.logger.warn(`[label-studio] cannot list the users of the organization, so every annotation is credited to the importing user: ${(error as Error).message}`);
    return [];
  }
}

/** One backed-up project on its way into the server. */
class ProjectRestore {
  #settings: ProjectSettings | undefined;
  #users = new Map<number, string>();
  #usersSeen = false;
  #projectId: number | undefined;

  /** The project the tasks went into (created, or given with --to …/projects/ID); known once restored. */
  get projectId(): number | undefined {
    return this.#projectId;
  }
  #tasksDone = false;
  #pending: { tasks?: Spooled; predictions?: Spooled } = {};
  /** Maps task ids of the backed-up server onto the new ones, for the predictions. */
  readonly #taskIds = new Map<number, number>();
  readonly #imported = new TaskDigest();
  #before = new TaskDigest();
  #annotations = 0;
  #predictions = 0;
  #predictionsSkipped = 0;
  #uncredited = 0;

  constructor(readonly sourceId: number, private readonly shared: Shared) {}

  async file(name: string, entry: RestoreEntry): Promise<void> {
    switch (name) {
      case FILES.project:
        this.#settings = JSON.parse(await readText(entry)) as ProjectSettings;
        await this.#prepare();
        return;
      case FILES.users: {
        const users = JSON.parse(await readText(entry)) as Member[];
        for (const user of users) this.#users.set(user.id, user.email.toLowerCase());
        this.#usersSeen = true;
        return;
      }
      case FILES.tasks:
        // Entries come sorted by name, which is the order needed; anything else is parked on disk.
        if (this.#projectId === undefined || !this.#usersSeen) this.#pending.tasks = await this.shared.spool.write(entry.open());
        else await this.#importTasks(entry.open());
        return;
      case FILES.predictions:
        if (!this.#tasksDone) this.#pending.predictions = await this.shared.spool.write(entry.open());
        else await this.#importPredictions(entry.open());
        return;
      default:
        this.shared.ctx.logger.warn(`[label-studio] projects/${this.sourceId}/${name}: not a file this source knows; left out`);
    }
  }

  async finish(): Promise<this> {
    if (!this.#settings) throw this.#fail(`the snapshot lacks ${FILES.project} of project ${this.sourceId}: it cannot be restored`);
    if (this.#pending.tasks) await this.#importTasks(this.#pending.tasks.open());
    if (!this.#tasksDone) throw this.#fail(`the snapshot lacks ${FILES.tasks} of project ${this.sourceId}: its tasks cannot be restored`);
    if (this.#pending.predictions) await this.#importPredictions(this.#pending.predictions.open());
    const id = this.#projectId!;
    const { client, ctx } = this.shared;
    const modelVersion = this.#settings.model_version;
    if (this.shared.mode !== 'merge' && typeof modelVersion === 'string' && modelVersion !== '') {
      // Accepted only once a prediction carries that version; a version of an ML backend is not restored.
      try {
        await client.request('PATCH', `/api/projects/${id}/`, { what: `setting the model version of project ${id}`, body: JSON.stringify({ model_version: modelVersion }) });
      } catch (error) {
        ctx.logger.warn(`[label-studio] project ${id}: model version "${modelVersion}" not set (${(error as Error).message})`);
      }
    }
    if (this.shared.settings.verify) await this.#verify(id);
    if (this.#predictionsSkipped) ctx.logger.warn(`[label-studio] project ${id}: ${this.#predictionsSkipped} predictions of tasks not in the export (deleted during the backup) were left out`);
    if (this.#uncredited) ctx.logger.info(`[label-studio] project ${id}: ${this.#uncredited} annotations by users who are not members here are credited to the importing user`);
    ctx.logger.info(`[label-studio] project ${this.sourceId} restored into project ${id} on ${client.url}: ${this.#imported.tasks} tasks, ${this.#annotations} annotations, ${this.#predictions} predictions`);
    return this;
  }

  /** Creates the project, or readies the existing one, once its settings are known. */
  async #prepare(): Promise<void> {
    const { client, mode, into } = this.shared;
    const { model_version: _version, ...settings } = this.#settings!;
    if (!into) {
      const created = await client.json<Project>('POST', '/api/projects/', {
        what: `creating a project for project ${this.sourceId}`, body: JSON.stringify(settings),
      });
      this.#projectId = created.id;
      return;
    }
    this.#projectId = into.id;
    if (mode === 'merge') {
      // The project keeps its own config and settings; the digest of what it has already is the base to verify against.
      if (this.shared.settings.verify) this.#before = await this.#summarize(into.id);
      return;
    }
    if (mode === 'replace') {
      await client.request('DELETE', `/api/projects/${into.id}/tasks/`, { what: `deleting the tasks of project ${into.id}` });
    }
    const { title: _title, ...rest } = settings;
    await client.request('PATCH', `/api/projects/${into.id}/`, { what: `applying the labeling config and settings to project ${into.id}`, body: JSON.stringify(rest) });
  }

  async #importTasks(content: AsyncIterable<Uint8Array>): Promise<void> {
    const id = this.#projectId!;
    const what = `importing tasks into project ${id}`;
    let batch: string[] = [];
    let sourceIds: number[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const answer = await this.shared.client.json<{ task_count?: number; task_ids?: number[] }>('POST', `/api/projects/${id}/import`, {
        what, query: { return_task_ids: 'true' }, body: `[${batch.join(',')}]`,
      });
      const ids = answer.task_ids ?? [];
      if (ids.length !== batch.length) throw this.#fail(`${what}: the server created ${ids.length} tasks out of ${batch.length}`);
      ids.forEach((newId, i) => this.#taskIds.set(sourceIds[i]!, newId));
      batch = [];
      sourceIds = [];
      bytes = 0;
    };
    const annotator = (completedBy: unknown) => {
      const email = typeof completedBy === 'number' ? this.#users.get(completedBy)
        : typeof completedBy === 'object' && completedBy !== null ? String((completedBy as { email?: unknown }).email ?? '').toLowerCase() : undefined;
      if (email && this.shared.members.has(email)) return { email };
      this.#uncredited++;
      return undefined;
    };
    for await (const item of jsonArrayItems(content, `${FILES.tasks} of project ${this.sourceId}`)) {
      const task = item as ExportedTask;
      if (typeof task !== 'object' || task === null || typeof task.id !== 'number' || task.data === undefined) {
        throw this.#fail(`${FILES.tasks} of project ${this.sourceId} holds something that is not an exported task`);
      }
      this.#imported.add(task);
      this.#annotations += task.annotations?.length ?? 0;
      const body = JSON.stringify(importableTask(task, annotator));
      batch.push(body);
      sourceIds.push(task.id);
      bytes += body.length;
      if (bytes >= BATCH_BYTES || batch.length >= BATCH_ITEMS) await flush();
    }
    await flush();
    this.#tasksDone = true;
  }

  async #importPredictions(content: AsyncIterable<Uint8Array>): Promise<void> {
    const id = this.#projectId!;
    const what = `importing predictions into project ${id}`;
    let batch: string[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      await this.shared.client.request('POST', `/api/projects/${id}/import/predictions`, { what, body: `[${batch.join(',')}]` });
      this.#predictions += batch.length;
      batch = [];
      bytes = 0;
    };
    for await (const item of jsonArrayItems(content, `${FILES.predictions} of project ${this.sourceId}`)) {
      const prediction = item as ListedPrediction;
      const task = this.#taskIds.get(prediction.task);
      if (task === undefined) {
        this.#predictionsSkipped++;
        continue;
      }
      const body = JSON.stringify(importablePrediction(prediction, task));
      batch.push(body);
      bytes += body.length;
      if (bytes >= BATCH_BYTES || batch.length >= BATCH_ITEMS) await flush();
    }
    await flush();
  }

  /** Exports the project again and checks it holds what the snapshot had (plus, for merge, what it held before). */
  async #verify(id: number): Promise<void> {
    const after = await this.#summarize(id);
    const expected = this.#before.plus(this.#imported);
    expected.predictions = this.#before.predictions + this.#predictions;
    const where = `project ${id} on ${this.shared.client.url}`;
    if (after.tasks !== expected.tasks) {
      throw this.#fail(`verifying the restore: ${where} holds ${after.tasks} tasks where ${expected.tasks} were expected; run the restore again into a new project`);
    }
    if (after.sum !== expected.sum) {
      throw this.#fail(`verifying the restore: the task data or annotation results of ${where} differ from the snapshot; run the restore again into a new project`);
    }
    if (after.predictions !== expected.predictions) {
      throw this.#fail(`verifying the restore: ${where} holds ${after.predictions} predictions where ${expected.predictions} were expected`);
    }
  }

  async #summarize(id: number): Promise<TaskDigest> {
    const { client } = this.shared;
    const what = `exporting project ${id} to verify it`;
    const response = await client.request('GET', exportPath(id), { what, query: EXPORT_QUERY });
    const digest = new TaskDigest();
    for await (const task of jsonArrayItems(client.body(response, what), `the export of project ${id}`)) digest.add(task as ExportedTask);
    return digest;
  }

  #fail(message: string): SourceError {
    return new SourceError('RESTORE_UNWRITABLE', message, { plugin: PLUGIN });
  }
}

async function readText(entry: RestoreEntry): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const part of entry.open()) parts.push(part);
  return Buffer.concat(parts).toString('utf8');
}
