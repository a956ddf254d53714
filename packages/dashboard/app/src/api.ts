/*
 * The dashboard's client of Cairn's HTTP API (docs/api.md). No DOM here: `fetch` is passed in, so
 * the error handling is unit-tested in Node.
 */

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'aborted' | 'removed';
export const RUN_STATUSES: readonly RunStatus[] = ['queued', 'running', 'succeeded', 'failed', 'aborted'];
export const BACKUP_TYPES = ['database', 'user_data', 'storage'] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type RestoreMode = 'new' | 'merge' | 'replace';

export interface Me { subject: string; roles: string[] }

/** `restoreDir`: the server's folder that restores into a folder go into; null when it has none. */
export interface Settings { restoreDir: string | null }

export interface Job {
  name: string;
  type?: string | null;
  description?: string | null;
  repository?: string | null;
  repositoryLocation?: string | null;
  environments: string[];
  schedule?: unknown;
  retention?: unknown;
  sources?: unknown;
}

export interface Progress {
  ratio?: number;
  filesDone?: number;
  bytesDone?: number;
  bytesTotal?: number;
  filesTotal?: number;
  message?: string;
}

export interface Run {
  id: string;
  operation: string;
  job?: string | null;
  environment?: string | null;
  status: RunStatus;
  requestedBy?: string | null;
  startedAt?: string | null;
  endedAt?: string | null;
  durationMs?: number | null;
  bytesRead?: number | null;
  bytesAdded?: number | null;
  bytesWritten?: number | null;
  files?: number | null;
  snapshotId?: string | null;
  error?: { code: string; message: string } | null;
  progress?: Progress | null;
  repository?: string | null;
}

export interface LogEntry { seq?: number; time: string; level: LogLevel; message: string; fields?: Record<string, unknown> }

export interface RunDetail { run: Run; logs: LogEntry[] }

export interface ScheduleRow {
  name: string;
  cron?: string;
  timezone?: string | null;
  next?: string | null;
  paused: boolean;
  last?: string | null;
}

export interface Repository { name: string; location?: string | null; jobs?: string[] }

export interface SnapshotRow {
  id: string;
  time: string;
  host?: string;
  tags: string[];
  paths: string[];
  summary?: { bytesTotal?: number; bytesAdded?: number; filesNew?: number; filesChanged?: number; filesUnchanged?: number; complete?: boolean };
}

export interface TreeEntry { name: string; path: string; type: 'file' | 'dir' | 'symlink'; size?: number | null; mtime?: string | null; linkTarget?: string | null }

export interface DiffEntry { path: string; change: 'added' | 'removed' | 'modified' | 'metadata'; type: 'file' | 'dir' | 'symlink' }

export interface Estimate {
  job: string;
  environment?: string;
  estimate: { files: number; dirs: number; bytes: number; filesToRead: number; bytesToRead: number; warnings: number; parent?: string };
  sizeLimit?: number;
  overLimit: boolean;
}

export type TriggerRequest =
  | { job: string; environment?: string; description?: string; profile?: string }
  | { type: BackupType; database_name?: string; storage_path?: string; environment?: string; description?: string };

export interface TriggerResult { runId: string; deduplicated?: boolean; job?: string }

/** `targetDir`: the absolute folder on the server a restore into a folder writes into. */
export interface RestoreStarted { runId: string; targetDir?: string }

/** Into a directory on the server (`targetDir`), or into a live system by its source URL (`to`, with `mode`). */
export interface RestoreRequest {
  repository: string;
  /** A snapshot id (or prefix); default `latest`, which `at` narrows to the newest at or before that time. */
  snapshot?: string;
  at?: string;
  /** Relative to the server's restore folder (`Settings.restoreDir`). */
  targetDir?: string;
  to?: string;
  mode?: RestoreMode;
  include?: string[];
}

/** An issue of a 400 answer: where in the request, and what is wrong. */
export interface ApiIssue { path: Array<string | number>; message: string }

/** A failed request, with the API's error code (or `NETWORK`, `BAD_RESPONSE`) and a message a person can act on. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: ApiIssue[] = [],
  ) {
    super(message);
  }

  /** The message and each issue on one line, for a person. */
  describe(): string {
    if (this.issues.length === 0) return this.message;
    return `${this.message} ${this.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message)).join('; ')}`;
  }
}

/** The codes of a restore refused for its folder: said at the folder field, where the fix is. */
const FOLDER_REFUSALS = new Set(['RESTORE_FOLDER_NOT_EMPTY', 'RESTORE_UNWRITABLE', 'RESTORE_OUTSIDE_FOLDER']);

/**
 * Why the server refused a restore's folder (it holds files, something is in the way, it leads
 * out), as a sentence for that field; undefined for any other failure.
 */
export function restoreFolderRefusal(error: unknown): string | undefined {
  if (!(error instanceof ApiError) || !FOLDER_REFUSALS.has(error.code)) return undefined;
  const text = error.message.trim();
  // A plain first word starts the sentence; a name (`targetDir`) keeps its spelling.
  const start = /^[a-z]+(\s|$)/.test(text) ? `${text.charAt(0).toUpperCase()}${text.slice(1)}` : text;
  return /[.!?]$/.test(start) ? start : `${start}.`;
}

export interface ApiClientOptions {
  token: string;
  /** Origin and prefix; default: the page's own origin. */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Hears every 401, before the request rejects: the dashboard signs out and says why. */
  onUnauthorized?: (error: ApiError) => void;
}

/** Turns a failed response into an ApiError, whatever its body. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const error = isObject(body) && isObject(body.error) ? body.error : undefined;
  const code = typeof error?.code === 'string' ? error.code : `HTTP_${response.status}`;
  const fallback = FALLBACK_MESSAGES[response.status] ?? `The server answered ${response.status} ${response.statusText}`.trim() + '.';
  const message = typeof error?.message === 'string' && error.message !== '' ? error.message : fallback;
  const issues = Array.isArray(error?.issues) ? error.issues.filter(isObject).map(toIssue) : [];
  return new ApiError(response.status, code, message, issues);
}

const FALLBACK_MESSAGES: Record<number, string> = {
  401: 'Your token was not accepted: it is missing, expired or not valid here. Sign in again.',
  403: 'Your token does not allow this. Ask an admin for a token with the needed role.',
  404: 'Not found.',
  429: 'Too many requests. Wait a moment and try again.',
};

function toIssue(issue: Record<string, unknown>): ApiIssue {
  const path = Array.isArray(issue.path) ? issue.path.filter((part): part is string | number => typeof part === 'string' || typeof part === 'number') : [];
  return { path, message: typeof issue.message === 'string' ? issue.message : 'invalid' };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A list from a body that is either the list itself or an object holding it under `key`. */
export function listFrom<T>(body: unknown, key: string): T[] {
  if (Array.isArray(body)) return body as T[];
  if (isObject(body) && Array.isArray(body[key])) return body[key] as T[];
  return [];
}

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}

const seg = encodeURIComponent;

export class ApiClient {
  readonly token: string;
  private readonly baseUrl: string;
  private readonly fetcher: typeof fetch;
  private readonly onUnauthorized: ((error: ApiError) => void) | undefined;

  constructor(options: ApiClientOptions) {
    this.token = options.token;
    this.baseUrl = options.baseUrl ?? '';
    this.fetcher = options.fetch ?? ((input, init) => fetch(input, init));
    this.onUnauthorized = options.onUnauthorized;
  }

  /** One request; rejects with an ApiError for any answer but 2xx, and for a network failure. */
  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await this.fetcher(`${this.baseUrl}${path}`, {
        method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), ...(signal ? { signal } : {}),
      });
    } catch (cause) {
      if (signal?.aborted) throw cause;
      throw new ApiError(0, 'NETWORK', 'Cannot reach the Cairn server. Check that it is running and that this page is its address.');
    }
    if (!response.ok) {
      const error = await errorFromResponse(response);
      if (response.status === 401) this.onUnauthorized?.(error);
      throw error;
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(response.status, 'BAD_RESPONSE', `The server's answer to ${method} ${path} is not JSON.`);
    }
  }

  /** The URL of a run's event stream: EventSource cannot send headers, so the token goes in the query. */
  eventsUrl(runId: string): string {
    return `${this.baseUrl}/api/runs/${seg(runId)}/events${query({ access_token: this.token })}`;
  }

  me(): Promise<Me> { return this.request('GET', '/api/me'); }

  settings(): Promise<Settings> { return this.request('GET', '/api/settings'); }

  async jobs(): Promise<Job[]> {
    const jobs = listFrom<Job>(await this.request('GET', '/api/jobs'), 'jobs');
    return jobs.map((job) => ({ ...job, environments: Array.isArray(job.environments) ? job.environments : [] }));
  }

  estimate(job: string, environment?: string, signal?: AbortSignal): Promise<Estimate> {
    return this.request('GET', `/api/jobs/${seg(job)}/estimate${query({ environment })}`, undefined, signal);
  }

  triggerBackup(request: TriggerRequest): Promise<TriggerResult> { return this.request('POST', '/api/trigger-backup', request); }

  async runs(filter: { job?: string; status?: string; since?: string; until?: string; limit?: number } = {}, signal?: AbortSignal): Promise<Run[]> {
    return listFrom<Run>(await this.request('GET', `/api/runs${query(filter)}`, undefined, signal), 'runs');
  }

  /** A run with its progress and log, whether the server nests the record under `run` or not. */
  async run(id: string, signal?: AbortSignal): Promise<RunDetail> {
    const body = await this.request<Record<string, unknown>>('GET', `/api/runs/${seg(id)}`, undefined, signal);
    const record = (isObject(body.run) ? { ...body.run } : { ...body }) as Record<string, unknown>;
    if (record.progress === undefined && isObject(body.progress)) record.progress = body.progress;
    const logs = listFrom<LogEntry>(body.logs, 'logs');
    delete record.logs;
    return { run: record as unknown as Run, logs };
  }

  async logs(id: string): Promise<LogEntry[]> { return listFrom<LogEntry>(await this.request('GET', `/api/runs/${seg(id)}/logs`), 'logs'); }

  abortRun(id: string): Promise<unknown> { return this.request('POST', `/api/runs/${seg(id)}/abort`); }

  removeRun(id: string): Promise<unknown> { return this.request('DELETE', `/api/runs/${seg(id)}`); }

  async schedules(): Promise<ScheduleRow[]> { return listFrom<ScheduleRow>(await this.request('GET', '/api/schedules'), 'schedules'); }

  /** Pauses or resumes one schedule, or all of them when `name` is undefined. */
  setPaused(paused: boolean, name?: string): Promise<unknown> {
    const action = paused ? 'pause' : 'resume';
    return this.request('POST', name === undefined ? `/api/schedules/${action}` : `/api/schedules/${seg(name)}/${action}`);
  }

  async repositories(): Promise<Repository[]> {
    const list = listFrom<Repository | string>(await this.request('GET', '/api/repositories'), 'repositories');
    return list.map((item) => (typeof item === 'string' ? { name: item } : item));
  }

  async snapshots(repository: string): Promise<SnapshotRow[]> {
    const list = listFrom<SnapshotRow>(await this.request('GET', `/api/repositories/${seg(repository)}/snapshots`), 'snapshots');
    return list.map((snapshot) => ({ ...snapshot, tags: snapshot.tags ?? [], paths: snapshot.paths ?? [] }));
  }

  async tree(repository: string, snapshot: string, path: string): Promise<TreeEntry[]> {
    const body = await this.request('GET', `/api/repositories/${seg(repository)}/snapshots/${seg(snapshot)}/tree${query({ path })}`);
    return listFrom<TreeEntry>(body, 'entries').map((entry) => ({ ...entry, name: entry.name ?? entry.path.split('/').pop() ?? entry.path }));
  }

  async diff(repository: string, from: string, to: string): Promise<DiffEntry[]> {
    return listFrom<DiffEntry>(await this.request('GET', `/api/repositories/${seg(repository)}/diff${query({ from, to })}`), 'changes');
  }

  startRestore(request: RestoreRequest): Promise<RestoreStarted> { return this.request('POST', '/api/restores', request); }
}

/** True for a run that has not ended yet. */
export function isActive(status: RunStatus | undefined): boolean {
  return status === 'queued' || status === 'running';
}
