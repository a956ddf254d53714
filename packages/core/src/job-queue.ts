import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { z } from 'zod';
import type { JobProgress } from './contracts.js';
import { parseOptions } from './contracts.js';
import { AbortedError, CairnError, ConfigError } from './errors.js';
import type { LogLevel } from './events.js';
import type { JobRunRequest } from './jobs.js';

/*
 * A closure cannot cross a process, so work that may run elsewhere (a `cairn worker` on another
 * machine) goes through a queue of serializable requests: which job, which environment, who asked,
 * plus plain-JSON options. Every queue, in-process or on Redis, has this one contract and passes
 * `describeExecutorConformance` in @cairn/testkit.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A request to run a configured job, as it travels through a queue: JobRunRequest without its signal and run id. */
export interface QueuedJobRequest extends Omit<JobRunRequest, 'signal' | 'runId'> {
  /** Plain JSON for the worker (a description, an override); part of what makes two requests identical. */
  options?: JsonObject;
}

export type RunPriority = 'high' | 'normal' | 'low';
export const RUN_PRIORITIES: readonly RunPriority[] = Object.freeze(['high', 'normal', 'low']);

export const enqueueOptions = z.strictObject({
  runId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'expected 1 to 128 letters, digits, ".", "_", ":" or "-"').optional()
    .describe('The run\'s id, chosen by the caller so that asking twice is harmless: when the queue knows a run with this id (queued, running, or ended and still remembered), nothing is queued and that run\'s id comes back deduplicated. A schedule uses `schedule.NAME.SLOT`, so every scheduler process may fire the same slot and it runs once.'),
  priority: z.enum(['high', 'normal', 'low']).default('normal')
    .describe('`high` runs go ahead of `normal` ones, which go ahead of `low` ones; the same priority runs in order of arrival. A restore or a manual run may pass `high`.'),
  dependsOn: z.array(z.string().min(1)).default([])
    .describe('Run ids this run waits for: it starts only once all of them succeeded, and fails without running if one of them does not.'),
  attempts: z.number().int().min(1).max(100).default(3)
    .describe('Tries in all, the first included. An aborted run and a configuration error are never tried again.'),
  backoffMs: z.number().int().min(0).max(86_400_000).default(10_000)
    .describe('Wait before the second try; each later wait doubles (exponential back-off).'),
  timeoutMs: z.number().int().min(1).optional()
    .describe('Aborts the run (through its AbortSignal) when a try has run this long; it then fails with QUEUE_RUN_TIMEOUT and is not tried again.'),
});
export type EnqueueOptions = z.input<typeof enqueueOptions>;
export type ResolvedEnqueueOptions = z.output<typeof enqueueOptions>;

/**
 * Where a run is. `waiting`: for the runs it depends on, or for the back-off before its next try;
 * `queued`: ready, until a worker is free; `running`; then one of the final statuses.
 */
export type QueueRunStatus = 'waiting' | 'queued' | 'running' | 'succeeded' | 'failed' | 'aborted' | 'removed';
export const QUEUE_RUN_STATUSES: readonly QueueRunStatus[] = Object.freeze(['waiting', 'queued', 'running', 'succeeded', 'failed', 'aborted', 'removed']);
export const FINAL_QUEUE_RUN_STATUSES: readonly QueueRunStatus[] = Object.freeze(['succeeded', 'failed', 'aborted', 'removed']);

export interface RunInfo {
  /** The run id: the history record, the logs and the notifications of the run carry it too. */
  id: string;
  request: QueuedJobRequest;
  status: QueueRunStatus;
  priority: RunPriority;
  dependsOn?: string[];
  /** Tries started so far (0 before the first). */
  attempt: number;
  /** Tries allowed. */
  attempts: number;
  /** The latest progress the worker reported. */
  progress?: JobProgress;
  /** What the worker's handler returned (succeeded runs). */
  result?: JsonValue;
  /** Why a failed or aborted run ended (or why the last try failed, while waiting for the next): the error's code (`ABORTED`, `REPO_LOCKED`…) and message. */
  error?: { code: string; message: string };
  /** ISO-8601 times. `startedAt` is when the latest try started. */
  enqueuedAt: string;
  startedAt?: string;
  endedAt?: string;
}

export interface RunContext {
  id: string;
  /** 1 for the first try. */
  attempt: number;
  /** Fires on `abort(id)` (from any process), on the run's timeout, or when the worker shuts down. */
  signal: AbortSignal;
  /** Reports progress to whoever follows the run; cheap to call often (queues on a network throttle it). */
  progress(progress: JobProgress): void;
  /** A log line of the run: kept with the run (`JobQueue.logs`) and sent to whoever follows it. */
  log(line: QueueLogLine): void;
}

/** A run's log line as it travels through a queue (redacted text, no structured fields). */
export interface QueueLogLine {
  /** ISO-8601, UTC. */
  time: string;
  level: LogLevel;
  message: string;
}

/** Runs one request; what it returns (plain JSON) becomes the run's result. */
export type RunHandler = (request: QueuedJobRequest, ctx: RunContext) => Promise<JsonValue | void>;

export interface ProcessOptions {
  /** Runs at once in this worker; default 1. */
  concurrency?: number;
}

/** A worker taking runs off a queue (see `JobQueue.process`). */
export interface QueueWorker {
  /**
   * Stops taking runs. By default waits for the runs in progress to end; with `abortRunning`, aborts
   * them first and hands them back to the queue (the try does not count), so another worker runs them.
   */
  close(options?: { abortRunning?: boolean }): Promise<void>;
  /** Resolves when the worker has stopped after `close()`; rejects when it cannot go on (the queue's server is gone). */
  readonly stopped: Promise<void>;
}

/** Observation only, for the process that follows runs: listeners can neither change nor stall them. */
export interface JobQueueEvents {
  progress: [id: string, progress: JobProgress];
  status: [id: string, status: QueueRunStatus];
  log: [id: string, line: QueueLogLine];
}

export interface EnqueueResult {
  id: string;
  /** True when an identical request was already queued or running: `id` is that run's. */
  deduplicated: boolean;
}

export interface JobQueue {
  /** `memory`, `bullmq`: the implementation, for messages. */
  readonly kind: string;
  /** True when other processes can take the runs enqueued here (a queue on a server), false for an in-process queue. */
  readonly shared: boolean;
  readonly events: EventEmitter<JobQueueEvents>;
  /**
   * Queues a run. An identical request (same job, environment, profile and options, whoever asks)
   * for a run still queued, waiting or running is not queued twice: its id comes back with
   * `deduplicated: true`, and `options` are then ignored. So is a request whose `options.runId`
   * names a run the queue knows.
   */
  enqueue(request: QueuedJobRequest, options?: EnqueueOptions): Promise<EnqueueResult>;
  get(id: string): Promise<RunInfo | undefined>;
  /** The log lines the run's worker sent, oldest first (every try's); empty for an unknown run. */
  logs(id: string): Promise<QueueLogLine[]>;
  /** Runs known to the queue, newest first (a queue on a server keeps ended runs for a limited time). */
  list(filter?: { status?: QueueRunStatus | QueueRunStatus[]; limit?: number }): Promise<RunInfo[]>;
  /** Takes a run that has not started off the queue (status `removed`); QUEUE_RUN_STARTED once it runs. */
  remove(id: string): Promise<void>;
  /**
   * Aborts a run: a running one through its handler's AbortSignal (within seconds, wherever it
   * runs), a queued or waiting one at once. It ends `aborted` and is not tried again.
   */
  abort(id: string, reason?: string): Promise<void>;
  /**
   * Settles when the run ends: with its result, or with its error (AbortedError, ConfigError, or a
   * CairnError with the run's code). `signal` stops the waiting, not the run.
   */
  wait(id: string, options?: { signal?: AbortSignal }): Promise<JsonValue>;
  /** Starts a worker in this process that runs queued requests with `handler`. */
  process(handler: RunHandler, options?: ProcessOptions): Promise<QueueWorker>;
  /** Closes this process's handle: its workers (waiting for their runs), timers and connections. */
  close(): Promise<void>;
}

export type QueueErrorCode =
  | 'QUEUE_UNKNOWN_RUN'
  | 'QUEUE_RUN_STARTED'
  | 'QUEUE_RUN_ENDED'
  | 'QUEUE_RUN_REMOVED'
  | 'QUEUE_DEPENDENCY_FAILED'
  | 'QUEUE_RUN_TIMEOUT'
  | 'QUEUE_CLOSED'
  | 'QUEUE_UNAVAILABLE';

/** A queue refused an operation, or could not reach its server. */
export class QueueError extends CairnError {
  override name = 'QueueError';
  declare readonly code: QueueErrorCode;
  constructor(code: QueueErrorCode, message: string, options: { plugin?: string; cause?: unknown } = {}) {
    super(code, message, options);
  }
}

// ---------------------------------------------------------------- shared by implementations

/**
 * The identity of a request, for deduplication: a hash of job, environment, profile and options,
 * with object keys sorted so that `{a, b}` and `{b, a}` are the same request. Who asked is left out:
 * a schedule and a person asking for the same backup want one run.
 */
export function requestKey(request: QueuedJobRequest): string {
  const identity = { job: request.job, environment: request.environment ?? null, profile: request.profile ?? null, options: request.options ?? {} };
  return createHash('sha256').update(stableJson(identity)).digest('hex');
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The request as it is stored: plain JSON only (no signal, no run id), checked. */
export function normaliseRequest(request: QueuedJobRequest): QueuedJobRequest {
  if (request === null || typeof request !== 'object' || typeof request.job !== 'string' || !request.job) {
    throw new ConfigError('enqueue: the request needs a job name');
  }
  const { job, environment, requestedBy, profile, options } = request;
  let copy: QueuedJobRequest;
  try {
    copy = JSON.parse(JSON.stringify({ job, environment, requestedBy, profile, options })) as QueuedJobRequest;
  } catch (error) {
    throw new ConfigError(`enqueue: the request for job ${job} is not plain JSON: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (copy.options !== undefined && (copy.options === null || typeof copy.options !== 'object' || Array.isArray(copy.options))) {
    throw new ConfigError(`enqueue: options of the request for job ${job} must be a JSON object`);
  }
  return copy;
}

/** Most log lines a queue keeps per run; a run that logs more keeps its first ones (its history keeps them all). */
export const MAX_LOG_LINES = 5_000;

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** A handler's log line, checked and copied: a level, a time and at most 4 KiB of text. */
export function checkLogLine(line: QueueLogLine): QueueLogLine {
  if (!LOG_LEVELS.includes(line?.level) || typeof line.message !== 'string' || typeof line.time !== 'string') {
    throw new ConfigError(`a run's log line needs a level (${LOG_LEVELS.join(', ')}), a time and a message`);
  }
  return { time: line.time, level: line.level, message: line.message.slice(0, 4096) };
}

export function resolveEnqueueOptions(options: EnqueueOptions | undefined): ResolvedEnqueueOptions {
  return parseOptions('queue', enqueueOptions, options ?? {});
}

/** The back-off before try `attempt + 1`: `baseMs`, then doubling. */
export function backoffDelayMs(baseMs: number, attempt: number): number {
  return baseMs * 2 ** Math.max(0, attempt - 1);
}

/**
 * Errors that another try cannot fix: an abort (someone wanted the run stopped) and a configuration
 * mistake. Everything else (a dropped connection, a locked repository) is tried again.
 */
export function isPermanentError(error: unknown): boolean {
  if (error instanceof AbortedError || error instanceof ConfigError) return true;
  const code = error instanceof CairnError ? error.code : undefined;
  return code === 'ABORTED' || code === 'CONFIG_INVALID' || code === 'QUEUE_DEPENDENCY_FAILED';
}

/** The code and message a run records for `error`: a CairnError's own code, else RUN_FAILED. */
export function runErrorOf(error: unknown): { code: string; message: string } {
  if (error instanceof CairnError) return { code: error.code, message: error.message };
  if (error instanceof Error) return { code: error.name === 'AbortError' ? 'ABORTED' : 'RUN_FAILED', message: error.message || error.name };
  return { code: 'RUN_FAILED', message: String(error) };
}

/** The error `wait()` rejects with for an ended run: typed where a type exists, so callers branch on `instanceof` or `code`. */
export function errorOfRun(info: RunInfo): Error {
  const { code, message } = info.error ?? { code: info.status === 'removed' ? 'QUEUE_RUN_REMOVED' : 'RUN_FAILED', message: `run ${info.id} ${info.status}` };
  if (info.status === 'aborted' || code === 'ABORTED') return new AbortedError(message);
  if (code === 'CONFIG_INVALID') return new ConfigError(message);
  if (info.status === 'removed') return new QueueError('QUEUE_RUN_REMOVED', message);
  return new CairnError(code, message);
}

/** The words a run's end gets in messages: `succeeded`, `failed (REPO_LOCKED: …)`. */
export function describeRunEnd(info: RunInfo): string {
  return info.error ? `${info.status} (${info.error.code}: ${info.error.message})` : info.status;
}

/** The emitter a queue's `events` are: one eventemitter3 class for every implementation. */
export function createJobQueueEvents(): EventEmitter<JobQueueEvents> {
  return new EventEmitter<JobQueueEvents>();
}

/** Calls listeners after the fact, so a throwing or slow listener cannot break the queue that emits. */
export function emitLater<K extends keyof JobQueueEvents>(events: EventEmitter<JobQueueEvents>, event: K, ...args: JobQueueEvents[K]): void {
  setImmediate(() => {
    try {
      (events.emit as (event: K, ...rest: JobQueueEvents[K]) => boolean)(event, ...args);
    } catch {
      // A listener's mistake is the listener's: the run goes on.
    }
  });
}

/**
 * `wait()` for any queue: reads the run, and again on each of its `status` events or every
 * `pollMs` (events can be missed on a network), until it ends, `signal` aborts or `closed` fires.
 */
export async function waitForRun(
  get: () => Promise<RunInfo | undefined>,
  id: string,
  events: EventEmitter<JobQueueEvents>,
  options: { signal?: AbortSignal; closed: AbortSignal; pollMs: number },
): Promise<JsonValue> {
  const { signal, closed, pollMs } = options;
  // Listening before the first read: a status change while a read is under way is not missed.
  let changed: boolean;
  let wake: (() => void) | undefined;
  const poke = (): void => {
    changed = true;
    wake?.();
  };
  const onStatus = (runId: string): void => {
    if (runId === id) poke();
  };
  events.on('status', onStatus);
  signal?.addEventListener('abort', poke);
  closed.addEventListener('abort', poke);
  try {
    for (;;) {
      if (signal?.aborted) throw new AbortedError(`stopped waiting for run ${id}`);
      if (closed.aborted) throw new QueueError('QUEUE_CLOSED', `stopped waiting for run ${id}: the queue was closed`);
      changed = false;
      const info = await get();
      if (!info) throw new QueueError('QUEUE_UNKNOWN_RUN', `no run ${id} in the queue (it may have ended long ago and been cleaned up)`);
      if (FINAL_QUEUE_RUN_STATUSES.includes(info.status)) {
        if (info.status === 'succeeded') return info.result ?? null;
        throw errorOfRun(info);
      }
      if (changed) continue;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, pollMs);
      });
      wake = undefined;
      clearTimeout(timer);
    }
  } finally {
    events.off('status', onStatus);
    signal?.removeEventListener('abort', poke);
    closed.removeEventListener('abort', poke);
  }
}

// ---------------------------------------------------------------- the in-process queue

interface MemoryRun {
  info: RunInfo;
  key: string;
  options: ResolvedEnqueueOptions;
  seq: number;
  /** Set while a try runs. */
  controller?: AbortController;
  /** Why the running try's signal fired. */
  stop?: { kind: 'abort' | 'timeout' | 'shutdown'; message: string };
  /** The back-off before the next try. */
  retryTimer?: NodeJS.Timeout;
  logs: QueueLogLine[];
}

interface MemoryWorker {
  handler: RunHandler;
  concurrency: number;
  running: Set<MemoryRun>;
  closing: boolean;
  idle: Array<() => void>;
}

const PRIORITY_RANK: Record<RunPriority, number> = { high: 0, normal: 1, low: 2 };

/** Ended runs the in-process queue remembers (for `get`, `list`, `wait`), the most recent ones. */
const KEEP_ENDED_RUNS = 1000;

/**
 * The in-process queue: runs live in this process's memory and end with it. The local executor
 * exposes one, and tests use it; its behaviour is the reference the queue on Redis is held to.
 */
export function memoryJobQueue(): JobQueue {
  const runs = new Map<string, MemoryRun>();
  const workers = new Set<MemoryWorker>();
  const events = createJobQueueEvents();
  let seq = 0;
  let closed = false;
  /** Caller-chosen run ids already asked for (`EnqueueOptions.runId`): each is queued once. */
  const claimed = new Set<string>();
  const closing = new AbortController();

  const now = (): string => new Date().toISOString();
  const snapshot = (run: MemoryRun): RunInfo => structuredClone(run.info);
  const isFinal = (run: MemoryRun): boolean => FINAL_QUEUE_RUN_STATUSES.includes(run.info.status);

  const setStatus = (run: MemoryRun, status: QueueRunStatus): void => {
    run.info.status = status;
    if (FINAL_QUEUE_RUN_STATUSES.includes(status)) run.info.endedAt = now();
    emitLater(events, 'status', run.info.id, status);
  };

  const end = (run: MemoryRun, status: 'succeeded' | 'failed' | 'aborted' | 'removed', error?: { code: string; message: string }): void => {
    clearTimeout(run.retryTimer);
    run.retryTimer = undefined;
    if (error) run.info.error = error;
    else delete run.info.error; // a try that failed before the one that succeeded is no longer news
    setStatus(run, status);
    forgetOldest();
    settleDependents();
  };

  /** A long-lived process must not keep every ended run: the oldest go beyond KEEP_ENDED_RUNS. */
  const forgetOldest = (): void => {
    let ended = 0;
    for (const run of runs.values()) if (isFinal(run)) ended++;
    for (const [id, run] of runs) {
      if (ended <= KEEP_ENDED_RUNS) return;
      if (!isFinal(run)) continue;
      runs.delete(id);
      ended--;
    }
  };

  /** Promotes the runs whose parents all succeeded; fails those with a parent that did not. */
  const settleDependents = (): void => {
    for (const run of runs.values()) {
      if (run.info.status !== 'waiting' || run.retryTimer || run.options.dependsOn.length === 0) continue;
      const gone = run.options.dependsOn.find((id) => !runs.has(id));
      const parents = run.options.dependsOn.flatMap((id) => runs.get(id) ?? []);
      const bad = parents.find((parent) => isFinal(parent) && parent.info.status !== 'succeeded');
      if (bad || gone) {
        const why = bad ? `run ${bad.info.id} it depends on ${describeRunEnd(bad.info)}` : `run ${gone} it depends on is no longer in the queue`;
        end(run, 'failed', { code: 'QUEUE_DEPENDENCY_FAILED', message: `run ${run.info.id} did not run: ${why}` });
        return; // end() settled the rest, this run's own dependents included
      }
      if (parents.every((parent) => parent.info.status === 'succeeded')) setStatus(run, 'queued');
    }
    dispatch();
  };

  const dispatch = (): void => {
    for (const worker of workers) {
      while (!worker.closing && worker.running.size < worker.concurrency) {
        let best: MemoryRun | undefined;
        for (const run of runs.values()) {
          if (run.info.status !== 'queued') continue;
          if (!best || PRIORITY_RANK[run.info.priority] < PRIORITY_RANK[best.info.priority] || (run.info.priority === best.info.priority && run.seq < best.seq)) best = run;
        }
        if (!best) return;
        start(best, worker);
      }
    }
  };

  const start = (run: MemoryRun, worker: MemoryWorker): void => {
    const controller = new AbortController();
    run.controller = controller;
    run.stop = undefined;
    run.info.attempt += 1;
    run.info.startedAt = now();
    worker.running.add(run);
    setStatus(run, 'running');
    const { id } = run.info;
    const timeout = run.options.timeoutMs === undefined ? undefined : setTimeout(() => {
      run.stop ??= { kind: 'timeout', message: `run ${id} timed out after ${run.options.timeoutMs} ms` };
      controller.abort(new AbortedError(run.stop.message));
    }, run.options.timeoutMs);
    const ctx: RunContext = {
      id,
      attempt: run.info.attempt,
      signal: controller.signal,
      progress(progress) {
        if (run.controller !== controller) return; // a late report from a try that ended
        run.info.progress = structuredClone(progress);
        emitLater(events, 'progress', id, structuredClone(progress));
      },
      log(line) {
        if (run.controller !== controller) return;
        const copy = checkLogLine(line);
        if (run.logs.length < MAX_LOG_LINES) run.logs.push(copy);
        emitLater(events, 'log', id, { ...copy });
      },
    };
    let outcome: Promise<JsonValue | void>;
    try {
      outcome = Promise.resolve(worker.handler(structuredClone(run.info.request), ctx));
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome.then(
      (result) => {
        finishTry(run, worker, controller, timeout);
        run.info.result = result === undefined ? null : structuredClone(result);
        end(run, 'succeeded');
      },
      (error: unknown) => {
        finishTry(run, worker, controller, timeout);
        const stop = run.stop;
        if (stop?.kind === 'abort') end(run, 'aborted', { code: 'ABORTED', message: stop.message });
        else if (stop?.kind === 'timeout') end(run, 'failed', { code: 'QUEUE_RUN_TIMEOUT', message: stop.message });
        else if (stop?.kind === 'shutdown') {
          // Handed back: the try does not count, and another worker (or this one, restarted) runs it.
          run.info.attempt -= 1;
          setStatus(run, 'queued');
        } else {
          const recorded = runErrorOf(error);
          if (isPermanentError(error)) end(run, recorded.code === 'ABORTED' ? 'aborted' : 'failed', recorded);
          else if (run.info.attempt >= run.info.attempts) end(run, 'failed', recorded);
          else {
            run.info.error = recorded;
            setStatus(run, 'waiting');
            run.retryTimer = setTimeout(() => {
              run.retryTimer = undefined;
              if (run.info.status === 'waiting') setStatus(run, 'queued');
              dispatch();
            }, backoffDelayMs(run.options.backoffMs, run.info.attempt));
          }
        }
        dispatch();
      },
    );
  };

  const finishTry = (run: MemoryRun, worker: MemoryWorker, controller: AbortController, timeout: NodeJS.Timeout | undefined): void => {
    clearTimeout(timeout);
    if (run.controller === controller) run.controller = undefined;
    worker.running.delete(run);
    if (worker.running.size === 0) for (const wake of worker.idle.splice(0)) wake();
  };

  const find = (id: string): MemoryRun => {
    const run = runs.get(id);
    if (!run) throw new QueueError('QUEUE_UNKNOWN_RUN', `no run ${id} in the queue`);
    return run;
  };

  const closeWorker = async (worker: MemoryWorker, abortRunning: boolean): Promise<void> => {
    worker.closing = true;
    if (abortRunning) {
      for (const run of worker.running) {
        run.stop ??= { kind: 'shutdown', message: 'the worker is stopping; the run goes back to the queue' };
        run.controller?.abort(new AbortedError(run.stop.message));
      }
    }
    if (worker.running.size > 0) await new Promise<void>((resolve) => worker.idle.push(resolve));
    workers.delete(worker);
    dispatch(); // another worker may take what this one handed back
  };

  return {
    kind: 'memory',
    shared: false,
    events,

    async enqueue(request, options) {
      if (closed) throw new QueueError('QUEUE_CLOSED', 'the queue is closed: create a new one');
      const resolved = resolveEnqueueOptions(options);
      const copy = normaliseRequest(request);
      for (const parent of resolved.dependsOn) {
        if (!runs.has(parent)) throw new QueueError('QUEUE_UNKNOWN_RUN', `cannot depend on run ${parent}: no such run in the queue`);
      }
      if (resolved.runId !== undefined) {
        if (claimed.has(resolved.runId)) return { id: resolved.runId, deduplicated: true };
        claimed.add(resolved.runId);
      }
      const key = requestKey(copy);
      for (const run of runs.values()) {
        if (run.key === key && !isFinal(run)) return { id: run.info.id, deduplicated: true };
      }
      const id = resolved.runId ?? randomUUID();
      const run: MemoryRun = {
        key, options: resolved, seq: seq++, logs: [],
        info: {
          id, request: copy, status: 'waiting', priority: resolved.priority,
          ...(resolved.dependsOn.length ? { dependsOn: [...resolved.dependsOn] } : {}),
          attempt: 0, attempts: resolved.attempts, enqueuedAt: now(),
        },
      };
      runs.set(id, run);
      if (resolved.dependsOn.length === 0) setStatus(run, 'queued');
      else emitLater(events, 'status', id, 'waiting');
      settleDependents();
      return { id, deduplicated: false };
    },

    async get(id) {
      const run = runs.get(id);
      return run ? snapshot(run) : undefined;
    },

    async logs(id) {
      return structuredClone(runs.get(id)?.logs ?? []);
    },

    async list(filter = {}) {
      const statuses = filter.status === undefined ? undefined : Array.isArray(filter.status) ? filter.status : [filter.status];
      const found = [...runs.values()].filter((run) => !statuses || statuses.includes(run.info.status)).sort((a, b) => b.seq - a.seq);
      return found.slice(0, filter.limit ?? found.length).map(snapshot);
    },

    async remove(id) {
      const run = find(id);
      if (run.info.status === 'running') throw new QueueError('QUEUE_RUN_STARTED', `run ${id} is running: abort it instead`);
      if (isFinal(run)) throw new QueueError('QUEUE_RUN_ENDED', `run ${id} already ended: ${run.info.status}`);
      end(run, 'removed', { code: 'QUEUE_RUN_REMOVED', message: `run ${id} was removed from the queue before it ran` });
    },

    async abort(id, reason) {
      const run = find(id);
      if (isFinal(run)) throw new QueueError('QUEUE_RUN_ENDED', `run ${id} already ended: ${run.info.status}`);
      // The reason alone: whatever runs the job adds "job ID aborted: " in front of it.
      const message = reason || 'aborted through the queue';
      if (run.info.status === 'running' && run.controller) {
        run.stop = { kind: 'abort', message };
        run.controller.abort(new AbortedError(message));
        return;
      }
      end(run, 'aborted', { code: 'ABORTED', message });
    },

    wait(id, options = {}) {
      return waitForRun(async () => { const run = runs.get(id); return run ? snapshot(run) : undefined; }, id, events, { ...options, closed: closing.signal, pollMs: 1000 });
    },

    async process(handler, options = {}) {
      if (closed) throw new QueueError('QUEUE_CLOSED', 'the queue is closed: create a new one');
      const concurrency = options.concurrency ?? 1;
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigError(`process: concurrency must be a whole number of at least 1, got ${concurrency}`);
      const worker: MemoryWorker = { handler, concurrency, running: new Set(), closing: false, idle: [] };
      workers.add(worker);
      let resolveStopped!: () => void;
      const stopped = new Promise<void>((resolve) => { resolveStopped = resolve; });
      queueMicrotask(dispatch);
      return {
        stopped,
        async close(closeOptions = {}) {
          await closeWorker(worker, closeOptions.abortRunning === true);
          resolveStopped();
        },
      };
    },

    async close() {
      closed = true;
      closing.abort();
      await Promise.all([...workers].map((worker) => closeWorker(worker, false)));
      // Nothing may keep the process alive once closed: back-off timers go, their runs stay where they are.
      for (const run of runs.values()) {
        clearTimeout(run.retryTimer);
        run.retryTimer = undefined;
      }
    },
  };
}
