import { AsyncParallelHook, AsyncSeriesBailHook, AsyncSeriesHook, AsyncSeriesWaterfallHook, HookMap, SyncHook } from 'tapable';
import type { BackupResult, RestoreOutcome } from './api.js';
import type { RestoreMode, SourceInstance, TargetInstance } from './contracts.js';
import { VetoError } from './errors.js';

/** Every kind of run the orchestrator performs; the veto hook sees all of them. */
export type RunOperation =
  | 'init' | 'backup' | 'estimate' | 'restore' | 'snapshots' | 'ls' | 'diff' | 'check' | 'forget' | 'prune' | 'change-password' | 'unlock';

/** What a veto tap (and onError) learns about a run. Secret-free: no password, no credentials in URLs. */
export interface RunRequestInfo {
  /** Unique id of this run; the executor job has the same id. */
  readonly id: string;
  readonly operation: RunOperation;
  /** Secret-free location of the repository (`/srv/backups`, `sftp://ann@host/backups`). */
  readonly repository: string;
  /** Names of the sources, for backups. */
  readonly sources?: readonly string[];
  /** The snapshot reference, for restore and ls. */
  readonly snapshot?: string;
  readonly tags?: readonly string[];
  /** True for forget/prune dry runs: nothing will be deleted. */
  readonly dryRun?: boolean;
  /** Who or what asked for the run (`RunMeta.requestedBy`). */
  readonly requestedBy?: string;
  /** The configured job the run belongs to. */
  readonly job?: string;
  readonly environment?: string;
  /** The parameters the run was asked with (`RunMeta.params`). */
  readonly params?: Readonly<Record<string, unknown>>;
}

/** A backup about to run; `beforeBackup` taps may return an amended copy. */
export interface BackupPlan {
  readonly runId: string;
  sources: SourceInstance[];
  tags: string[];
  host: string;
  /** 1…9; undefined: the repository's default. */
  compressionLevel?: number;
  /** Parent snapshot reference; undefined: the repository picks; null: none. */
  parent?: string | null;
  /** Where the snapshot goes; `repository.location` is secret-free. */
  repository: TargetInstance;
}

/** A restore about to run; `beforeRestore` taps may return an amended copy. */
export interface RestorePlan {
  readonly runId: string;
  repository: TargetInstance;
  snapshot: string;
  at?: Date;
  /** Exactly one of `targetDir` (a folder) and `to` (a live system through its source plugin). */
  targetDir?: string;
  to?: SourceInstance;
  /** With `to`. */
  mode?: RestoreMode;
  /** The snapshot's source to restore, by name. */
  source?: string;
  include?: string[];
}

/** Throttled progress of a run (at most about ten a second, plus one with `final: true`). */
export interface ProgressEvent {
  runId: string;
  operation: RunOperation;
  filesDone: number;
  bytesDone: number;
  /** Bytes written to the repository, for backups. */
  bytesAdded?: number;
  /** What the run will have done at the end, when known (a full restore knows it from the snapshot). */
  filesTotal?: number;
  bytesTotal?: number;
  /** For check: packs verified of packsTotal. */
  packsDone?: number;
  packsTotal?: number;
  currentPath?: string;
  elapsedMs: number;
  final: boolean;
}

/** An item a host app is about to delete (`guardDelete`); `beforeDelete.for(kind)` taps say what to back up. */
export interface DeletePlan {
  /** `project`, `user`: the key of the `beforeDelete` hook map. */
  readonly kind: string;
  /** The app's own id of the item. */
  readonly id: string;
  /** What the backup before the delete reads; taps add to it or replace it. */
  sources: SourceInstance[];
  /** The snapshot's tags (`deleted`, `deleted:project`, `deleted:project:42` and the request's own). */
  tags: string[];
}

export type AfterBackupInfo = BackupResult & { plan: BackupPlan };
export type AfterRestoreInfo = RestoreOutcome & { plan: RestorePlan };

export interface CairnHooks {
  /** Return a reason to refuse the run; the orchestrator throws `VetoError(tapName, reason)`. */
  readonly veto: AsyncSeriesBailHook<[RunRequestInfo], string | undefined | void>;
  /** May amend the plan: return it (or a copy) with tags, sources, host or compression changed. */
  readonly beforeBackup: AsyncSeriesWaterfallHook<[BackupPlan]>;
  readonly afterBackup: AsyncSeriesHook<[AfterBackupInfo]>;
  readonly beforeRestore: AsyncSeriesWaterfallHook<[RestorePlan]>;
  readonly afterRestore: AsyncSeriesHook<[AfterRestoreInfo]>;
  /** Synchronous and throttled; keep taps cheap (use `events` for anything slow). */
  readonly onProgress: SyncHook<[ProgressEvent]>;
  /** Notified of every failed run; the run's error is rethrown afterwards, whatever the taps do. */
  readonly onError: AsyncParallelHook<[Error, RunRequestInfo]>;
  /** Keyed by the kind of item (`beforeDelete.for('project')`): fills in what `guardDelete` backs up before the app deletes an item. */
  readonly beforeDelete: HookMap<AsyncSeriesWaterfallHook<[DeletePlan]>>;
}

/** Which tap bailed, per call: keyed by the info object, which is unique to one run. */
const vetoedBy = new WeakMap<RunRequestInfo, string>();

export function createHooks(): CairnHooks {
  const veto = new AsyncSeriesBailHook<[RunRequestInfo], string | undefined | void>(['info'], 'veto');
  veto.intercept({ register: (tap) => ({ ...tap, fn: recordBail(tap.type, tap.name, tap.fn) }) });
  return Object.freeze({
    veto,
    beforeBackup: new AsyncSeriesWaterfallHook<[BackupPlan]>(['plan'], 'beforeBackup'),
    afterBackup: new AsyncSeriesHook<[AfterBackupInfo]>(['result'], 'afterBackup'),
    beforeRestore: new AsyncSeriesWaterfallHook<[RestorePlan]>(['plan'], 'beforeRestore'),
    afterRestore: new AsyncSeriesHook<[AfterRestoreInfo]>(['result'], 'afterRestore'),
    onProgress: new SyncHook<[ProgressEvent]>(['progress'], 'onProgress'),
    onError: new AsyncParallelHook<[Error, RunRequestInfo]>(['error', 'info'], 'onError'),
    beforeDelete: new HookMap((kind: string) => new AsyncSeriesWaterfallHook<[DeletePlan]>(['plan'], `beforeDelete:${kind}`), 'beforeDelete'),
  });
}

/** Runs the veto hook; throws VetoError naming the tap that refused. */
export async function runVeto(hooks: CairnHooks, info: RunRequestInfo): Promise<void> {
  const reason = await hooks.veto.promise(info);
  if (reason === undefined) return;
  const tap = vetoedBy.get(info) ?? 'unknown tap';
  throw new VetoError(tap, typeof reason === 'string' && reason.trim() ? reason : 'no reason given');
}

type AnyFn = (...args: unknown[]) => unknown;

/** Wraps a veto tap so that a non-undefined result records the tap's name for this run. */
function recordBail(type: 'sync' | 'async' | 'promise', name: string, fn: unknown): AnyFn {
  const original = fn as AnyFn;
  const record = (info: unknown, result: unknown): void => {
    if (result !== undefined && typeof info === 'object' && info !== null) vetoedBy.set(info as RunRequestInfo, name);
  };
  if (type === 'sync') {
    return (...args) => {
      const result = original(...args);
      record(args[0], result);
      return result;
    };
  }
  if (type === 'promise') {
    return async (...args) => {
      const result = await (original(...args) as Promise<unknown>);
      record(args[0], result);
      return result;
    };
  }
  return (...args) => {
    const callback = args.pop() as (error?: unknown, result?: unknown) => void;
    return original(...args, (error?: unknown, result?: unknown) => {
      if (!error) record(args[0], result);
      callback(error, result);
    });
  };
}
