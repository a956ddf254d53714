import type { ForgetResult, RetentionPolicy, Snapshot } from '@cairn/repository';
import type { Cairn, RepositoryRef, RunMeta } from './api.js';
import type { SourceInstance } from './contracts.js';
import { CairnError, ConfigError } from './errors.js';
import type { DeletePlan } from './hooks.js';

/**
 * Backup before delete, for host apps: the item is backed up first, the deletion runs only when
 * that backup is complete, and the snapshot stays findable by the app's own kind and id — a
 * recycle bin with its own retention.
 */
export interface GuardDeleteRequest extends RunMeta {
  /** What the app deletes (`project`, `user`): selects the `beforeDelete.for(kind)` taps and tags the snapshot. */
  kind: string;
  /** The app's own id of the item (`42`), so the app can find and restore it later. */
  id: string;
  repository: RepositoryRef;
  /** What to back up; `beforeDelete.for(kind)` taps may add to it or replace it. */
  sources?: SourceInstance[];
  /** Extra tags for the snapshot. */
  tags?: string[];
  /**
   * The recycle bin's retention for this kind, applied after a successful delete to the snapshots
   * of deleted items of this kind only (and pruned): e.g. `{ keepWithin: '30d' }`.
   */
  retention?: RetentionPolicy;
  signal?: AbortSignal;
}

export interface GuardDeleteResult<T> {
  /** The snapshot that holds the item as it was just before the delete. */
  snapshot: Snapshot;
  /** What the delete function returned. */
  deleted: T;
  /** The recycle bin's retention, when the request had one and it ran. */
  retention?: ForgetResult;
}

/** The tags of a deleted item's snapshot: every deleted item, every item of its kind, the item itself. */
export function deletedTags(kind: string, id?: string): string[] {
  return ['deleted', `deleted:${kind}`, ...(id !== undefined ? [`deleted:${kind}:${id}`] : [])];
}

const KIND = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function checkRequest(request: GuardDeleteRequest): void {
  if (typeof request !== 'object' || request === null) throw new ConfigError('guardDelete: expected a request { kind, id, repository, … }');
  if (typeof request.kind !== 'string' || !KIND.test(request.kind)) {
    throw new ConfigError(`guardDelete: kind must be a word of letters, digits, "_", "." or "-" (e.g. "project"), got ${JSON.stringify(request.kind)}`);
  }
  if (typeof request.id !== 'string' || request.id === '' || /[\s\0]/.test(request.id)) {
    throw new ConfigError(`guardDelete: id must be a non-empty string without spaces (the app's own id of the ${request.kind}), got ${JSON.stringify(request.id)}`);
  }
}

/**
 * Runs `remove` only after a complete backup of the item. A failed or incomplete backup throws
 * DELETE_NOT_GUARDED and the item is left alone; a failing `remove` throws its own error (the
 * snapshot then stays in the recycle bin, harmless). A failing retention after a successful
 * delete is logged, not thrown: the delete happened, and saying otherwise would mislead the app.
 */
export async function guardDelete<T>(cairn: Cairn, request: GuardDeleteRequest, remove: (snapshot: Snapshot) => Promise<T> | T): Promise<GuardDeleteResult<T>> {
  checkRequest(request);
  if (typeof remove !== 'function') throw new ConfigError('guardDelete: the second argument must be the function that deletes the item');
  const { kind, id } = request;
  const item = `${kind} ${id}`;
  const initial: DeletePlan = { kind, id, sources: [...(request.sources ?? [])], tags: [...deletedTags(kind, id), ...(request.tags ?? [])] };
  const plan = await cairn.hooks.beforeDelete.for(kind).promise(initial);
  if (!plan || !Array.isArray(plan.sources) || plan.sources.length === 0) {
    throw new ConfigError(`guardDelete: nothing to back up for ${item}: pass sources, or tap cairn.hooks.beforeDelete.for('${kind}') to name them`);
  }
  const meta: RunMeta = {
    ...(request.requestedBy !== undefined ? { requestedBy: request.requestedBy } : {}),
    ...(request.job !== undefined ? { job: request.job } : {}),
    ...(request.environment !== undefined ? { environment: request.environment } : {}),
  };

  let backup;
  try {
    backup = await cairn.backup({
      ...meta, repository: request.repository, sources: plan.sources, tags: [...new Set(plan.tags)],
      ...(request.signal ? { signal: request.signal } : {}),
    });
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new CairnError('DELETE_NOT_GUARDED', `${item} was not deleted: its backup failed (${why})`, { cause: error });
  }
  if (backup.warnings.length > 0) {
    const first = backup.warnings[0]!;
    throw new CairnError(
      'DELETE_NOT_GUARDED',
      `${item} was not deleted: its backup skipped ${backup.warnings.length} entr${backup.warnings.length === 1 ? 'y' : 'ies'} (first: ${first.path}: ${first.message}); snapshot ${backup.snapshot.id.slice(0, 8)} is incomplete`,
    );
  }

  cairn.logger.info(`${item} backed up to snapshot ${backup.snapshot.id.slice(0, 8)}; deleting it`, { kind, id, snapshot: backup.snapshot.id });
  const deleted = await remove(backup.snapshot);
  const result: GuardDeleteResult<T> = { snapshot: backup.snapshot, deleted };
  if (request.retention) {
    try {
      result.retention = await cairn.forget({ ...meta, repository: request.repository, policy: request.retention, tags: deletedTags(kind), prune: true });
    } catch (error) {
      cairn.logger.warn(`${item} was deleted, but the recycle bin's retention failed: ${error instanceof Error ? error.message : String(error)}`, { kind, id });
    }
  }
  return result;
}

/** Snapshots of deleted items of `kind` (of one item with `id`), newest first. */
export async function findDeleted(cairn: Cairn, request: { repository: RepositoryRef; kind: string; id?: string } & RunMeta): Promise<Snapshot[]> {
  const tags = deletedTags(request.kind, request.id);
  const snapshots = await cairn.snapshots({ repository: request.repository, ...(request.requestedBy !== undefined ? { requestedBy: request.requestedBy } : {}) });
  return snapshots.filter((snapshot) => tags.every((tag) => snapshot.tags.includes(tag))).sort((a, b) => b.time.localeCompare(a.time));
}
