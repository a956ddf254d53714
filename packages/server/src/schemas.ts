import { retentionSchema, scheduleSchema } from '@cairn/core';
import { z } from 'zod';

/*
 * The request shapes: the same schemas validate requests and generate the OpenAPI document.
 * Bodies are strict (an unknown field is a 400); query strings are not (a cache-buster is harmless).
 */

const text = (max: number) => z.string().trim().min(1).max(max);
const time = z.iso.datetime({ offset: true }).describe('ISO-8601 time, e.g. 2025-05-01T12:00:00Z');

export const BACKUP_TYPES = ['database', 'user_data', 'storage'] as const;
const profile = z.enum(['with-user-data', 'without-user-data']);
const logLevel = z.enum(['debug', 'info', 'warn', 'error']);
/** Where a run is, as the API says it: the history's statuses, plus `removed` for a run taken off the queue. */
export const apiRunStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'aborted', 'removed']);

export const triggerByType = z.strictObject({
  type: z.enum(BACKUP_TYPES).describe('The kind of data: picks the one job whose config `type` matches (and covers the environment).'),
  description: text(500).optional().describe('Why this backup: recorded with the run.'),
  database_name: text(200).optional().describe('With type `database` (required there): the database to back up.'),
  storage_path: text(1000).optional().describe('With type `storage` (required there): the path or prefix to back up.'),
  environment: text(100).optional().describe('The environment to back up (`production`).'),
}).superRefine((body, ctx) => {
  if (body.type === 'database' && body.database_name === undefined) ctx.addIssue({ code: 'custom', path: ['database_name'], message: 'type database needs database_name' });
  if (body.type === 'storage' && body.storage_path === undefined) ctx.addIssue({ code: 'custom', path: ['storage_path'], message: 'type storage needs storage_path' });
});

export const triggerByJob = z.strictObject({
  job: text(200).describe('A job of the config, by name.'),
  environment: text(100).optional().describe('The environment to back up; must be one of the job\'s.'),
  description: text(500).optional().describe('Why this backup: recorded with the run.'),
  profile: profile.optional().describe('Overrides the job\'s profile for this run.'),
});

/** Either shape; which one is decided by the presence of `job`, so the issues name the right fields. */
export const triggerBody = z.union([triggerByJob, triggerByType]);

export const triggerResult = z.object({
  runId: z.string(), deduplicated: z.boolean().describe('True when an identical run was already queued or running: its id is returned.'), job: z.string(),
});

export const restoreBody = z.strictObject({
  repository: text(200).describe('A repository of the config, by name.'),
  snapshot: text(100).default('latest').describe('`latest` (default), a snapshot id or a unique id prefix.'),
  at: time.optional().describe('Point in time: the newest snapshot taken at or before it (with snapshot `latest`).'),
  targetDir: z.string().min(1).max(4096).refine((path) => !path.includes('\0'), 'a path has no NUL character').optional()
    .describe('The folder to restore into, relative to the server\'s restore folder (`restore-2026-11-22-10-00`, `docs/today`); created if missing. Restore never writes outside it.'),
  to: text(4096).optional().describe('A live system to restore into, as a source URL (a database, a bucket).'),
  mode: z.enum(['new', 'merge', 'replace']).optional().describe('With `to`: what to do with data already there (default `new`: refuse a destination holding data).'),
  source: text(200).optional().describe('The snapshot\'s source to restore, by name; needed with `to` when the snapshot has several.'),
  include: z.array(z.string().min(1).max(4096).refine((path) => !path.split('/').includes('..'), 'a snapshot path has no ".." segments'))
    .max(1000).optional().describe('Snapshot paths to restore (with `targetDir`), as the tree endpoint names them.'),
}).superRefine((body, ctx) => {
  if ((body.targetDir === undefined) === (body.to === undefined)) ctx.addIssue({ code: 'custom', path: [], message: 'give targetDir (a directory) or to (a source URL), not both' });
  if (body.at !== undefined && body.snapshot !== 'latest') ctx.addIssue({ code: 'custom', path: ['at'], message: 'at picks the snapshot by time: use it with snapshot latest' });
  if (body.mode !== undefined && body.to === undefined) ctx.addIssue({ code: 'custom', path: ['mode'], message: 'mode works with to only' });
  if (body.include !== undefined && body.to !== undefined) ctx.addIssue({ code: 'custom', path: ['include'], message: 'include works with targetDir only' });
});

const statusList = z.string().transform((value, ctx) => {
  const statuses = value.split(',').map((s) => s.trim()).filter(Boolean);
  const known: readonly string[] = apiRunStatus.options;
  const unknown = statuses.filter((s) => !known.includes(s));
  if (unknown.length) ctx.addIssue({ code: 'custom', message: `unknown status ${unknown.join(', ')} (one of ${known.join(', ')})` });
  return statuses as Array<z.output<typeof apiRunStatus>>;
});

const limit = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback);

export const runsQuery = z.object({
  job: text(200).optional(),
  status: statusList.optional().describe('One status or several, comma-separated: queued, running, succeeded, failed, aborted, removed.'),
  since: time.optional().describe('Runs that started at or after this time.'),
  until: time.optional().describe('Runs that started before this time.'),
  limit: limit(1000, 100),
});

export const logsQuery = z.object({
  minLevel: logLevel.optional(),
  after: z.coerce.number().int().min(0).optional().describe('Only lines after this sequence number.'),
  limit: limit(5000, 1000),
});

export const snapshotsQuery = z.object({
  job: text(200).optional().describe('Only snapshots of this job.'),
  tag: text(200).optional().describe('Only snapshots carrying this tag.'),
});

export const treeQuery = z.object({
  path: z.string().max(4096).default('').describe('The directory to list, `/`-separated, as the snapshot names it; empty for the top.'),
});

export const diffQuery = z.object({
  from: text(100).describe('The older snapshot: id, prefix or `latest`.'),
  to: text(100).describe('The newer snapshot.'),
});

export const estimateQuery = z.object({ environment: text(100).optional() });

export const auditQuery = z.object({
  actor: text(200).optional(),
  action: text(100).optional(),
  since: time.optional(),
  until: time.optional(),
  limit: limit(1000, 100),
});

export const eventsQuery = z.object({ access_token: z.string().optional().describe('The token, for clients that cannot send headers (EventSource).') });

export const errorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({ code: z.string(), path: z.array(z.union([z.string(), z.number()])), message: z.string() })).optional(),
  }),
});

/*
 * The success answers' shapes, for the OpenAPI document (answers are not parsed on their way out;
 * test/responses.test.ts checks real ones against the served document). `ApiRun` is `apiRun`'s type.
 */

const count = z.number().int().min(0);
const entryType = z.enum(['file', 'dir', 'symlink']);
const json = z.record(z.string(), z.unknown());

export const jobList = z.object({
  jobs: z.array(z.object({
    name: z.string(),
    type: z.enum(BACKUP_TYPES).nullable().describe('The kind of data, which `type` triggers pick the job by; null when the config sets none.'),
    description: z.string().nullable(),
    repository: z.string().describe('The repository\'s name in the config.'),
    repositoryLocation: z.string().nullable().describe('Where the repository lives, without credentials.'),
    environments: z.array(z.string()).describe('The environments it runs in; empty for all.'),
    schedule: scheduleSchema.nullable().describe('As the config gives it: a cron expression or shorthand, or { cron, timezone?, missed }; null for none.'),
    retention: retentionSchema.nullable().describe('Which snapshots its runs keep; null: runs forget none.'),
    sources: z.array(z.string()).nullable().describe('Its sources\' names; null when they depend on the environment and the run\'s parameters (named when it runs).'),
    profile: profile.describe('Whether runs include the job\'s user data.'),
    sizeLimit: count.nullable().describe('Largest amount of source data a run may back up, in bytes; null for no limit.'),
  })),
});

export const jobEstimate = z.object({
  job: z.string(),
  environment: z.string().optional(),
  estimate: z.object({
    files: count, dirs: count,
    bytes: count.describe('Content bytes the sources hold now.'),
    filesToRead: count.describe('Files new or changed since the parent snapshot: what a run would read.'),
    bytesToRead: count.describe('Their bytes: an upper bound of the new data.'),
    warnings: count.describe('Entries the sources could not read (a run would skip them).'),
    parent: z.string().optional().describe('The snapshot compared with, if there is one.'),
  }),
  sizeLimit: count.optional().describe('The job\'s size limit in bytes, when it has one.'),
  overLimit: z.boolean().describe('True when a run now would be refused for its size.'),
});

export const runProgress = z.object({
  ratio: z.number().min(0).max(1).optional().describe('How far along, 0 to 1, when the total is known.'),
  filesDone: count.optional(),
  bytesDone: count.optional(),
  filesTotal: count.optional().describe('Expected files, from the parent snapshot.'),
  bytesTotal: count.optional().describe('Expected bytes, from the parent snapshot.'),
  message: z.string().optional().describe('What it is at: the path being read or written.'),
});

/** A run: its history record where there is one, the queue's or the restore's view before, with progress while it runs. */
export const apiRun = z.object({
  id: z.string(),
  operation: z.string().describe('What ran: `backup`, `restore`, `estimate`, `ls`, `diff`, `forget`… (or a host app\'s own kind of run).'),
  job: z.string().optional(),
  environment: z.string().optional(),
  status: apiRunStatus,
  requestedBy: z.string().optional().describe('Who asked: `api:<sub>`, `schedule:<name>`, `cli:<user>`.'),
  options: json.describe('The run\'s parameters and options (description, database_name, snapshot…), secret-free.'),
  repository: z.string().optional().describe('Where the repository lives, without credentials; unknown until a worker\'s history records the run.'),
  queuedAt: time.optional(),
  startedAt: time.describe('When the run started; for a run not started yet, when it was queued.'),
  endedAt: time.optional(),
  durationMs: count.optional(),
  snapshotId: z.string().optional().describe('The snapshot a backup saved or a restore read.'),
  bytesRead: count.optional().describe('Backup: content bytes read from the sources.'),
  bytesAdded: count.optional().describe('Backup: bytes added to the repository.'),
  bytesWritten: count.optional().describe('Restore: content bytes written.'),
  files: count.optional().describe('Backup: files in the snapshot; restore: files restored.'),
  warnings: count.optional().describe('Entries that could not be read.'),
  error: z.object({ code: z.string(), message: z.string() }).optional().describe('Why a failed or aborted run ended.'),
  progress: runProgress.optional().describe('The latest progress, while it is queued or running.'),
});

const logLine = z.object({
  seq: z.number().int().min(1).optional().describe('Numbers the run\'s lines 1, 2, 3…; absent on the lines a queue kept for a run its history has not recorded.'),
  time,
  level: logLevel,
  message: z.string(),
  fields: json.optional().describe('Structured fields, redacted.'),
});

export const runList = z.object({ runs: z.array(apiRun) });
export const runDetail = z.object({ run: apiRun, logs: z.array(logLine).describe('Its last 50 log lines, oldest first.') });
export const logList = z.object({ logs: z.array(logLine) });
export const runRemoved = z.object({ runId: z.string(), status: z.literal('removed') });
export const runAborting = z.object({ runId: z.string(), status: z.literal('aborting') });

export const scheduleList = z.object({
  schedules: z.array(z.object({
    name: z.string().describe('The schedule\'s name (its job\'s).'),
    cron: z.string().describe('The cron expression, a shorthand (`daily`) expanded.'),
    timezone: z.string().nullable().describe('The IANA time zone it is read in; null for the server\'s.'),
    missed: z.enum(['catch-up', 'skip']).describe('After a pause or downtime: run once for what was missed (`catch-up`), or wait for the next slot (`skip`).'),
    paused: z.boolean(),
    next: time.nullable().describe('When it fires next; null for an expression that never fires again.'),
    last: time.nullable().describe('The last slot a run was requested for (not when it ran); null before the first.'),
  })),
});

export const repositoryList = z.object({
  repositories: z.array(z.object({
    name: z.string(),
    location: z.string().describe('Where it lives, without credentials.'),
    jobs: z.array(z.string()).describe('The jobs that back up into it.'),
  })),
});

export const snapshotList = z.object({
  snapshots: z.array(z.object({
    id: z.string().describe('64 hex digits; a unique prefix of 4 or more names it too.'),
    time: time.describe('When the backup started.'),
    host: z.string(),
    username: z.string(),
    sources: z.array(z.object({ name: z.string().describe('The source\'s top-level directory in the snapshot.'), kind: z.string().describe('The source plugin: `files`, `mysql`…'), description: z.string() })),
    paths: z.array(z.string()).describe('The sources\' descriptions, for listings.'),
    tags: z.array(z.string()).describe('A job\'s runs tag it `job:<name>`, `env:<name>` and with the job\'s own tags.'),
    parent: z.string().optional().describe('The snapshot it was compared with to find unchanged files.'),
    tree: z.string().describe('The id of its root tree blob.'),
    summary: z.object({
      filesNew: count, filesChanged: count, filesUnchanged: count, dirs: count,
      bytesRead: count.describe('Content bytes read from the sources.'),
      bytesTotal: count.describe('Total size of the files in the snapshot.'),
      bytesAdded: count.describe('Bytes written to the repository: new data, compressed and encrypted.'),
      blobsAdded: count,
      warnings: count.describe('Entries that could not be read.'),
      complete: z.boolean().describe('False when some entries could not be read.'),
      durationMs: count,
    }),
    programVersion: z.string().describe('The version of the repository code that wrote it.'),
  })),
});

export const treeLevel = z.object({
  path: z.string().describe('The directory listed, normalised; empty for the top (the snapshot\'s sources).'),
  entries: z.array(z.object({
    name: z.string(),
    path: z.string().describe('Its snapshot path, for `?path=` and a restore\'s `include`.'),
    type: entryType,
    size: count.describe('Content bytes; a directory\'s is the bytes of the files under it.'),
    mtime: time.nullable().describe('Null for a directory the snapshot holds only as the parent of its contents.'),
    linkTarget: z.string().optional().describe('A symlink\'s target, verbatim.'),
  })).describe('Directories first, then by name.'),
});

export const snapshotDiff = z.object({
  from: z.string().describe('The older snapshot, as asked.'),
  to: z.string().describe('The newer snapshot, as asked.'),
  changes: z.array(z.object({
    path: z.string(),
    change: z.enum(['added', 'removed', 'modified', 'metadata']).describe('`metadata`: the same content with another mode or mtime.'),
    type: entryType,
  })),
});

export const restoreStarted = z.object({
  runId: z.string(),
  targetDir: z.string().optional().describe('With `targetDir`: the absolute folder on the server the restore writes into.'),
});

export const apiSettings = z.object({
  restoreDir: z.string().nullable().describe('The folder on the server that restores into a folder go into (`targetDir` is relative to it); null: the server has none, and restores only into live systems.'),
});

export const auditList = z.object({
  records: z.array(z.object({
    seq: z.number().int().min(1).describe('Numbers the records in the order they were recorded.'),
    time,
    actor: z.string().describe('The token\'s subject; `anonymous` for a request without a valid token.'),
    action: z.string().describe('`trigger-backup`, `abort`, `delete-run`, `pause`, `resume` or `restore`.'),
    target: z.string().describe('The job, run, schedule (`*` for all) or repository it acted on; `-` when the request named none.'),
    ip: z.string().optional().describe('The socket\'s address.'),
    status: z.number().int().describe('The answer\'s HTTP status.'),
    code: z.string().optional().describe('The error\'s code, for a refused or failed write.'),
    runId: z.string().optional().describe('The run it started.'),
  })),
});
