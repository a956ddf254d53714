import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { Repository } from '@cairn/repository';
import type {
  BackupWarning, BlobStore, CheckOptions, CheckReport, DiffEntry, DirectoryEntry, EntryBase, ForgetResult, PruneResult, RestoreEntry, RetentionPolicy, SizeEstimate, Snapshot, SnapshotSourceInfo,
} from '@cairn/repository';
import type { EventEmitter } from 'eventemitter3';
import type {
  BackupRequest, BackupResult, Cairn, CairnPlugin, CreateCairnOptions, RepositoryRef, RestoreOutcome, RestoreRequest, RunMeta,
} from './api.js';
import { retentionSchema } from './config.js';
import { RESTORE_MODES } from './contracts.js';
import type { ExecutorInstance, JobContext, RestoreMode, SourceBackupContext, SourceInstance, TargetInstance } from './contracts.js';
import type { JsonValue } from './job-queue.js';
import { CairnError, ConfigError } from './errors.js';
import { createEvents, currentRun } from './events.js';
import type { AsyncEventEmitter, CairnEvents, RunOutcome } from './events.js';
import { findDeleted, guardDelete } from './guard-delete.js';
import type { GuardDeleteRequest, GuardDeleteResult } from './guard-delete.js';
import { createHooks, runVeto } from './hooks.js';
import type { BackupPlan, CairnHooks, RestorePlan, RunOperation, RunRequestInfo } from './hooks.js';
import { createLocalExecutor } from './local-executor.js';
import { silentLogger, teeLogger } from './logger-impl.js';
import type { Logger } from './logger.js';
import { createProgressReporter } from './progress.js';
import type { ProgressReporter } from './progress.js';
import { redact } from './redact.js';
import { writeEntriesToDirectory } from './restore-to-directory.js';
import { createUrlResolver } from './url-resolver.js';

/** Creates an orchestrator: every operation runs as a job on its executor, through its hooks. */
export function createCairn(options: CreateCairnOptions = {}): Cairn {
  return Object.freeze(new Orchestrator(options));
}

interface RunScope {
  info: RunRequestInfo;
  signal: AbortSignal;
  job: JobContext;
  target: TargetInstance;
}

class Orchestrator implements Cairn {
  readonly hooks: CairnHooks;
  readonly events: EventEmitter<CairnEvents>;
  readonly executor: ExecutorInstance;
  readonly logger: Logger;
  readonly #events: AsyncEventEmitter<CairnEvents>;
  readonly #resolveTarget: (urlOrPath: string) => TargetInstance;
  readonly #resolveSource: (urlOrPath: string) => SourceInstance;
  readonly #plugins = new Set<string>();

  constructor(options: CreateCairnOptions) {
    if (typeof options !== 'object' || options === null) throw new ConfigError('createCairn: expected an options object');
    const base = options.logger ?? silentLogger;
    for (const method of ['debug', 'info', 'warn', 'error'] as const) {
      if (typeof base[method] !== 'function') throw new ConfigError(`createCairn: logger.${method} must be a function`);
    }
    // Listener failures go to the plain logger: re-emitting them as `log` events could loop.
    this.#events = createEvents(base);
    this.events = this.#events;
    this.logger = teeLogger(base, (level, message, fields) => this.#events.emit('log', level, message, withRunId(fields)));
    this.hooks = createHooks();
    if (options.executor !== undefined && (typeof options.executor !== 'object' || options.executor?.kind !== 'executor')) {
      throw new ConfigError('createCairn: executor must be an executor instance, e.g. localExecutor({ concurrency: 2 })');
    }
    this.executor = options.executor ?? createLocalExecutor({ concurrency: 1 });
    if (options.targets !== undefined && !Array.isArray(options.targets)) throw new ConfigError('createCairn: targets must be an array of target plugin factories');
    const env = options.env ?? process.env;
    this.#resolveTarget = createUrlResolver(options.targets ?? [], env, { plugin: 'target', option: 'targets', example: 'localTarget', value: 'repository' });
    if (options.sources !== undefined && !Array.isArray(options.sources)) throw new ConfigError('createCairn: sources must be an array of source plugin factories');
    this.#resolveSource = createUrlResolver(options.sources ?? [], env, { plugin: 'source', option: 'sources', example: 'filesSource', value: 'source' });
    if (options.plugins !== undefined && !Array.isArray(options.plugins)) throw new ConfigError('createCairn: plugins must be an array');
    for (const plugin of options.plugins ?? []) this.use(plugin);
  }

  use(plugin: CairnPlugin): this {
    if (typeof plugin !== 'object' || plugin === null || typeof plugin.name !== 'string' || !plugin.name || typeof plugin.apply !== 'function') {
      throw new ConfigError('plugins: expected { name, apply(cairn) }');
    }
    if (this.#plugins.has(plugin.name)) throw new ConfigError(`plugins: a plugin named "${plugin.name}" is already registered; register it once`);
    this.#plugins.add(plugin.name);
    plugin.apply(this);
    return this;
  }

  resolveTarget(urlOrPath: string): TargetInstance {
    return this.#resolveTarget(urlOrPath);
  }

  resolveSource(urlOrPath: string): SourceInstance {
    return this.#resolveSource(urlOrPath);
  }

  async init(request: { repository: RepositoryRef; compressionLevel?: number; kdf?: { N: number; r: number; p: number } } & RunMeta): Promise<{ location: string }> {
    const check = (): void => checkCompression(request.compressionLevel, 'compressionLevel');
    return this.#run({ operation: 'init', ref: request.repository, meta: request, check }, async ({ target, signal }) => {
      const store = await target.connect({ signal, logger: this.logger });
      try {
        const repo = await Repository.init(store, {
          password: request.repository.password,
          ...(request.compressionLevel !== undefined ? { compressionLevel: request.compressionLevel } : {}),
          ...(request.kdf ? { kdf: request.kdf } : {}),
        });
        await this.#closeQuietly('repository', () => repo.close());
      } finally {
        await this.#closeQuietly('target', () => store.close());
      }
      this.logger.info('repository initialised', { repository: target.location });
      return { location: target.location };
    });
  }

  async backup(request: BackupRequest): Promise<BackupResult> {
    const check = (): void => {
      if (!Array.isArray(request.sources) || request.sources.length === 0) throw new ConfigError('backup: give at least one source');
      checkSources(request.sources);
      checkCompression(request.compressionLevel, 'compressionLevel');
      if (request.tags !== undefined && (!Array.isArray(request.tags) || request.tags.some((t) => typeof t !== 'string' || t === ''))) {
        throw new ConfigError('backup: tags must be non-empty strings');
      }
    };
    const describe = () => ({ sources: request.sources.map((s) => s.name), tags: [...(request.tags ?? [])] });
    const outcome = ({ snapshot: { id, summary: s }, warnings }: BackupResult): RunOutcome => ({
      snapshotId: id, files: s.filesNew + s.filesChanged + s.filesUnchanged, bytesRead: s.bytesRead, bytesAdded: s.bytesAdded, warnings: warnings.length,
    });
    return this.#run({ operation: 'backup', ref: request.repository, meta: request, signal: request.signal, check, describe, outcome }, async (scope) => {
      const { info, signal, job } = scope;
      let plan: BackupPlan = {
        runId: info.id,
        sources: [...request.sources],
        tags: [...(request.tags ?? [])],
        host: request.host ?? hostname(),
        ...(request.compressionLevel !== undefined ? { compressionLevel: request.compressionLevel } : {}),
        ...(request.parent !== undefined ? { parent: request.parent } : {}),
        repository: scope.target,
      };
      plan = (await this.hooks.beforeBackup.promise(plan)) ?? plan;
      checkBackupPlan(plan);

      const warnings: BackupResult['warnings'] = [];
      const warn = (path: string, message: string, code?: string): void => {
        warnings.push({ path, message });
        this.logger.warn(message.includes(path) ? message : `${path}: ${message}`, { run: info.id, ...(code ? { code } : {}) });
        this.#events.emit('warning', { runId: info.id, operation: 'backup', path, message, ...(code ? { code } : {}) });
      };
      const progress = this.#progress(info, job);
      const snapshot = await this.#withRepository(plan.repository, request.repository.password, signal, async (repo) => {
        const parent = plan.parent === undefined || plan.parent === null ? plan.parent : await repo.findSnapshot(plan.parent);
        const inputs = plan.sources.map((source) => {
          // Source warnings go through the repository, so the snapshot counts them and is marked incomplete.
          const entries = (repoWarn: (warning: BackupWarning) => void) => {
            const ctx: SourceBackupContext = {
              signal,
              logger: this.logger,
              warn: (path, message, code) => repoWarn({ path: `${source.name}/${path}`, message, ...(code ? { code } : {}) }),
            };
            return source.entries(ctx);
          };
          return { name: source.name, kind: source.plugin, description: source.description, entries };
        });
        return repo.backup(inputs, {
          tags: plan.tags,
          host: plan.host,
          ...(plan.compressionLevel !== undefined ? { compressionLevel: plan.compressionLevel } : {}),
          ...(parent !== undefined ? { parent } : {}),
          signal,
          onProgress: (p) => progress.update(p),
          onWarning: (w) => warn(w.path, w.message, w.code),
        });
      });
      const s = snapshot.summary;
      progress.finish({ filesDone: s.filesNew + s.filesChanged + s.filesUnchanged, bytesDone: s.bytesTotal, bytesAdded: s.bytesAdded });
      this.logger.info(`snapshot ${snapshot.id.slice(0, 8)} saved`, {
        run: info.id, files: s.filesNew + s.filesChanged + s.filesUnchanged, bytesAdded: s.bytesAdded, warnings: warnings.length,
      });
      const result: BackupResult = { snapshot, warnings };
      await this.hooks.afterBackup.promise({ ...result, plan });
      return result;
    });
  }

  async estimate(request: { repository: RepositoryRef; sources: SourceInstance[]; host?: string; signal?: AbortSignal } & RunMeta): Promise<SizeEstimate> {
    const check = (): void => {
      if (!Array.isArray(request.sources) || request.sources.length === 0) throw new ConfigError('estimate: give at least one source');
      checkSources(request.sources);
    };
    const describe = () => ({ sources: request.sources.map((s) => s.name) });
    return this.#run({ operation: 'estimate', ref: request.repository, meta: request, signal: request.signal, check, describe }, ({ target, signal, info }) =>
      this.#withRepository(target, request.repository.password, signal, async (repo) => {
        const inputs = request.sources.map((source) => ({
          name: source.name, kind: source.plugin, description: source.description,
          entries: (repoWarn: (warning: BackupWarning) => void) => source.entries({
            signal, logger: this.logger,
            warn: (path, message, code) => repoWarn({ path: `${source.name}/${path}`, message, ...(code ? { code } : {}) }),
          }),
        }));
        const estimate = await repo.estimate(inputs, { host: request.host ?? hostname(), signal });
        this.logger.info(`estimate: ${estimate.files} files, ${estimate.bytes} bytes, ${estimate.bytesToRead} bytes new or changed`, { run: info.id });
        return estimate;
      }));
  }

  async restore(request: RestoreRequest): Promise<RestoreOutcome> {
    const check = (): void => {
      checkSnapshotRef(request.snapshot, 'snapshot');
      checkDestination(request, 'restore');
      if (request.at !== undefined && (!(request.at instanceof Date) || Number.isNaN(request.at.getTime()))) throw new ConfigError('restore: at must be a valid Date');
    };
    const describe = () => ({ snapshot: request.snapshot, ...(typeof request.to === 'string' ? { to: redact(request.to) } : request.to ? { to: request.to.description } : {}) });
    const outcome = (o: RestoreOutcome): RunOutcome => ({ snapshotId: o.snapshot.id, files: o.files, bytesWritten: o.bytes });
    return this.#run({ operation: 'restore', ref: request.repository, meta: request, signal: request.signal, check, describe, outcome }, async (scope) => {
      const { info, signal, job } = scope;
      const to = typeof request.to === 'string' ? this.resolveSource(request.to) : request.to;
      let plan: RestorePlan = {
        runId: info.id,
        repository: scope.target,
        snapshot: request.snapshot,
        ...(request.targetDir !== undefined ? { targetDir: request.targetDir } : {}),
        ...(to ? { to, mode: request.mode ?? 'new' } : {}),
        ...(request.source !== undefined ? { source: request.source } : {}),
        ...(request.at ? { at: request.at } : {}),
        ...(request.include ? { include: [...request.include] } : {}),
      };
      plan = (await this.hooks.beforeRestore.promise(plan)) ?? plan;
      checkSnapshotRef(plan.snapshot, 'snapshot');
      checkDestination(plan, 'beforeRestore: the plan');
      checkTarget(plan.repository, 'beforeRestore: plan.repository');

      const progress = this.#progress(info, job);
      const outcome = await this.#withRepository(plan.repository, request.repository.password, signal, async (repo) => {
        const snapshot = await repo.findSnapshot(plan.snapshot, plan.at ? { at: plan.at } : {});
        const { summary } = snapshot;
        // A full restore knows its size from the snapshot, which lets observers show an ETA.
        const whole = !plan.include && (plan.source === undefined || snapshot.sources.length === 1);
        const totals = whole ? { filesTotal: summary.filesNew + summary.filesChanged + summary.filesUnchanged, bytesTotal: summary.bytesTotal } : {};
        const onProgress = (p: { filesDone: number; bytesDone: number }) => progress.update({ ...p, ...totals });
        if (plan.to) {
          const source = pickSnapshotSource(snapshot, plan.source, plan.to);
          const entries = withinSource(repo.walk(snapshot, { include: [source.name] }), source.name);
          const restored = await plan.to.restore(entries, { signal, logger: this.logger, mode: 'origin', restoreMode: plan.mode ?? 'new', onProgress });
          return { ...restored, snapshot };
        }
        const include = plan.include ?? (plan.source !== undefined ? [plan.source] : undefined);
        const written = await writeEntriesToDirectory(repo.walk(snapshot, include ? { include } : {}), resolve(plan.targetDir!), { signal, onProgress });
        return { ...written, snapshot };
      });
      progress.finish({ filesDone: outcome.files, bytesDone: outcome.bytes });
      const where = plan.to ? { to: plan.to.description } : { targetDir: resolve(plan.targetDir!) };
      this.logger.info(`snapshot ${outcome.snapshot.id.slice(0, 8)} restored`, { run: info.id, files: outcome.files, bytes: outcome.bytes, ...where });
      await this.hooks.afterRestore.promise({ ...outcome, plan });
      return outcome;
    });
  }


  async snapshots(request: { repository: RepositoryRef } & RunMeta): Promise<Snapshot[]> {
    return this.#run({ operation: 'snapshots', ref: request.repository, meta: request }, ({ target, signal }) =>
      this.#withRepository(target, request.repository.password, signal, (repo) => repo.snapshots()));
  }

  async ls(request: { repository: RepositoryRef; snapshot: string; include?: string[]; each?: (node: EntryBase) => void } & RunMeta): Promise<EntryBase[]> {
    const check = (): void => checkSnapshotRef(request.snapshot, 'snapshot');
    return this.#run({ operation: 'ls', ref: request.repository, meta: request, check, describe: () => ({ snapshot: request.snapshot }) }, ({ target, signal }) =>
      this.#withRepository(target, request.repository.password, signal, async (repo) => {
        const snapshot = await repo.findSnapshot(request.snapshot);
        const nodes: EntryBase[] = [];
        for await (const entry of repo.walk(snapshot, request.include ? { include: request.include } : {})) {
          const { open: _open, writeFile: _writeFile, ...node } = entry;
          if (request.each) request.each(node);
          else nodes.push(node);
        }
        return nodes;
      }));
  }

  async listDirectory(request: { repository: RepositoryRef; snapshot: string; path?: string; sizes?: boolean; signal?: AbortSignal } & RunMeta): Promise<DirectoryEntry[]> {
    const check = (): void => {
      checkSnapshotRef(request.snapshot, 'snapshot');
      if (request.path !== undefined && typeof request.path !== 'string') throw new ConfigError('listDirectory: path must be a snapshot path like "files/docs", or "" for the root');
    };
    const describe = () => ({ snapshot: request.snapshot });
    return this.#run({ operation: 'ls', ref: request.repository, meta: request, signal: request.signal, check, describe }, ({ target, signal }) =>
      this.#withRepository(target, request.repository.password, signal, async (repo) =>
        repo.listDirectory(await repo.findSnapshot(request.snapshot), request.path ?? '', { sizes: request.sizes ?? false, signal })));
  }

  async diff(request: { repository: RepositoryRef; from: string; to: string; each?: (change: DiffEntry) => void } & RunMeta): Promise<DiffEntry[]> {
    const check = (): void => {
      checkSnapshotRef(request.from, 'from');
      checkSnapshotRef(request.to, 'to');
    };
    return this.#run({ operation: 'diff', ref: request.repository, meta: request, check, describe: () => ({ snapshot: `${request.from}..${request.to}` }) }, ({ target, signal }) =>
      this.#withRepository(target, request.repository.password, signal, async (repo) => {
        const [from, to] = [await repo.findSnapshot(request.from), await repo.findSnapshot(request.to)];
        const changes: DiffEntry[] = [];
        for await (const change of repo.diff(from, to)) {
          if (request.each) request.each(change);
          else changes.push(change);
        }
        return changes;
      }));
  }

  async check(request: { repository: RepositoryRef } & CheckOptions & RunMeta): Promise<CheckReport> {
    return this.#run({ operation: 'check', ref: request.repository, meta: request, signal: request.signal }, ({ target, signal, info, job }) => {
      const progress = this.#progress(info, job);
      return this.#withRepository(target, request.repository.password, signal, async (repo) => {
        const report = await repo.check({
          readData: request.readData ?? false,
          signal,
          onProgress: (p) => {
            progress.update({ filesDone: 0, bytesDone: p.bytesDone, packsDone: p.packsDone, packsTotal: p.packsTotal });
            request.onProgress?.(p);
          },
        });
        progress.finish();
        if (!report.ok) this.logger.warn(`check found ${report.problems.length} problem(s)`, { run: info.id });
        return report;
      });
    });
  }

  async forget(request: { repository: RepositoryRef; policy: RetentionPolicy; tags?: string[]; prune?: boolean; dryRun?: boolean } & RunMeta): Promise<ForgetResult> {
    let policy: RetentionPolicy = {};
    const check = (): void => {
      policy = checkPolicy(request.policy);
      if (request.tags !== undefined && (!Array.isArray(request.tags) || request.tags.some((tag) => typeof tag !== 'string' || tag === ''))) {
        throw new ConfigError('forget: tags must be an array of non-empty strings');
      }
    };
    return this.#run({ operation: 'forget', ref: request.repository, meta: request, check, describe: () => ({ dryRun: request.dryRun ?? false }) }, ({ target, signal, info }) =>
      this.#withRepository(target, request.repository.password, signal, async (repo) => {
        const result = await repo.forget(policy, { dryRun: request.dryRun ?? false, prune: request.prune ?? false, ...(request.tags ? { tags: request.tags } : {}) });
        this.logger.info(`${request.dryRun ? 'would remove' : 'removed'} ${result.remove.length} snapshot(s), kept ${result.keep.length}`, { run: info.id });
        return result;
      }));
  }

  async unlock(request: { repository: RepositoryRef; all?: boolean } & RunMeta): Promise<{ removed: number }> {
    return this.#run({ operation: 'unlock', ref: request.repository, meta: request, describe: () => ({}) }, ({ target, signal }) =>
      this.#withRepository(target, request.repository.password, signal, async (repo) => ({ removed: await repo.unlock({ all: request.all ?? false }) })));
  }

  async prune(request: { repository: RepositoryRef; dryRun?: boolean } & RunMeta): Promise<PruneResult> {
    return this.#run({ operation: 'prune', ref: request.repository, meta: request, describe: () => ({ dryRun: request.dryRun ?? false }) }, ({ target, signal }) =>
      this.#withRepository(target, request.repository.password, signal, (repo) => repo.prune({ dryRun: request.dryRun ?? false })));
  }

  async changePassword(request: { repository: RepositoryRef; newPassword: string } & RunMeta): Promise<void> {
    const check = (): void => {
      if (typeof request.newPassword !== 'string' || request.newPassword === '') throw new ConfigError('changePassword: the new password is empty');
    };
    return this.#run({ operation: 'change-password', ref: request.repository, meta: request, check }, ({ target, signal, info }) =>
      this.#withRepository(target, request.repository.password, signal, async (repo) => {
        await repo.changePassword(request.newPassword);
        this.logger.info('repository password changed', { run: info.id });
      }));
  }

  guardDelete<T>(request: GuardDeleteRequest, remove: (snapshot: Snapshot) => Promise<T> | T): Promise<GuardDeleteResult<T>> {
    return guardDelete(this, request, remove);
  }

  findDeleted(request: { repository: RepositoryRef; kind: string; id?: string } & RunMeta): Promise<Snapshot[]> {
    return findDeleted(this, request);
  }

  async close(): Promise<void> {
    await this.executor.close();
    // So that `run:end` and the last log lines reach their listeners before the caller moves on.
    await this.#events.drain();
  }

  // ------------------------------------------------------------------------------------------

  /**
   * One run: resolve the target, queue a job; in the job, veto, then the work. Any failure
   * (including one before the job starts) is handed to onError and then rethrown unchanged.
   */
  async #run<T>(
    run: {
      operation: RunOperation;
      ref: RepositoryRef;
      /** Who asked (requestedBy, job, environment); checked, then copied into the run's info. */
      meta: RunMeta;
      signal?: AbortSignal | undefined;
      /** Validates the request; throws ConfigError. Runs first, so onError hears about bad requests too. */
      check?: () => void;
      /** Facts for veto taps and events (source names, snapshot…). */
      describe?: () => Partial<Omit<RunRequestInfo, 'id' | 'operation' | 'repository'>>;
      /** The numbers `run:end` reports for a successful run (snapshot id, files, bytes). */
      outcome?: (result: T) => RunOutcome;
    },
    work: (scope: RunScope) => Promise<T>,
  ): Promise<T> {
    const { operation, ref, signal } = run;
    const id = runIdOf(run.meta);
    let info: RunRequestInfo = Object.freeze({ id, operation, repository: describeRef(ref) });
    try {
      const meta = checkMeta(run.meta);
      run.check?.();
      const target = this.#target(ref);
      info = Object.freeze({ ...info, ...run.describe?.(), ...meta, repository: redact(target.location) });
      const handle = this.executor.submit<T>({
        id,
        type: operation,
        // Everything logged while the job runs (plugins' lines included) is tagged with the run id.
        run: (job) => currentRun.run(id, async () => {
          const started = performance.now();
          this.#events.emit('run:start', info);
          this.logger.debug(`${operation} started`, { run: id, repository: info.repository });
          try {
            await runVeto(this.hooks, info);
            const result = await work({ info, signal: job.signal, job, target });
            this.#events.emit('run:end', { ...info, ...run.outcome?.(result), ok: true, durationMs: performance.now() - started });
            return result;
          } catch (error) {
            this.#events.emit('run:end', { ...info, ok: false, durationMs: performance.now() - started, error: asError(error) });
            throw error;
          }
        }),
      }, signal ? { signal } : {});
      return await handle.result;
    } catch (error) {
      await this.#notifyError(error, info);
      throw error;
    }
  }

  async #notifyError(error: unknown, info: RunRequestInfo): Promise<void> {
    const err = asError(error);
    this.logger.error(`${info.operation} failed: ${redact(err.message)}`, { run: info.id, ...(err instanceof CairnError ? { code: err.code } : {}) });
    try {
      await this.hooks.onError.promise(err, info);
    } catch (tapError) {
      // The run's own error is what the caller gets; a failing notifier is reported, not thrown.
      this.logger.error(`an onError tap failed: ${asError(tapError).message}`, { run: info.id });
    }
  }

  #target(ref: RepositoryRef): TargetInstance {
    if (typeof ref !== 'object' || ref === null) throw new ConfigError('repository: expected { target, password }');
    if (typeof ref.password !== 'string' || ref.password === '') throw new ConfigError('repository: the password is empty; set CAIRN_PASSWORD or use a password file');
    const target = typeof ref.target === 'string' ? this.#resolveTarget(ref.target) : ref.target;
    checkTarget(target, 'repository.target');
    return target;
  }

  /** Opens the repository for `fn`; repository and target are always closed afterwards. */
  async #withRepository<T>(target: TargetInstance, password: string, signal: AbortSignal, fn: (repo: Repository) => Promise<T>): Promise<T> {
    const store: BlobStore = await target.connect({ signal, logger: this.logger });
    let repo: Repository | undefined;
    try {
      repo = await Repository.open(store, { password });
      return await fn(repo);
    } finally {
      const opened = repo;
      if (opened) await this.#closeQuietly('repository', () => opened.close());
      await this.#closeQuietly('target', () => store.close());
    }
  }

  /** Closing happens after the outcome is decided; a failure to close is logged, not thrown over it. */
  async #closeQuietly(what: string, close: () => Promise<void>): Promise<void> {
    try {
      await close();
    } catch (error) {
      this.logger.warn(`closing the ${what} failed: ${redact(asError(error).message)}`);
    }
  }

  #progress(info: RunRequestInfo, job: JobContext): ProgressReporter {
    return createProgressReporter({ runId: info.id, operation: info.operation, hooks: this.hooks, events: this.#events, job, logger: this.logger });
  }
}

/** A `log` event's fields, with the id of the run whose job logged the line when the caller gave none. */
function withRunId(fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const run = currentRun.getStore();
  return run === undefined || fields?.run !== undefined ? fields : { ...fields, run };
}

const META_KEYS = ['requestedBy', 'job', 'environment'] as const;

/** The caller's run id, checked (it names history records and log lines), or a new one. */
function runIdOf(meta: RunMeta | undefined): string {
  const given: unknown = meta?.runId;
  if (given === undefined) return randomUUID();
  if (typeof given !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(given)) {
    throw new ConfigError(`runId: expected 1 to 128 letters, digits, ".", "_", ":" or "-", got ${JSON.stringify(given)}`);
  }
  return given;
}

/** The request's RunMeta fields, checked: each a non-empty string of at most 200 characters. */
function checkMeta(request: RunMeta): RunMeta {
  const meta: RunMeta = {};
  for (const key of META_KEYS) {
    const value: unknown = request[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.trim() === '' || value.length > 200) {
      throw new ConfigError(`${key}: expected a non-empty label of at most 200 characters, e.g. "cli:ann"`);
    }
    meta[key] = value;
  }
  if (request.params !== undefined) meta.params = checkParams(request.params);
  return meta;
}

/** A run's parameters: a JSON object of at most 4 KiB once serialised (they are recorded with every run). */
function checkParams(params: unknown): Readonly<Record<string, JsonValue>> {
  let text: string | undefined;
  try {
    text = JSON.stringify(params);
  } catch {
    text = undefined;
  }
  if (typeof params !== 'object' || params === null || Array.isArray(params) || text === undefined) {
    throw new ConfigError('params: expected a plain JSON object, e.g. { "description": "before the upgrade" }');
  }
  if (text.length > 4096) throw new ConfigError(`params: at most 4 KiB of JSON, got ${text.length} bytes`);
  return Object.freeze(JSON.parse(text) as Record<string, JsonValue>);
}

function describeRef(ref: RepositoryRef | undefined): string {
  if (!ref || typeof ref !== 'object') return '(none)';
  if (typeof ref.target === 'string') return redact(ref.target);
  return typeof ref.target?.location === 'string' ? redact(ref.target.location) : '(unknown)';
}

function checkTarget(target: unknown, what: string): asserts target is TargetInstance {
  const t = target as Partial<TargetInstance> | null;
  if (typeof t !== 'object' || t === null || t.kind !== 'target' || typeof t.connect !== 'function') {
    throw new ConfigError(`${what}: expected a target instance (e.g. localTarget({ path })) or a path/URL`);
  }
  // The repository reads single blobs out of packs; a store that cannot serve byte ranges would
  // have to download whole packs, so it is refused before anything runs.
  if (!t.capabilities?.rangeReads) {
    throw new ConfigError(`${what}: target "${t.plugin}" does not declare range reads, which a repository needs`, { plugin: t.plugin });
  }
}

/** A restore goes to exactly one place: a directory, or a live system through a source plugin. */
function checkDestination(request: { targetDir?: unknown; to?: unknown; mode?: unknown; include?: unknown }, what: string): void {
  const hasDir = request.targetDir !== undefined;
  const hasTo = request.to !== undefined;
  if (hasDir === hasTo) throw new ConfigError(`${what}: give exactly one of targetDir (a directory) and to (a system to restore into)`);
  if (hasDir && (typeof request.targetDir !== 'string' || request.targetDir === '')) throw new ConfigError(`${what}: targetDir must be a directory path`);
  if (hasTo && typeof request.to !== 'string' && (typeof request.to !== 'object' || request.to === null || (request.to as SourceInstance).kind !== 'source')) {
    throw new ConfigError(`${what}: to must be a source URL or a source instance, e.g. mysqlSource({ … })`);
  }
  if (request.mode !== undefined && !RESTORE_MODES.includes(request.mode as RestoreMode)) {
    throw new ConfigError(`${what}: mode must be one of ${RESTORE_MODES.join(', ')}, got ${JSON.stringify(request.mode)}`);
  }
  if (request.mode !== undefined && !hasTo) throw new ConfigError(`${what}: mode applies to a restore into a system (to), not into a directory`);
  if (request.include !== undefined && hasTo) throw new ConfigError(`${what}: include applies to a restore into a directory (targetDir)`);
}

/** The snapshot's source a restore into a system takes, checked against the plugin restoring it. */
function pickSnapshotSource(snapshot: Snapshot, name: string | undefined, to: SourceInstance): SnapshotSourceInfo {
  const names = snapshot.sources.map((s) => s.name).join(', ');
  let source: SnapshotSourceInfo | undefined;
  if (name !== undefined) {
    source = snapshot.sources.find((s) => s.name === name);
    if (!source) throw new ConfigError(`snapshot ${snapshot.id.slice(0, 8)} has no source named "${name}" (it has: ${names})`);
  } else if (snapshot.sources.length === 1) {
    source = snapshot.sources[0]!;
  } else {
    throw new ConfigError(`snapshot ${snapshot.id.slice(0, 8)} holds several sources (${names}): choose the one to restore (--source NAME)`);
  }
  if (source.kind !== to.plugin) {
    throw new ConfigError(`source "${source.name}" of snapshot ${snapshot.id.slice(0, 8)} was made by the ${source.kind} plugin; it cannot be restored through the ${to.plugin} plugin`);
  }
  if (!to.capabilities.restoreModes.includes('origin')) {
    throw new ConfigError(`the ${to.plugin} source restores only into a directory: give a target directory instead`);
  }
  return source;
}

/** A source's entries as the source yielded them: paths relative to its own root, the root itself left out. */
async function* withinSource(entries: AsyncIterable<RestoreEntry>, name: string): AsyncGenerator<RestoreEntry> {
  const prefix = `${name}/`;
  for await (const entry of entries) {
    if (entry.path === name) continue;
    yield { ...entry, path: entry.path.slice(prefix.length) };
  }
}

function checkSources(sources: readonly SourceInstance[], what = 'sources'): void {
  const byName = new Map<string, SourceInstance>();
  sources.forEach((source, index) => {
    if (typeof source !== 'object' || source === null || source.kind !== 'source') {
      throw new ConfigError(`${what}[${index}]: expected a source instance (e.g. filesSource({ path }))`);
    }
    const other = byName.get(source.name);
    if (other) {
      throw new ConfigError(
        `${what}: two sources are named "${source.name}": ${other.plugin} (${other.description}) and ${source.plugin} (${source.description}); give each a distinct name`,
      );
    }
    byName.set(source.name, source);
  });
}

function checkBackupPlan(plan: BackupPlan): void {
  if (typeof plan !== 'object' || plan === null) throw new ConfigError('beforeBackup: a tap returned no plan; return the (amended) plan');
  if (!Array.isArray(plan.sources) || plan.sources.length === 0) throw new ConfigError('beforeBackup: the plan has no sources left');
  checkSources(plan.sources, 'beforeBackup: plan.sources');
  if (!Array.isArray(plan.tags) || plan.tags.some((t) => typeof t !== 'string' || t === '')) throw new ConfigError('beforeBackup: plan.tags must be non-empty strings');
  if (typeof plan.host !== 'string' || plan.host === '') throw new ConfigError('beforeBackup: plan.host must be a non-empty string');
  checkCompression(plan.compressionLevel, 'beforeBackup: plan.compressionLevel');
  checkTarget(plan.repository, 'beforeBackup: plan.repository');
}

function checkCompression(level: number | undefined, what: string): void {
  if (level === undefined) return;
  if (!Number.isInteger(level) || level < 1 || level > 9) throw new ConfigError(`${what}: expected a whole number from 1 to 9, got ${String(level)}`);
}

function checkSnapshotRef(ref: unknown, what: string): void {
  if (typeof ref !== 'string' || ref.trim() === '') throw new ConfigError(`${what}: expected "latest", a snapshot id or an id prefix`);
}

function checkPolicy(policy: RetentionPolicy): RetentionPolicy {
  const result = retentionSchema.safeParse(policy);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `policy${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`);
    throw new ConfigError(`forget: invalid policy: ${problems.join('; ')}`, { problems });
  }
  const rules = Object.entries(result.data).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0));
  // An empty policy would forget every snapshot; restic refuses it too.
  if (rules.length === 0) throw new ConfigError('forget: the policy keeps nothing; give at least one keep rule (keepLast, keepDaily, keepWithin…)');
  return result.data as RetentionPolicy;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
