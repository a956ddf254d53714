import type {
  CheckOptions, CheckReport, DiffEntry, DirectoryEntry, EntryBase, ForgetResult, PruneResult, RetentionPolicy, SizeEstimate, Snapshot,
} from '@cairn/repository';
import type { ExecutorInstance, PluginUrls, RestoreMode, RestoreResult, SourceInstance, TargetInstance } from './contracts.js';
import type { CairnEvents } from './events.js';
import type { GuardDeleteRequest, GuardDeleteResult } from './guard-delete.js';
import type { CairnHooks } from './hooks.js';
import type { JsonValue } from './job-queue.js';
import type { Logger } from './logger.js';
import type { EventEmitter } from 'eventemitter3';
import type { z } from 'zod';

/** Where a repository lives and how to open it. `target` may be a URL or a local path. */
export interface RepositoryRef {
  target: TargetInstance | string;
  password: string;
}

export interface CreateCairnOptions {
  /** Cross-cutting plugins: `{ name, apply(cairn) }`. */
  plugins?: CairnPlugin[];
  /** Target plugins whose URL schemes `RepositoryRef.target` strings may use. A plain path needs one serving `file`. */
  targets?: AnyTargetFactory[];
  /** Source plugins whose URL schemes `resolveSource` and `RestoreRequest.to` strings may use. */
  sources?: AnySourceFactory[];
  /** Default: `@cairn/executor-local`-like in-process runner with concurrency 1 (built in). */
  executor?: ExecutorInstance;
  logger?: Logger;
  /** Where target plugins read credentials named by URLs (`CAIRN_TARGET_PASSWORD`, `AWS_ACCESS_KEY_ID`, …). Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Any target factory, whatever its options. `TargetFactory<z.ZodType>` would not do: a factory's
 * options parameter is contravariant, so `TargetFactory<ZodObject<…>>` is not assignable to it.
 */
export type AnyTargetFactory = ((options: never) => TargetInstance) & {
  readonly pluginName: string;
  readonly optionsSchema: z.ZodType;
  readonly urls?: PluginUrls<unknown>;
};

/** Any source factory, whatever its options (see AnyTargetFactory for why not `SourceFactory<z.ZodType>`). */
export type AnySourceFactory = ((options: never) => SourceInstance) & {
  readonly pluginName: string;
  readonly optionsSchema: z.ZodType;
  readonly urls?: PluginUrls<unknown>;
};

export interface CairnPlugin {
  name: string;
  apply(cairn: Cairn): void;
}

/**
 * Who asked for a run and on whose behalf: recorded in run history, shown to veto taps and
 * `onError` (through RunRequestInfo). Secret-free, plain labels; each at most 200 characters.
 */
export interface RunMeta {
  /** Who or what asked: `schedule:nightly`, `cli:ann`, `api:ops-bot`. */
  requestedBy?: string;
  /** The configured job this run belongs to. */
  job?: string;
  /** The environment the job covers in this run (`production`). */
  environment?: string;
  /**
   * The run's id, when the caller already has one (a queued job's id, so that history, logs and
   * notifications share it): letters, digits, `.`, `_`, `:` and `-`, unique per run. Default: a new UUID.
   */
  runId?: string;
  /** The parameters the run was asked with (a job run's `options`: a description, a database name), plain JSON; recorded in history. */
  params?: Readonly<Record<string, JsonValue>>;
}

export interface BackupRequest extends RunMeta {
  repository: RepositoryRef;
  sources: SourceInstance[];
  tags?: string[];
  host?: string;
  compressionLevel?: number;
  /** Default: the newest snapshot of the same host and sources. */
  parent?: string | null;
  signal?: AbortSignal;
}

export interface BackupResult {
  snapshot: Snapshot;
  /** Entries that could not be read (the snapshot is then marked incomplete). */
  warnings: Array<{ path: string; message: string }>;
}

export interface RestoreRequest extends RunMeta {
  repository: RepositoryRef;
  /** `latest`, an id or a unique id prefix. */
  snapshot: string;
  /** Point in time: the newest snapshot taken at or before it (with `snapshot: 'latest'`). */
  at?: Date;
  /** Directory to restore into; restore never writes outside it. Give this or `to`. */
  targetDir?: string;
  /**
   * A live system to restore into (a database, a bucket, a project), as a source instance or a
   * URL served by a registered source plugin; the source must support restore mode `origin`.
   */
  to?: SourceInstance | string;
  /** With `to`: what to do with data already there. Default `new` (refuse a destination holding data). */
  mode?: RestoreMode;
  /** The snapshot's source to restore (its name); needed with `to` when the snapshot has several. */
  source?: string;
  /** Snapshot paths to restore (and everything under them); with `targetDir` only. */
  include?: string[];
  signal?: AbortSignal;
}

export interface RestoreOutcome extends RestoreResult {
  snapshot: Snapshot;
}

export interface Cairn {
  readonly hooks: CairnHooks;
  readonly events: EventEmitter<CairnEvents>;
  readonly executor: ExecutorInstance;
  readonly logger: Logger;
  use(plugin: CairnPlugin): this;
  /** A target for a URL or a plain path, through the registered target plugins. */
  resolveTarget(urlOrPath: string): TargetInstance;
  /** A source for a URL or a plain path, through the registered source plugins. */
  resolveSource(urlOrPath: string): SourceInstance;
  init(request: { repository: RepositoryRef; compressionLevel?: number; kdf?: { N: number; r: number; p: number } } & RunMeta): Promise<{ location: string }>;
  backup(request: BackupRequest): Promise<BackupResult>;
  /**
   * What a backup of `sources` would read, and how much of it is new or changed since the parent
   * snapshot (an upper bound of the new data), from the sources' metadata alone: nothing is read or written.
   */
  estimate(request: { repository: RepositoryRef; sources: SourceInstance[]; host?: string; signal?: AbortSignal } & RunMeta): Promise<SizeEstimate>;
  restore(request: RestoreRequest): Promise<RestoreOutcome>;
  snapshots(request: { repository: RepositoryRef } & RunMeta): Promise<Snapshot[]>;
  /**
   * The nodes of one snapshot, depth-first. With `each`, every node goes to it as it is read and
   * the answer is empty: a listing of millions of files is never held in memory.
   */
  ls(request: { repository: RepositoryRef; snapshot: string; include?: string[]; each?: (node: EntryBase) => void } & RunMeta): Promise<EntryBase[]>;
  /**
   * One directory of a snapshot (`path` like `files/docs`; empty for the root, a directory per
   * source), its entries by name. Reads only the trees on the way to it; with `sizes`, each
   * directory's size is the bytes of the files under it, summed by a walk that keeps running
   * totals only. PATH_NOT_FOUND when the path is not there, NOT_A_DIRECTORY when it is a file.
   */
  listDirectory(request: { repository: RepositoryRef; snapshot: string; path?: string; sizes?: boolean; signal?: AbortSignal } & RunMeta): Promise<DirectoryEntry[]>;
  /** What changed between two snapshots, by path. With `each`, every change goes to it as it is found and the answer is empty. */
  diff(request: { repository: RepositoryRef; from: string; to: string; each?: (change: DiffEntry) => void } & RunMeta): Promise<DiffEntry[]>;
  check(request: { repository: RepositoryRef } & CheckOptions & RunMeta): Promise<CheckReport>;
  /** Applies `policy` to the snapshots carrying every tag of `tags` (all snapshots when none), per host and sources. */
  forget(request: { repository: RepositoryRef; policy: RetentionPolicy; tags?: string[]; prune?: boolean; dryRun?: boolean } & RunMeta): Promise<ForgetResult>;
  prune(request: { repository: RepositoryRef; dryRun?: boolean } & RunMeta): Promise<PruneResult>;
  /** Removes stale locks (left by killed runs), or every lock with `all`; returns how many. */
  unlock(request: { repository: RepositoryRef; all?: boolean } & RunMeta): Promise<{ removed: number }>;
  changePassword(request: { repository: RepositoryRef; newPassword: string } & RunMeta): Promise<void>;
  /**
   * Backup before delete: backs the item up (sources from the request and `hooks.beforeDelete.for(kind)`),
   * runs `remove` only when that backup is complete, tags the snapshot with the item's kind and id,
   * then applies the request's recycle-bin retention. Throws DELETE_NOT_GUARDED, without deleting, when the backup fails.
   */
  guardDelete<T>(request: GuardDeleteRequest, remove: (snapshot: Snapshot) => Promise<T> | T): Promise<GuardDeleteResult<T>>;
  /** Snapshots of deleted items of a kind (of one item with `id`), newest first: the recycle bin. */
  findDeleted(request: { repository: RepositoryRef; kind: string; id?: string } & RunMeta): Promise<Snapshot[]>;
  /** Waits for running jobs and closes the executor. */
  close(): Promise<void>;
}
