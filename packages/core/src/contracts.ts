import type { z } from 'zod';
import type { BlobStore, BlobStoreCapabilities, RestoreEntry, SourceEntry } from '@cairn/repository';
import { ConfigError } from './errors.js';
import type { JobQueue } from './job-queue.js';
import type { Logger } from './logger.js';

/** What every plugin hook receives: where to log and how to be cancelled. */
export interface PluginContext {
  signal: AbortSignal;
  logger: Logger;
}

// ---------------------------------------------------------------- sources

export interface SourceCapabilities {
  /** Entries carry a changeKey, so unchanged content is not read again. */
  incremental: boolean;
  /** Restore modes the source supports; `directory` writes into a folder. */
  restoreModes: ReadonlyArray<'directory' | 'origin'>;
}

export interface SourceBackupContext extends PluginContext {
  /** Report an entry that could not be read; the backup goes on and the snapshot is marked incomplete. */
  warn(path: string, message: string, code?: string): void;
}

/**
 * How a restore into a live system (mode `origin`) treats what is already there: `new` refuses a
 * destination that holds data, `merge` adds and overwrites, `replace` also removes what the
 * snapshot does not have.
 */
export type RestoreMode = 'new' | 'merge' | 'replace';
export const RESTORE_MODES: readonly RestoreMode[] = Object.freeze(['new', 'merge', 'replace']);

export interface SourceRestoreContext extends PluginContext {
  /** Directory to restore into (mode `directory`). */
  targetDir?: string;
  mode: 'directory' | 'origin';
  /** For mode `origin` (the orchestrator always sets it there); a source treats a missing one as `new`. */
  restoreMode?: RestoreMode;
  onProgress?: (progress: { filesDone: number; bytesDone: number }) => void;
}

export interface RestoreResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /**
   * Where the data went, when the source chose it (the project Label Studio created): a secret-free
   * URL such as `label-studio+http://host:8080/projects/12`. Absent when it is where it was asked to go.
   */
  destination?: string;
}

/** A configured source, ready to back up. */
export interface SourceInstance {
  readonly kind: 'source';
  /** The plugin's short name (`"files"`). */
  readonly plugin: string;
  /** The top-level directory this source's entries live under in a snapshot. */
  readonly name: string;
  /** Human-readable, secret-free description (`/home/ann/data`). */
  readonly description: string;
  readonly capabilities: SourceCapabilities;
  /** Depth-first: a directory before its contents; a directory's contents before its next sibling. */
  entries(ctx: SourceBackupContext): AsyncIterable<SourceEntry>;
  restore(entries: AsyncIterable<RestoreEntry>, ctx: SourceRestoreContext): Promise<RestoreResult>;
}

export interface SourceDefinition<S extends z.ZodType> {
  name: string;
  options: S;
  capabilities: SourceCapabilities;
  /**
   * URL schemes this source serves (`mysql`, `minio+http`), so `cairn backup URL` and
   * `cairn restore --to URL` can name it; `env` holds credentials the URL leaves out.
   */
  urls?: PluginUrls<z.input<S>>;
  create(options: z.output<S>): Omit<SourceInstance, 'kind' | 'plugin' | 'capabilities'>;
}

export type SourceFactory<S extends z.ZodType> = ((options: z.input<S>) => SourceInstance) & {
  readonly pluginName: string;
  readonly optionsSchema: S;
  readonly urls?: PluginUrls<z.input<S>>;
};

/** Declares a source plugin. The returned factory validates its options with zod at call time. */
export function defineSource<S extends z.ZodType>(definition: SourceDefinition<S>): SourceFactory<S> {
  const factory = (options: z.input<S>): SourceInstance => {
    const parsed = parseOptions(definition.name, definition.options, options);
    const instance = definition.create(parsed);
    return Object.freeze({ ...bindAll(instance), kind: 'source' as const, plugin: definition.name, capabilities: definition.capabilities });
  };
  return Object.assign(factory, { pluginName: definition.name, optionsSchema: definition.options, urls: definition.urls });
}

// ---------------------------------------------------------------- targets

export type TargetCapabilities = BlobStoreCapabilities;

/** A configured target: connect it to get the blob store a repository lives in. */
export interface TargetInstance {
  readonly kind: 'target';
  readonly plugin: string;
  /** Secret-free location for logs (`/srv/backups`, `sftp://ann@host:22/backups`). */
  readonly location: string;
  readonly capabilities: TargetCapabilities;
  connect(ctx: PluginContext): Promise<BlobStore>;
}

export interface TargetDefinition<S extends z.ZodType> {
  name: string;
  options: S;
  capabilities: TargetCapabilities;
  /**
   * URL schemes this target serves (`file`, `sftp`), with how to turn such a URL into options.
   * `env` is where credentials the URL leaves out come from (`CAIRN_TARGET_PASSWORD`, …).
   */
  urls?: PluginUrls<z.input<S>>;
  location(options: z.output<S>): string;
  connect(options: z.output<S>, ctx: PluginContext): Promise<Omit<BlobStore, 'capabilities' | 'location'>>;
}

export type TargetFactory<S extends z.ZodType> = ((options: z.input<S>) => TargetInstance) & {
  readonly pluginName: string;
  readonly optionsSchema: S;
  readonly urls?: PluginUrls<z.input<S>>;
};

export interface PluginUrls<Options> {
  schemes: string[];
  parse(url: string, env: Readonly<Record<string, string | undefined>>): Options;
}

/** Declares a target plugin. The factory validates options at call time and freezes the result. */
export function defineTarget<S extends z.ZodType>(definition: TargetDefinition<S>): TargetFactory<S> {
  const factory = (options: z.input<S>): TargetInstance => {
    const parsed = parseOptions(definition.name, definition.options, options);
    const location = definition.location(parsed);
    return Object.freeze({
      kind: 'target' as const,
      plugin: definition.name,
      location,
      capabilities: Object.freeze({ ...definition.capabilities }),
      async connect(ctx: PluginContext): Promise<BlobStore> {
        const store = await definition.connect(parsed, ctx);
        return Object.freeze({ ...bindAll(store), capabilities: definition.capabilities, location });
      },
    });
  };
  return Object.assign(factory, { pluginName: definition.name, optionsSchema: definition.options, urls: definition.urls });
}

// ---------------------------------------------------------------- executors

export interface JobProgress {
  /** 0…1 when known. */
  ratio?: number;
  filesDone?: number;
  bytesDone?: number;
  message?: string;
}

export interface JobContext {
  signal: AbortSignal;
  progress(progress: JobProgress): void;
}

export interface JobSpec<T> {
  /** Unique id of this run. */
  id: string;
  /** What kind of work: `backup`, `restore`, `check`, `forget`. */
  type: string;
  run(ctx: JobContext): Promise<T>;
}

export interface JobHandle<T> {
  id: string;
  result: Promise<T>;
  abort(reason?: string): void;
}

export interface ExecutorInstance {
  readonly kind: 'executor';
  readonly plugin: string;
  readonly concurrency: number;
  /** Runs the job when a slot is free; `signal` aborts it whether queued or running. */
  submit<T>(job: JobSpec<T>, options?: { signal?: AbortSignal; onProgress?: (progress: JobProgress) => void }): JobHandle<T>;
  /** Waits for running jobs and refuses new ones. */
  close(): Promise<void>;
  /** Queued job runs (serializable requests): in-process for the local executor, shared by `cairn worker` processes for a remote one. */
  readonly queue?: JobQueue;
}

export interface ExecutorDefinition<S extends z.ZodType> {
  name: string;
  options: S;
  create(options: z.output<S>): Omit<ExecutorInstance, 'kind' | 'plugin'>;
}

export type ExecutorFactory<S extends z.ZodType> = ((options?: z.input<S>) => ExecutorInstance) & {
  readonly pluginName: string;
  readonly optionsSchema: S;
};

export function defineExecutor<S extends z.ZodType>(definition: ExecutorDefinition<S>): ExecutorFactory<S> {
  const factory = (options?: z.input<S>): ExecutorInstance => {
    const parsed = parseOptions(definition.name, definition.options, options ?? {});
    const instance = definition.create(parsed);
    return Object.freeze({ ...bindAll(instance), concurrency: instance.concurrency, kind: 'executor' as const, plugin: definition.name });
  };
  return Object.assign(factory, { pluginName: definition.name, optionsSchema: definition.options });
}

// ---------------------------------------------------------------- notifiers

/** What a notifier is told when a run ends: enough for a person to act without opening a log. */
export interface RunNotification {
  /** The run's id (`cairn logs RUN`). */
  runId: string;
  /** `backup`, `restore`, `check`, `forget`, `prune`. */
  operation: string;
  /** The job's name, when the run came from a configured job. */
  job?: string;
  environment?: string;
  status: 'succeeded' | 'failed' | 'aborted';
  /** Who or what asked for the run: `schedule:nightly`, `cli:ann`, `api:ops-bot`. */
  requestedBy?: string;
  /** ISO-8601 times. */
  startedAt: string;
  endedAt: string;
  durationMs: number;
  /** Secret-free location of the repository. */
  repository?: string;
  snapshot?: { id: string; time: string; incomplete?: boolean };
  bytesRead?: number;
  bytesAdded?: number;
  filesTotal?: number;
  /** Entries skipped with a warning (the snapshot is then incomplete). */
  warnings?: number;
  error?: { code: string; message: string };
}

/** A configured notifier (email, webhook, chat…). */
export interface NotifierInstance {
  readonly kind: 'notifier';
  readonly plugin: string;
  /** Secret-free description for logs: `email to ops@example.com`, `webhook https://hooks.example.com/…`. */
  readonly description: string;
  /**
   * Delivers one notification, with its own retries and timeouts. A failure rejects (with a
   * TargetError-like coded error); the caller logs it, and it never fails the run it reports on.
   */
  notify(notification: RunNotification, ctx: PluginContext): Promise<void>;
  /** Releases connections (an SMTP pool); optional. */
  close?(): Promise<void>;
}

export interface NotifierDefinition<S extends z.ZodType> {
  name: string;
  options: S;
  create(options: z.output<S>): Omit<NotifierInstance, 'kind' | 'plugin'>;
}

export type NotifierFactory<S extends z.ZodType> = ((options: z.input<S>) => NotifierInstance) & {
  readonly pluginName: string;
  readonly optionsSchema: S;
};

/** Declares a notifier plugin. The factory validates its options with zod at call time. */
export function defineNotifier<S extends z.ZodType>(definition: NotifierDefinition<S>): NotifierFactory<S> {
  const factory = (options: z.input<S>): NotifierInstance => {
    const parsed = parseOptions(definition.name, definition.options, options);
    const instance = definition.create(parsed);
    return Object.freeze({ ...bindAll(instance), kind: 'notifier' as const, plugin: definition.name });
  };
  return Object.assign(factory, { pluginName: definition.name, optionsSchema: definition.options });
}

// ---------------------------------------------------------------- shared

/** Parses plugin options, turning zod's issues into one ConfigError that names plugin and path. */
export function parseOptions<S extends z.ZodType>(plugin: string, schema: S, options: unknown): z.output<S> {
  const result = schema.safeParse(options);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : '(options)'}: ${issue.message}`);
  throw new ConfigError(`invalid options: ${problems.join('; ')}`, { plugin, problems: problems.map((p) => `[${plugin}] ${p}`) });
}

/** Copies an object's methods bound to it, so a frozen spread keeps working with `this`. */
function bindAll<T extends object>(object: T): T {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(object) as Array<keyof T & string>) {
    const value = object[key];
    out[key] = typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value;
  }
  return out as T;
}
