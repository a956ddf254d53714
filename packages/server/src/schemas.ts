import { isAbsolute } from 'node:path';
import { z } from 'zod';

/*
 * The request shapes: the same schemas validate requests and generate the OpenAPI document.
 * Bodies are strict (an unknown field is a 400); query strings are not (a cache-buster is harmless).
 */

const text = (max: number) => z.string().trim().min(1).max(max);
const time = z.iso.datetime({ offset: true }).describe('ISO-8601 time, e.g. 2025-05-01T12:00:00Z');

export const BACKUP_TYPES = ['database', 'user_data', 'storage'] as const;

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
  profile: z.enum(['with-user-data', 'without-user-data']).optional().describe('Overrides the job\'s profile for this run.'),
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
  targetDir: z.string().min(1).max(4096).refine(isAbsolute, 'expected an absolute path on the server').optional()
    .describe('A directory on the server to restore into; restore never writes outside it.'),
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
  const known = ['queued', 'running', 'succeeded', 'failed', 'aborted', 'removed'];
  const unknown = statuses.filter((s) => !known.includes(s));
  if (unknown.length) ctx.addIssue({ code: 'custom', message: `unknown status ${unknown.join(', ')} (one of ${known.join(', ')})` });
  return statuses as Array<'queued' | 'running' | 'succeeded' | 'failed' | 'aborted' | 'removed'>;
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
  minLevel: z.enum(['debug', 'info', 'warn', 'error']).optional(),
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
