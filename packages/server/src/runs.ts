import { FINAL_QUEUE_RUN_STATUSES } from '@cairn/core';
import type { HistoryStore, JobQueue, RunInfo, RunRecord, RunStatus } from '@cairn/core';
import type { z } from 'zod';
import type { RestoreRuns } from './restores.js';
import type { RunFeed, RunProgress } from './run-feed.js';
import type { apiRun, apiRunStatus } from './schemas.js';

export type ApiRunStatus = z.output<typeof apiRunStatus>;

/** A run as the API shows it; its schema (the OpenAPI document's too) says what each field holds. */
export type ApiRun = z.output<typeof apiRun>;

export function isFinal(status: ApiRunStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'aborted' || status === 'removed';
}

function fromQueue(info: RunInfo): ApiRun {
  return {
    id: info.id,
    operation: 'backup',
    job: info.request.job,
    ...(info.request.environment ? { environment: info.request.environment } : {}),
    status: info.status === 'waiting' ? 'queued' : info.status,
    ...(info.request.requestedBy ? { requestedBy: info.request.requestedBy } : {}),
    options: info.request.options ?? {},
    queuedAt: info.enqueuedAt,
    startedAt: info.startedAt ?? info.enqueuedAt,
    ...(info.endedAt ? { endedAt: info.endedAt } : {}),
    ...(info.error ? { error: info.error } : {}),
    ...(info.progress ? { progress: info.progress } : {}),
  };
}

/** The history's record, with the queue's word on the status when it knows the run ended and the history has not caught up. */
function merge(record: RunRecord | undefined, info: RunInfo | undefined, progress: RunProgress | undefined): ApiRun {
  const queued = info ? fromQueue(info) : undefined;
  let run: ApiRun;
  if (!record) run = queued!;
  else {
    run = { ...record } as ApiRun;
    if (queued && !isFinal(record.status) && isFinal(queued.status)) {
      run.status = queued.status;
      if (queued.endedAt) run.endedAt = queued.endedAt;
      if (queued.error) run.error = queued.error;
    }
  }
  const latest = progress ?? queued?.progress;
  if (latest && !isFinal(run.status)) run.progress = latest;
  else delete run.progress;
  return run;
}

export interface RunQuery {
  job?: string;
  status?: ApiRunStatus[];
  since?: Date;
  until?: Date;
  limit: number;
}

/** Reads runs from the history, the queue and the restores under way, as one list. */
export class RunsView {
  constructor(
    private readonly history: HistoryStore,
    private readonly queue: JobQueue,
    private readonly feed: RunFeed,
    private readonly restores: RestoreRuns,
  ) {}

  async get(id: string): Promise<ApiRun | undefined> {
    const [record, info] = await Promise.all([this.history.getRun(id), this.queue.get(id)]);
    if (!record && !info) {
      const restore = this.restores.status(id);
      if (!restore) return undefined;
      return {
        id, operation: 'restore', status: restore.status === 'running' ? 'running' : restore.status as ApiRunStatus, startedAt: restore.startedAt,
        requestedBy: restore.request.requestedBy, options: { repository: restore.request.repository, snapshot: restore.request.snapshot },
        ...(this.feed.latest(id) ? { progress: this.feed.latest(id)! } : {}),
      };
    }
    const run = merge(record, info, this.feed.latest(id));
    // A restore that ended here before the history heard of its end.
    const restore = this.restores.status(id);
    if (restore && !isFinal(run.status) && FINAL_QUEUE_RUN_STATUSES.includes(restore.status)) {
      run.status = restore.status as ApiRunStatus;
      delete run.progress;
    }
    return run;
  }

  async list(query: RunQuery): Promise<ApiRun[]> {
    const historyStatuses = query.status?.filter((s): s is RunStatus => s !== 'removed');
    const [records, infos] = await Promise.all([
      query.status && historyStatuses!.length === 0 ? Promise.resolve([]) : this.history.listRuns({
        ...(query.job ? { job: query.job } : {}), ...(historyStatuses ? { status: historyStatuses } : {}),
        ...(query.since ? { since: query.since } : {}), ...(query.until ? { until: query.until } : {}), limit: query.limit,
      }),
      this.queue.list({ limit: Math.max(query.limit, 100) }),
    ]);
    const byId = new Map(infos.map((info) => [info.id, info]));
    const runs = records.map((record) => merge(record, byId.get(record.id), this.feed.latest(record.id)));
    const seen = new Set(records.map((r) => r.id));
    for (const info of infos) {
      if (seen.has(info.id)) continue;
      // Runs the history has not recorded yet (queued, or taken by a worker that records elsewhere).
      const run = merge(undefined, info, this.feed.latest(info.id));
      const time = new Date(run.startedAt);
      if (query.job && run.job !== query.job) continue;
      if (query.since && time < query.since) continue;
      if (query.until && time >= query.until) continue;
      runs.push(run);
    }
    return runs
      .filter((run) => !query.status || query.status.includes(run.status))
      .sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0))
      .slice(0, query.limit);
  }
}
