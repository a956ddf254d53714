import { CairnError } from '../errors.js';
import type { LogLevel } from '../events.js';
import type { RunOperation } from '../hooks.js';
import { redact } from '../redact.js';

/**
 * Where a run is: `queued` (waiting for an executor slot or a worker), `running`, then one of the
 * final statuses `succeeded`, `failed` (an error, a veto) or `aborted` (cancelled through its signal).
 */
export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'aborted';

export const RUN_STATUSES: readonly RunStatus[] = Object.freeze(['queued', 'running', 'succeeded', 'failed', 'aborted']);
export const FINAL_RUN_STATUSES: readonly RunStatus[] = Object.freeze(['succeeded', 'failed', 'aborted']);
export const LOG_LEVELS: readonly LogLevel[] = Object.freeze(['debug', 'info', 'warn', 'error']);

/** What is known when a run is queued or starts. Times are ISO-8601 strings in UTC (`2025-01-02T03:04:05.678Z`). */
export interface RunStartRecord {
  /** The run id (`RunRequestInfo.id`); unique. */
  id: string;
  /** `backup`, `restore`, `forget`… (a RunOperation, or a host app's own kind of run). */
  operation: RunOperation | (string & {});
  job?: string;
  environment?: string;
  /** Who or what asked: `schedule:nightly`, `cli:ann`, `api:ops-bot`. */
  requestedBy?: string;
  /** The run's options as JSON (sources, tags, snapshot, dry run…). Secret-free: stores redact URLs in it. */
  options?: Record<string, unknown>;
  /** Secret-free location of the repository (`/srv/backups`, `sftp://ann@host/backups`). */
  repository: string;
  /** `running` (the default) or `queued`. */
  status?: 'queued' | 'running';
  queuedAt?: string;
  /** When the run started; for a run recorded as `queued`, when it was queued. */
  startedAt: string;
}

/** How a run ended. */
export interface RunEndRecord {
  status: 'succeeded' | 'failed' | 'aborted';
  endedAt: string;
  durationMs?: number;
  /** The snapshot a backup saved or a restore read. */
  snapshotId?: string;
  /** Backup: content bytes read from the sources. */
  bytesRead?: number;
  /** Backup: bytes added to the repository. */
  bytesAdded?: number;
  /** Restore: content bytes written. */
  bytesWritten?: number;
  /** Backup: files in the snapshot; restore: files restored. */
  files?: number;
  /** Entries that could not be read. */
  warnings?: number;
  /** For `failed` and `aborted`: the error's code (`REPO_LOCKED`, `ABORTED`…) and redacted message. */
  error?: { code: string; message: string };
}

/** One run as a store returns it: the start record (status defaulted) merged with its end, if it ended. */
export interface RunRecord extends Omit<RunStartRecord, 'status' | 'options'>, Omit<RunEndRecord, 'status' | 'endedAt'> {
  status: RunStatus;
  options: Record<string, unknown>;
  endedAt?: string;
}

/** A log line as the recorder hands it to a store. */
export interface LogLine {
  /** When it was logged (ISO-8601, UTC). */
  time: string;
  level: LogLevel;
  /** Redacted text. */
  message: string;
  /** Structured fields (JSON), redacted, without `run`. */
  fields?: Record<string, unknown>;
}

/** A stored log line: `seq` numbers a run's lines 1, 2, 3… in the order they were appended. */
export interface LogRecord extends LogLine {
  runId: string;
  seq: number;
}

export interface RunFilter {
  /** Runs whose id starts with this (the short ids `cairn history` prints). */
  idPrefix?: string;
  job?: string;
  environment?: string;
  status?: RunStatus | RunStatus[];
  operation?: string;
  /** Runs that started at or after this time. */
  since?: Date;
  /** Runs that started before this time. */
  until?: Date;
  /** At most this many runs (default: all). */
  limit?: number;
  /** Skip this many runs of the ordered list first (paging). */
  offset?: number;
}

/**
 * One write made through an API (a trigger, an abort, a pause, a restore): who, what, from where,
 * and how it ended. Secret-free: never a token, a password or a header.
 */
export interface AuditRecord {
  /** When it was asked (ISO-8601, UTC). */
  time: string;
  /** Who asked: the token's subject. */
  actor: string;
  /** What was asked: `trigger-backup`, `abort`, `delete-run`, `pause`, `resume`, `restore`. */
  action: string;
  /** What it was asked of: a job, a run id, a schedule, a repository (`*` for all). */
  target: string;
  /** The address the request came from. */
  ip?: string;
  /** The answer's HTTP status (202, 404…). */
  status: number;
  /** The error's code when it was refused or failed (`JOB_NOT_FOUND`, `RATE_LIMITED`…). */
  code?: string;
  /** The run it started, when it started one. */
  runId?: string;
}

/** A stored audit record: `seq` numbers the records 1, 2, 3… in the order they were recorded. */
export interface AuditEntry extends AuditRecord {
  seq: number;
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  /** Records at or after this time. */
  since?: Date;
  /** Records before this time. */
  until?: Date;
  /** At most this many records (default: all). */
  limit?: number;
  /** Skip this many records of the ordered list first (paging). */
  offset?: number;
}

export interface LogQuery {
  /** Only lines at this level or above (`debug` < `info` < `warn` < `error`). */
  minLevel?: LogLevel;
  /** At most this many lines (default: all). */
  limit?: number;
  /** Only lines with a greater `seq` (to page, or to follow a running run). */
  afterSeq?: number;
}

/**
 * Where run history and log lines are kept. `sqliteHistory()` and `memoryHistory()` implement it;
 * a host app may implement it over its own database. The contract (docs/history.md):
 * - `recordStart` inserts a run, or updates one already recorded with the same id (a `queued`
 *   run that now runs): fields given replace those stored, `queuedAt` is kept when not given.
 * - `recordEnd` sets the final status and outcome; an unknown id rejects with `HISTORY_UNKNOWN_RUN`.
 * - `appendLogs` adds lines after those already stored for the run, numbering them on
 *   (`seq` 1, 2, 3…), also for a run never recorded, and after it ended.
 * - `listRuns` returns the newest runs first (by `startedAt`, later-recorded first on ties);
 *   `getRun` returns undefined for an unknown id; `logs` returns lines in `seq` order.
 * - `recordAudit` appends an audit record; `listAudit` returns them newest first.
 * - Every method returns copies; times are ISO-8601 strings in UTC; records are secret-free.
 */
export interface HistoryStore {
  recordStart(run: RunStartRecord): Promise<void>;
  recordEnd(runId: string, end: RunEndRecord): Promise<void>;
  appendLogs(runId: string, lines: readonly LogLine[]): Promise<void>;
  listRuns(filter?: RunFilter): Promise<RunRecord[]>;
  getRun(id: string): Promise<RunRecord | undefined>;
  logs(runId: string, options?: LogQuery): Promise<LogRecord[]>;
  recordAudit(record: AuditRecord): Promise<void>;
  listAudit(filter?: AuditFilter): Promise<AuditEntry[]>;
  close(): Promise<void>;
}

export type HistoryErrorCode = 'HISTORY_UNREADABLE' | 'HISTORY_BUSY' | 'HISTORY_IO' | 'HISTORY_UNKNOWN_RUN' | 'HISTORY_INVALID' | 'HISTORY_CLOSED';

/** A history store could not be opened, read or written, or was given an invalid record. */
export class HistoryError extends CairnError {
  override name = 'HistoryError';
  declare readonly code: HistoryErrorCode;
  constructor(code: HistoryErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { ...options, plugin: 'history' });
  }
}

export const levelRank: Readonly<Record<LogLevel, number>> = Object.freeze({ debug: 10, info: 20, warn: 30, error: 40 });

// ------------------------------------------------------------------ checks shared by the stores

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** An ISO-8601 time normalised to UTC with milliseconds, so that stored times sort as text. */
export function isoTime(value: unknown, what: string): string {
  if (typeof value !== 'string' || !ISO.test(value) || Number.isNaN(Date.parse(value))) {
    throw new HistoryError('HISTORY_INVALID', `${what}: expected an ISO-8601 time such as 2025-01-02T03:04:05.678Z, got ${JSON.stringify(value)}`);
  }
  return new Date(value).toISOString();
}

function label(value: unknown, what: string, required = false): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value === '') throw new HistoryError('HISTORY_INVALID', `${what}: expected a non-empty string`);
  return value;
}

function count(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new HistoryError('HISTORY_INVALID', `${what}: expected a number ≥ 0`);
  return value;
}

export type NormalisedStart = RunStartRecord & { status: 'queued' | 'running'; options: Record<string, unknown> };

/** A start record checked and normalised: times in UTC, status defaulted, options and repository scrubbed. */
export function normaliseStart(run: RunStartRecord): NormalisedStart {
  if (typeof run !== 'object' || run === null) throw new HistoryError('HISTORY_INVALID', 'recordStart: expected a run record');
  const status = run.status ?? 'running';
  if (status !== 'queued' && status !== 'running') throw new HistoryError('HISTORY_INVALID', `recordStart: status must be queued or running, got ${JSON.stringify(status)}`);
  if (run.options !== undefined && (typeof run.options !== 'object' || run.options === null || Array.isArray(run.options))) {
    throw new HistoryError('HISTORY_INVALID', 'recordStart: options must be a JSON object');
  }
  const out: NormalisedStart = {
    id: label(run.id, 'recordStart: id', true)!,
    operation: label(run.operation, 'recordStart: operation', true)!,
    repository: redact(label(run.repository, 'recordStart: repository', true)!),
    status,
    options: scrub(run.options ?? {}) as Record<string, unknown>,
    startedAt: isoTime(run.startedAt, 'recordStart: startedAt'),
  };
  const job = label(run.job, 'recordStart: job');
  const environment = label(run.environment, 'recordStart: environment');
  const requestedBy = label(run.requestedBy, 'recordStart: requestedBy');
  if (job !== undefined) out.job = job;
  if (environment !== undefined) out.environment = environment;
  if (requestedBy !== undefined) out.requestedBy = requestedBy;
  if (run.queuedAt !== undefined) out.queuedAt = isoTime(run.queuedAt, 'recordStart: queuedAt');
  return out;
}

/** An end record checked and normalised; the error message redacted. */
export function normaliseEnd(runId: string, end: RunEndRecord): RunEndRecord {
  label(runId, 'recordEnd: runId', true);
  if (typeof end !== 'object' || end === null) throw new HistoryError('HISTORY_INVALID', 'recordEnd: expected an end record');
  if (end.status !== 'succeeded' && end.status !== 'failed' && end.status !== 'aborted') {
    throw new HistoryError('HISTORY_INVALID', `recordEnd: status must be succeeded, failed or aborted, got ${JSON.stringify(end.status)}`);
  }
  const out: RunEndRecord = { status: end.status, endedAt: isoTime(end.endedAt, 'recordEnd: endedAt') };
  for (const key of ['durationMs', 'bytesRead', 'bytesAdded', 'bytesWritten', 'files', 'warnings'] as const) {
    const value = count(end[key], `recordEnd: ${key}`);
    if (value !== undefined) out[key] = value;
  }
  const snapshotId = label(end.snapshotId, 'recordEnd: snapshotId');
  if (snapshotId !== undefined) out.snapshotId = snapshotId;
  if (end.error !== undefined) {
    if (typeof end.error !== 'object' || end.error === null || typeof end.error.message !== 'string') {
      throw new HistoryError('HISTORY_INVALID', 'recordEnd: error must be { code, message }');
    }
    out.error = { code: label(end.error.code, 'recordEnd: error.code', true)!, message: redact(end.error.message) };
  }
  return out;
}

export function normaliseLines(runId: string, lines: readonly LogLine[]): LogLine[] {
  label(runId, 'appendLogs: runId', true);
  if (!Array.isArray(lines)) throw new HistoryError('HISTORY_INVALID', 'appendLogs: expected an array of log lines');
  return lines.map((line, index) => {
    if (typeof line !== 'object' || line === null || !LOG_LEVELS.includes(line.level) || typeof line.message !== 'string') {
      throw new HistoryError('HISTORY_INVALID', `appendLogs: line ${index} must be { time, level (debug|info|warn|error), message, fields? }`);
    }
    const fields = line.fields === undefined ? undefined : scrub(line.fields);
    return {
      time: isoTime(line.time, `appendLogs: line ${index}: time`),
      level: line.level,
      message: redact(line.message),
      ...(fields && typeof fields === 'object' && Object.keys(fields).length > 0 ? { fields: fields as Record<string, unknown> } : {}),
    };
  });
}

export function checkFilter(filter: RunFilter): { statuses: RunStatus[] | undefined; since: string | undefined; until: string | undefined; limit: number | undefined; offset: number } {
  if (typeof filter !== 'object' || filter === null) throw new HistoryError('HISTORY_INVALID', 'listRuns: expected a filter object');
  const statuses = filter.status === undefined ? undefined : Array.isArray(filter.status) ? filter.status : [filter.status];
  for (const status of statuses ?? []) {
    if (!RUN_STATUSES.includes(status)) throw new HistoryError('HISTORY_INVALID', `listRuns: unknown status ${JSON.stringify(status)} (one of ${RUN_STATUSES.join(', ')})`);
  }
  const time = (value: unknown, what: string): string | undefined => {
    if (value === undefined) return undefined;
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new HistoryError('HISTORY_INVALID', `listRuns: ${what} must be a valid Date`);
    return value.toISOString();
  };
  if (filter.idPrefix !== undefined && (typeof filter.idPrefix !== 'string' || filter.idPrefix === '')) {
    throw new HistoryError('HISTORY_INVALID', 'listRuns: idPrefix must be a non-empty string');
  }
  return {
    statuses,
    since: time(filter.since, 'since'),
    until: time(filter.until, 'until'),
    limit: whole(filter.limit, 'listRuns: limit'),
    offset: whole(filter.offset, 'listRuns: offset') ?? 0,
  };
}

/** An audit record checked and normalised: time in UTC, labels non-empty, text redacted. */
export function normaliseAudit(record: AuditRecord): AuditRecord {
  if (typeof record !== 'object' || record === null) throw new HistoryError('HISTORY_INVALID', 'recordAudit: expected an audit record');
  if (typeof record.status !== 'number' || !Number.isInteger(record.status) || record.status < 100 || record.status > 599) {
    throw new HistoryError('HISTORY_INVALID', 'recordAudit: status must be an HTTP status code (100 to 599)');
  }
  const out: AuditRecord = {
    time: isoTime(record.time, 'recordAudit: time'),
    actor: redact(label(record.actor, 'recordAudit: actor', true)!),
    action: label(record.action, 'recordAudit: action', true)!,
    target: redact(label(record.target, 'recordAudit: target', true)!),
    status: record.status,
  };
  const ip = label(record.ip, 'recordAudit: ip');
  const code = label(record.code, 'recordAudit: code');
  const runId = label(record.runId, 'recordAudit: runId');
  if (ip !== undefined) out.ip = ip;
  if (code !== undefined) out.code = code;
  if (runId !== undefined) out.runId = runId;
  return out;
}

export function checkAuditFilter(filter: AuditFilter): { since: string | undefined; until: string | undefined; limit: number | undefined; offset: number } {
  if (typeof filter !== 'object' || filter === null) throw new HistoryError('HISTORY_INVALID', 'listAudit: expected a filter object');
  const { since, until, limit, offset } = checkFilter({
    ...(filter.since !== undefined ? { since: filter.since } : {}), ...(filter.until !== undefined ? { until: filter.until } : {}),
    ...(filter.limit !== undefined ? { limit: filter.limit } : {}), ...(filter.offset !== undefined ? { offset: filter.offset } : {}),
  });
  return { since, until, limit, offset };
}

export function checkLogQuery(options: LogQuery): { minRank: number; limit: number | undefined; afterSeq: number } {
  if (typeof options !== 'object' || options === null) throw new HistoryError('HISTORY_INVALID', 'logs: expected an options object');
  if (options.minLevel !== undefined && !LOG_LEVELS.includes(options.minLevel)) {
    throw new HistoryError('HISTORY_INVALID', `logs: minLevel must be one of ${LOG_LEVELS.join(', ')}`);
  }
  return {
    minRank: levelRank[options.minLevel ?? 'debug'],
    limit: whole(options.limit, 'logs: limit'),
    afterSeq: whole(options.afterSeq, 'logs: afterSeq') ?? 0,
  };
}

function whole(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new HistoryError('HISTORY_INVALID', `${what}: expected a whole number ≥ 0`);
  return value;
}

/** Keys whose values are credentials, whatever they hold. */
const SECRET_KEY = /pass(word|wd|phrase)?$|secret|token|credential|private[-_]?key|api[-_]?key|access[-_]?key|authorization|cookie/i;

/**
 * A JSON-safe copy of `value` for storage: strings redacted (credentials in URLs), values under
 * secret-looking keys replaced by `***`, errors reduced to their message, functions dropped.
 */
export function scrub(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return redact(value);
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'boolean' || value === null) return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return undefined;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Error) return { ...(value instanceof CairnError ? { code: value.code } : {}), message: redact(value.message) };
  if (seen.has(value) || depth >= 8) return '[…]';
  seen.add(value);
  let out: unknown[] | Record<string, unknown>;
  if (Array.isArray(value)) {
    out = value.map((item) => scrub(item, depth + 1, seen) ?? null);
  } else {
    out = {};
    for (const [key, item] of Object.entries(value)) {
      if (SECRET_KEY.test(key)) {
        if (item !== undefined) out[key] = '***';
        continue;
      }
      const clean = scrub(item, depth + 1, seen);
      if (clean !== undefined) out[key] = clean;
    }
  }
  // Only the path from the root counts as a cycle; the same object twice side by side is fine.
  seen.delete(value);
  return out;
}
