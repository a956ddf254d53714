import { randomUUID } from 'node:crypto';
import { DelayedError, Queue, QueueEvents, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import type { Job, JobType, RedisOptions } from 'bullmq';
import {
  AbortedError, ConfigError, FINAL_QUEUE_RUN_STATUSES, MAX_LOG_LINES, QueueError, checkLogLine, createJobQueueEvents, describeRunEnd, emitLater, isPermanentError, normaliseRequest, parseOptions, redact,
  requestKey, resolveEnqueueOptions, runErrorOf, waitForRun,
} from '@cairn/core';
import type {
  EnqueueOptions, EnqueueResult, JobProgress, JobQueue, JsonValue, ProcessOptions, QueuedJobRequest, QueueLogLine, QueueRunStatus, QueueWorker, RunHandler,
  RunInfo, RunPriority,
} from '@cairn/core';
import { bullmqExecutorOptions } from './options.js';
import type { BullmqExecutorOptions, ResolvedBullmqOptions } from './options.js';

const PLUGIN = 'bullmq';

/** What a BullMQ job carries: the request and the enqueue options a worker needs. */
interface RunData {
  request: QueuedJobRequest;
  priority: RunPriority;
  dependsOn?: string[];
  timeoutMs?: number;
  enqueuedAt: string;
  /** Set when the run ended before its handler ran (aborted while being picked up, a failed dependency). */
  unstarted?: boolean;
}

type RunJob = Job<RunData, JsonValue, string>;

/** BullMQ's numbers: lower runs first; 0 (no priority) would run before all of them, so it is never used. */
const BULL_PRIORITY: Record<RunPriority, number> = { high: 1, normal: 2, low: 3 };

/** The event a worker adds to the queue's event stream for each log line of a run. */
const LOG_EVENT = 'cairn:log';
/** The event stream's approximate length cap (BullMQ's own default). */
const EVENTS_MAX_LEN = 10_000;

/** Throttle of progress writes to Redis: a backup reports per file, the followers need a few per second. */
const PROGRESS_INTERVAL_MS = 250;

/** The extra commands used on the clients BullMQ creates (ioredis instances behind its adapter). */
interface RawRedis {
  status: string;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, mode: 'PX', ms: number): Promise<unknown>;
  set(key: string, value: string, mode: 'PX', ms: number, onlyIfNew: 'NX'): Promise<'OK' | null>;
  del(...keys: string[]): Promise<number>;
  publish(channel: string, message: string): Promise<number>;
  subscribe(channel: string): Promise<unknown>;
  zadd(key: string, score: number, member: string): Promise<unknown>;
  zrevrangebyscore(key: string, max: string | number, min: string | number, limit: 'LIMIT', offset: number, count: number): Promise<string[]>;
  zremrangebyscore(key: string, min: string | number, max: string | number): Promise<unknown>;
  xrevrange(key: string, end: string, start: string, count: 'COUNT', n: number): Promise<Array<[string, string[]]>>;
  xadd(key: string, ...args: Array<string | number>): Promise<unknown>;
  scan(cursor: string, match: 'MATCH', pattern: string, count: 'COUNT', n: number): Promise<[string, string[]]>;
  duplicate(): RawRedis;
  on(event: string, listener: (...args: never[]) => void): unknown;
  once(event: string, listener: (...args: never[]) => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

interface Connected {
  queue: Queue;
  client: RawRedis;
}

interface RunningTry {
  controller: AbortController;
  stop?: { kind: 'abort' | 'timeout' | 'shutdown'; message: string };
}

/** A JobQueue on BullMQ, with what an installation needs beyond the contract. */
export interface BullmqJobQueue extends JobQueue {
  /** Deletes the queue and every key of it in Redis (runs, results, tombstones): tests and decommissioning. */
  obliterate(): Promise<void>;
}

/**
 * The job queue on Redis: any number of processes (`cairn run`, a scheduler, `cairn worker`s on
 * other machines) open it with the same connection, prefix and queue name. Nothing connects until
 * the first call, so loading a config that names it never needs Redis.
 */
export function bullmqJobQueue(options: BullmqExecutorOptions): BullmqJobQueue {
  return new BullmqQueue(parseOptions(PLUGIN, bullmqExecutorOptions, options));
}

class BullmqQueue implements BullmqJobQueue {
  readonly kind = 'bullmq';
  readonly shared = true;
  readonly #options: ResolvedBullmqOptions;
  readonly #emitter = createJobQueueEvents();
  readonly #closing = new AbortController();
  /** The runs this process is running, by id, for aborts arriving on the channel. */
  readonly #running = new Map<string, RunningTry>();
  readonly #workers = new Set<{ close(options?: { abortRunning?: boolean }): Promise<void> }>();
  #connected: Promise<Connected> | undefined;
  #queueEvents: Promise<QueueEvents> | undefined;
  #subscriber: Promise<RawRedis> | undefined;
  /** Last error any connection reported, for the message when Redis cannot be reached. */
  #lastError: unknown;

  constructor(options: ResolvedBullmqOptions) {
    this.#options = options;
  }

  /** Following runs starts the event stream reader, so only a process that listens pays for it. */
  get events(): JobQueue['events'] {
    if (!this.#closing.signal.aborted) this.#startEvents().catch(() => { /* reported by the next call that needs Redis */ });
    return this.#emitter;
  }

  // ------------------------------------------------------------ keys

  get #base(): string {
    return `${this.#options.prefix}:${this.#options.queueName}`;
  }
  #abortKey(id: string): string {
    return `${this.#base}:cairn:abort:${id}`;
  }
  /** Taken by the one enqueue that queues a caller-chosen run id (`EnqueueOptions.runId`). */
  #claimKey(id: string): string {
    return `${this.#base}:cairn:claimed:${id}`;
  }
  #tombstoneKey(id: string): string {
    return `${this.#base}:cairn:ended:${id}`;
  }
  get #tombstones(): string {
    return `${this.#base}:cairn:ended`;
  }
  get #abortChannel(): string {
    return `${this.#base}:cairn:abort`;
  }

  // ------------------------------------------------------------ connections

  /** Secret-free name of the server, for messages. */
  get #where(): string {
    const { connection } = this.#options;
    if (typeof connection === 'string') return redact(connection);
    return `redis://${String(connection.host ?? '127.0.0.1')}:${String(connection.port ?? 6379)}`;
  }

  /**
   * ioredis options for every connection BullMQ opens. ioredis reconnects forever by default, so a
   * missing Redis would hang a command: here reconnection stops after about `connectTimeoutMs`, and
   * the operation fails with QUEUE_UNAVAILABLE instead.
   */
  #redisOptions(): RedisOptions {
    const { connection, connectTimeoutMs } = this.#options;
    const given = typeof connection === 'string' ? { url: connection } : (connection as RedisOptions);
    const retryStrategy = (times: number): number | null => {
      let waited = 0;
      for (let i = 1; i <= times; i++) waited += Math.min(100 * 2 ** i, 1_000);
      return waited > connectTimeoutMs ? null : Math.min(100 * 2 ** times, 1_000);
    };
    return { connectTimeout: connectTimeoutMs, retryStrategy, ...given } as RedisOptions;
  }

  #unavailable(cause: unknown): QueueError {
    const why = cause instanceof Error ? cause.message : String(cause ?? 'no answer');
    return new QueueError('QUEUE_UNAVAILABLE', `cannot reach Redis at ${this.#where} (${why}): start Redis or fix the executor's connection`, { plugin: PLUGIN, cause });
  }

  #connect(): Promise<Connected> {
    if (this.#closing.signal.aborted) return Promise.reject(new QueueError('QUEUE_CLOSED', 'the queue is closed: create a new one', { plugin: PLUGIN }));
    this.#connected ??= (async () => {
      const keepMs = this.#options.keepEndedRunsMs;
      const queue = new Queue(this.#options.queueName, {
        connection: this.#redisOptions(),
        prefix: this.#options.prefix,
        defaultJobOptions: { removeOnComplete: { age: Math.ceil(keepMs / 1000) }, removeOnFail: { age: Math.ceil(keepMs / 1000) } },
      });
      queue.on('error', (error) => { this.#lastError = error; });
      try {
        await deadline(queue.waitUntilReady(), this.#options.connectTimeoutMs);
        const client = (await queue.client) as unknown as RawRedis;
        return { queue, client };
      } catch (error) {
        await closeQuietly(() => queue.close());
        throw this.#unavailable(this.#lastError ?? error);
      }
    })();
    // A failed attempt is forgotten, so the next call tries again (Redis may be back).
    this.#connected.catch(() => { this.#connected = undefined; });
    return this.#connected;
  }

  #startEvents(): Promise<QueueEvents> {
    this.#queueEvents ??= (async () => {
      const { client } = await this.#connect();
      // Read from the stream's current end, taken before anything is enqueued, so no event of a run
      // this process enqueues is missed between connecting and the first read.
      const last = await client.xrevrange(`${this.#base}:events`, '+', '-', 'COUNT', 1);
      const events = new QueueEvents(this.#options.queueName, {
        connection: this.#redisOptions(), prefix: this.#options.prefix, lastEventId: last[0]?.[0] ?? '0-0',
      });
      events.on('error', (error) => { this.#lastError = error; });
      const status = (id: string, value: QueueRunStatus): void => emitLater(this.#emitter, 'status', id, value);
      events.on('waiting', ({ jobId }) => status(jobId, 'queued'));
      events.on('delayed', ({ jobId }) => status(jobId, 'waiting'));
      events.on('active', ({ jobId }) => status(jobId, 'running'));
      events.on('completed', ({ jobId }) => status(jobId, 'succeeded'));
      events.on('failed', ({ jobId, failedReason }) => status(jobId, decodeError(failedReason).code === 'ABORTED' ? 'aborted' : 'failed'));
      events.on('removed', ({ jobId }) => {
        void this.get(jobId).then((info) => status(jobId, info?.status ?? 'removed'), () => status(jobId, 'removed'));
      });
      events.on('progress', ({ jobId, data }) => {
        if (isProgress(data)) emitLater(this.#emitter, 'progress', jobId, data);
      });
      (events as unknown as NodeJS.EventEmitter).on(LOG_EVENT, ({ jobId, line }: { jobId: string; line: string }) => {
        try {
          emitLater(this.#emitter, 'log', jobId, checkLogLine(JSON.parse(line) as QueueLogLine));
        } catch {
          // Not a line of ours: ignore.
        }
      });
      try {
        await deadline(events.waitUntilReady(), this.#options.connectTimeoutMs);
      } catch (error) {
        await closeQuietly(() => events.close());
        throw this.#unavailable(this.#lastError ?? error);
      }
      return events;
    })();
    this.#queueEvents.catch(() => { this.#queueEvents = undefined; });
    return this.#queueEvents;
  }

  // ------------------------------------------------------------ reading runs

  async #job(id: string): Promise<RunJob | undefined> {
    const { queue } = await this.#connect();
    return (await queue.getJob(id)) as RunJob | undefined;
  }

  async #tombstone(id: string): Promise<RunInfo | undefined> {
    const { client } = await this.#connect();
    const text = await client.get(this.#tombstoneKey(id));
    return text ? (JSON.parse(text) as RunInfo) : undefined;
  }

  async get(id: string): Promise<RunInfo | undefined> {
    const found = await this.#jobAndState(id);
    return found ? this.#info(found.job, found.state) : this.#tombstone(id);
  }

  /**
   * The job and its state, read in that order: the state first, so that a run ending between the
   * two reads is seen as still running (and read again), never as ended without its result.
   */
  async #jobAndState(id: string): Promise<{ job: RunJob; state: string } | undefined> {
    const { queue } = await this.#connect();
    const state = await queue.getJobState(id);
    if (state === 'unknown') return undefined;
    const job = await this.#job(id);
    return job ? { job, state } : undefined;
  }

  async #info(job: RunJob, state: string): Promise<RunInfo> {
    const data = job.data;
    const failed = state === 'failed' ? decodeError(job.failedReason) : undefined;
    let status: QueueRunStatus;
    switch (state) {
      case 'completed': status = 'succeeded'; break;
      case 'failed': status = failed?.code === 'ABORTED' ? 'aborted' : 'failed'; break;
      case 'active': status = 'running'; break;
      case 'delayed': case 'waiting-children': status = 'waiting'; break;
      default: status = 'queued'; // wait, prioritized, paused
    }
    // A run with dependencies is picked up now and then only to look at its parents: until they
    // all succeeded, it is waiting, whatever BullMQ's state says at that instant.
    if ((status === 'queued' || status === 'running') && data.dependsOn?.length && (await this.#dependencies(data.dependsOn)).kind !== 'ready') status = 'waiting';
    const tried = job.attemptsMade + (status === 'running' ? 1 : 0);
    const retrying = status === 'waiting' && job.attemptsMade > 0 && job.failedReason;
    const error = failed ?? (retrying ? decodeError(job.failedReason) : undefined);
    return {
      id: job.id!,
      request: data.request,
      status,
      priority: data.priority,
      ...(data.dependsOn?.length ? { dependsOn: data.dependsOn } : {}),
      attempt: data.unstarted ? Math.max(0, tried - 1) : tried,
      attempts: job.opts.attempts ?? 1,
      ...(isProgress(job.progress) ? { progress: job.progress } : {}),
      ...(status === 'succeeded' ? { result: job.returnvalue ?? null } : {}),
      ...(error ? { error } : {}),
      enqueuedAt: data.enqueuedAt,
      ...(job.processedOn ? { startedAt: new Date(job.processedOn).toISOString() } : {}),
      ...(job.finishedOn && FINAL_QUEUE_RUN_STATUSES.includes(status) ? { endedAt: new Date(job.finishedOn).toISOString() } : {}),
    };
  }

  /** Whether a run's parents all succeeded (`ready`), one ended otherwise (`failed`), or some are still to come. */
  async #dependencies(ids: string[]): Promise<{ kind: 'ready' } | { kind: 'pending' } | { kind: 'failed'; message: string }> {
    let pending = false;
    for (const id of ids) {
      const found = await this.#jobAndState(id);
      if (found?.state === 'completed') continue;
      if (found?.state === 'failed') return { kind: 'failed', message: `run ${id} it depends on ${describeRunEnd(await this.#info(found.job, found.state))}` };
      if (!found) {
        const ended = await this.#tombstone(id);
        return { kind: 'failed', message: ended ? `run ${id} it depends on ${describeRunEnd(ended)}` : `run ${id} it depends on is no longer in the queue` };
      }
      pending = true;
    }
    return pending ? { kind: 'pending' } : { kind: 'ready' };
  }

  async list(filter: { status?: QueueRunStatus | QueueRunStatus[]; limit?: number } = {}): Promise<RunInfo[]> {
    const statuses = filter.status === undefined ? undefined : Array.isArray(filter.status) ? filter.status : [filter.status];
    const limit = filter.limit ?? 100;
    const wanted = (status: QueueRunStatus): boolean => !statuses || statuses.includes(status);
    const types = new Set<JobType>();
    if (wanted('queued') || wanted('waiting')) for (const type of ['wait', 'prioritized', 'paused', 'delayed', 'waiting-children'] as JobType[]) types.add(type);
    if (wanted('running') || wanted('waiting')) types.add('active');
    if (wanted('succeeded')) types.add('completed');
    if (wanted('failed') || wanted('aborted')) types.add('failed');
    const { queue, client } = await this.#connect();
    const found: RunInfo[] = [];
    for (const type of types) {
      for (const job of (await queue.getJobs([type], 0, limit - 1, false)) as RunJob[]) {
        if (!job?.id) continue;
        const info = await this.#info(job, type === 'paused' ? 'wait' : type);
        if (wanted(info.status)) found.push(info);
      }
    }
    if (wanted('removed') || wanted('aborted')) {
      await client.zremrangebyscore(this.#tombstones, '-inf', Date.now() - this.#options.keepEndedRunsMs);
      for (const id of await client.zrevrangebyscore(this.#tombstones, '+inf', '-inf', 'LIMIT', 0, limit)) {
        const info = await this.#tombstone(id);
        if (info && wanted(info.status)) found.push(info);
      }
    }
    const unique = [...new Map(found.map((info) => [info.id, info])).values()];
    return unique.sort((a, b) => (a.enqueuedAt < b.enqueuedAt ? 1 : a.enqueuedAt > b.enqueuedAt ? -1 : 0)).slice(0, limit);
  }

  // ------------------------------------------------------------ changing runs

  async enqueue(request: QueuedJobRequest, options?: EnqueueOptions): Promise<EnqueueResult> {
    const resolved = resolveEnqueueOptions(options);
    const copy = normaliseRequest(request);
    const { queue, client } = await this.#connect();
    await this.#startEvents(); // the process that asks hears how its runs go
    for (const parent of resolved.dependsOn) {
      if (!(await this.get(parent))) throw new QueueError('QUEUE_UNKNOWN_RUN', `cannot depend on run ${parent}: no such run in the queue`, { plugin: PLUGIN });
    }
    // One claim per caller-chosen id, atomic in Redis: of two schedulers firing the same slot, one queues it.
    if (resolved.runId !== undefined && (await client.set(this.#claimKey(resolved.runId), '1', 'PX', this.#options.keepEndedRunsMs, 'NX')) === null) {
      return { id: resolved.runId, deduplicated: true };
    }
    const id = resolved.runId ?? randomUUID();
    const data: RunData = {
      request: copy, priority: resolved.priority, enqueuedAt: new Date().toISOString(),
      ...(resolved.dependsOn.length ? { dependsOn: resolved.dependsOn } : {}),
      ...(resolved.timeoutMs !== undefined ? { timeoutMs: resolved.timeoutMs } : {}),
    };
    // BullMQ's deduplication (simple mode): while a run with the same key is not finished (queued,
    // delayed for a retry, running), adding returns that run's id; finishing or removing it frees the key.
    // Adding a job id that exists (two schedulers firing one slot at once) also returns the existing job.
    const job = await queue.add(copy.job, data, {
      jobId: id,
      priority: BULL_PRIORITY[resolved.priority],
      attempts: resolved.attempts,
      backoff: { type: 'exponential', delay: resolved.backoffMs },
      deduplication: { id: requestKey(copy) },
    });
    return { id: job.id!, deduplicated: job.id !== id };
  }

  async logs(id: string): Promise<QueueLogLine[]> {
    const { queue } = await this.#connect();
    const { logs } = await queue.getJobLogs(id, 0, MAX_LOG_LINES - 1);
    const lines: QueueLogLine[] = [];
    for (const text of logs) {
      try {
        lines.push(checkLogLine(JSON.parse(text) as QueueLogLine));
      } catch {
        // A line BullMQ or another tool added: not one of ours.
      }
    }
    return lines;
  }

  /** The job and what is known of it, or the error for a run that is gone or unknown. */
  async #existing(id: string): Promise<{ job: RunJob; info: RunInfo }> {
    const found = await this.#jobAndState(id);
    if (found) return { job: found.job, info: await this.#info(found.job, found.state) };
    const ended = await this.#tombstone(id);
    if (ended) throw new QueueError('QUEUE_RUN_ENDED', `run ${id} already ended: ${ended.status}`, { plugin: PLUGIN });
    throw new QueueError('QUEUE_UNKNOWN_RUN', `no run ${id} in the queue`, { plugin: PLUGIN });
  }

  async remove(id: string): Promise<void> {
    const { job, info } = await this.#existing(id);
    if (info.status === 'running') throw new QueueError('QUEUE_RUN_STARTED', `run ${id} is running: abort it instead`, { plugin: PLUGIN });
    if (FINAL_QUEUE_RUN_STATUSES.includes(info.status)) throw new QueueError('QUEUE_RUN_ENDED', `run ${id} already ended: ${info.status}`, { plugin: PLUGIN });
    if (!(await this.#takeOff(job, info, 'removed', { code: 'QUEUE_RUN_REMOVED', message: `run ${id} was removed from the queue before it ran` }))) {
      throw new QueueError('QUEUE_RUN_STARTED', `run ${id} started meanwhile: abort it instead`, { plugin: PLUGIN });
    }
  }

  /**
   * Takes a run that has not started out of BullMQ, leaving a tombstone so `get` and `wait` can
   * still say what became of it. False when a worker took the run meanwhile (BullMQ refuses to
   * remove a locked job).
   */
  async #takeOff(job: RunJob, info: RunInfo, status: 'removed' | 'aborted', error: { code: string; message: string }): Promise<boolean> {
    const { client } = await this.#connect();
    const ended: RunInfo = { ...info, status, error, endedAt: new Date().toISOString() };
    await client.set(this.#tombstoneKey(info.id), JSON.stringify(ended), 'PX', this.#options.keepEndedRunsMs);
    try {
      await job.remove();
    } catch {
      await client.del(this.#tombstoneKey(info.id));
      return false;
    }
    await client.zadd(this.#tombstones, Date.now(), info.id);
    emitLater(this.#emitter, 'status', info.id, status);
    return true;
  }

  async abort(id: string, reason?: string): Promise<void> {
    const { job, info } = await this.#existing(id);
    if (FINAL_QUEUE_RUN_STATUSES.includes(info.status)) throw new QueueError('QUEUE_RUN_ENDED', `run ${id} already ended: ${info.status}`, { plugin: PLUGIN });
    // The reason alone: whatever runs the job adds "job ID aborted: " in front of it.
    const message = reason || 'aborted through the queue';
    const { client } = await this.#connect();
    // Recorded first: a worker that takes the run from now on (or again, after its worker died)
    // sees it before starting; the channel reaches the worker running it now.
    await client.set(this.#abortKey(id), message, 'PX', this.#options.keepEndedRunsMs);
    if (info.status !== 'running' && (await this.#takeOff(job, info, 'aborted', { code: 'ABORTED', message }))) return;
    await client.publish(this.#abortChannel, JSON.stringify({ id, message }));
  }

  wait(id: string, options: { signal?: AbortSignal } = {}): Promise<JsonValue> {
    return (async () => {
      await this.#startEvents();
      return waitForRun(() => this.get(id), id, this.#emitter, { ...options, closed: this.#closing.signal, pollMs: 1_000 });
    })();
  }

  // ------------------------------------------------------------ workers

  #subscribe(): Promise<RawRedis> {
    this.#subscriber ??= (async () => {
      const { client } = await this.#connect();
      const subscriber = client.duplicate();
      subscriber.on('error', (error: never) => { this.#lastError = error; });
      subscriber.on('message', (channel: never, text: never) => {
        if (channel !== this.#abortChannel) return;
        try {
          const { id, message } = JSON.parse(text) as { id: string; message: string };
          const running = this.#running.get(id);
          if (!running || running.controller.signal.aborted) return;
          running.stop = { kind: 'abort', message };
          running.controller.abort(new AbortedError(message));
        } catch {
          // Not ours: ignore.
        }
      });
      await deadline(subscriber.subscribe(this.#abortChannel), this.#options.connectTimeoutMs);
      return subscriber;
    })();
    this.#subscriber.catch(() => { this.#subscriber = undefined; });
    return this.#subscriber;
  }

  async process(handler: RunHandler, options: ProcessOptions = {}): Promise<QueueWorker> {
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigError(`process: concurrency must be a whole number of at least 1, got ${concurrency}`, { plugin: PLUGIN });
    const { client } = await this.#connect();
    await this.#subscribe();
    const mine = new Map<string, RunningTry>();

    const processor = async (job: RunJob, token?: string): Promise<JsonValue> => {
      const id = job.id!;
      const data = job.data;
      // Ending a run before its handler started: that try is marked, so it is not counted.
      const endUnstarted = async (error: { code: string; message: string }): Promise<never> => {
        await job.updateData({ ...data, unstarted: true });
        throw new UnrecoverableError(encodeError(error));
      };
      // An abort asked before this pickup (while queued, or while the run's last worker was dying).
      const requested = await client.get(this.#abortKey(id));
      if (requested !== null) await endUnstarted({ code: 'ABORTED', message: requested });
      if (data.dependsOn?.length) {
        const verdict = await this.#dependencies(data.dependsOn);
        if (verdict.kind === 'pending') {
          await job.moveToDelayed(Date.now() + this.#options.dependencyPollMs, token);
          throw new DelayedError();
        }
        if (verdict.kind === 'failed') await endUnstarted({ code: 'QUEUE_DEPENDENCY_FAILED', message: `run ${id} did not run: ${verdict.message}` });
      }

      const running: RunningTry = { controller: new AbortController() };
      const { controller } = running;
      this.#running.set(id, running);
      mine.set(id, running);
      const timer = data.timeoutMs === undefined ? undefined : setTimeout(() => {
        running.stop ??= { kind: 'timeout', message: `run ${id} timed out after ${data.timeoutMs} ms` };
        controller.abort(new AbortedError(running.stop.message));
      }, data.timeoutMs);
      const progress = throttledProgress(job);
      const logs = logWriter(job, client, `${this.#base}:events`);
      try {
        const result = await handler(structuredClone(data.request), { id, attempt: job.attemptsMade + 1, signal: controller.signal, progress: progress.report, log: logs.write });
        await Promise.all([progress.flush(), logs.flush()]);
        return (result ?? null) as JsonValue;
      } catch (error) {
        await Promise.all([progress.flush(), logs.flush()]).catch(() => {});
        const stop = running.stop;
        if (stop?.kind === 'abort') throw new UnrecoverableError(encodeError({ code: 'ABORTED', message: stop.message }));
        if (stop?.kind === 'timeout') throw new UnrecoverableError(encodeError({ code: 'QUEUE_RUN_TIMEOUT', message: stop.message }));
        if (stop?.kind === 'shutdown') {
          // Back to the queue without counting the try: another worker (or this one restarted) runs it.
          await job.moveToWait(token);
          throw new WaitingError();
        }
        const recorded = runErrorOf(error);
        if (isPermanentError(error)) throw new UnrecoverableError(encodeError(recorded));
        throw new Error(encodeError(recorded), { cause: error }); // tried again by BullMQ, after its back-off
      } finally {
        clearTimeout(timer);
        progress.stop();
        this.#running.delete(id);
        mine.delete(id);
      }
    };

    const worker = new Worker<RunData, JsonValue, string>(this.#options.queueName, processor, {
      connection: this.#redisOptions(),
      prefix: this.#options.prefix,
      concurrency,
      lockDuration: this.#options.lockDurationMs,
      stalledInterval: this.#options.stalledIntervalMs,
      maxStalledCount: this.#options.maxStalledCount,
    });
    let fail!: (error: unknown) => void;
    let finish!: () => void;
    const stopped = new Promise<void>((resolve, reject) => { finish = resolve; fail = reject; });
    stopped.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
    let closing = false;
    worker.on('error', (error) => {
      this.#lastError = error;
    });
    try {
      await deadline(worker.waitUntilReady(), this.#options.connectTimeoutMs);
    } catch (error) {
      await closeQuietly(() => worker.close(true));
      throw this.#unavailable(this.#lastError ?? error);
    }
    // ioredis gives up reconnecting after about connectTimeoutMs (see #redisOptions): the worker cannot go on.
    const gaveUp = (): void => {
      if (closing) return;
      closing = true;
      fail(this.#unavailable(this.#lastError ?? new Error('connection closed')));
      void closeQuietly(() => worker.close(true));
    };
    (await worker.client as unknown as RawRedis).on('end', gaveUp);
    const handle = {
      stopped,
      close: async (closeOptions: { abortRunning?: boolean } = {}): Promise<void> => {
        if (!closing) {
          closing = true;
          if (closeOptions.abortRunning) {
            for (const running of mine.values()) {
              running.stop ??= { kind: 'shutdown', message: 'the worker is stopping; the run goes back to the queue' };
              running.controller.abort(new AbortedError(running.stop.message));
            }
          }
          await closeQuietly(() => worker.close());
          finish();
        }
        await stopped.catch(() => {});
        this.#workers.delete(handle);
      },
    };
    this.#workers.add(handle);
    return handle;
  }

  // ------------------------------------------------------------ closing

  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    await Promise.all([...this.#workers].map((worker) => worker.close()));
    const subscriber = await this.#subscriber?.catch(() => undefined);
    if (subscriber) await closeQuietly(() => subscriber.quit(), () => subscriber.disconnect());
    const events = await this.#queueEvents?.catch(() => undefined);
    if (events) await closeQuietly(() => events.close());
    const connected = await this.#connected?.catch(() => undefined);
    if (connected) await closeQuietly(() => connected.queue.close());
  }

  async obliterate(): Promise<void> {
    const { queue, client } = await this.#connect();
    await queue.obliterate({ force: true });
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${this.#base}:*`, 'COUNT', 500);
      if (keys.length) await client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
}

// ---------------------------------------------------------------- helpers

/**
 * A run's error travels in BullMQ's `failedReason` as `CODE: message`, readable in any BullMQ
 * dashboard, and parsed back into the code callers branch on.
 */
function encodeError(error: { code: string; message: string }): string {
  return `${error.code}: ${error.message}`;
}

function decodeError(reason: string | undefined): { code: string; message: string } {
  const match = /^([A-Z][A-Z0-9_]*): ([\s\S]*)$/.exec(reason ?? '');
  if (match) return { code: match[1]!, message: match[2]! };
  // BullMQ's own reasons: a run whose workers kept dying, a lost lock.
  return { code: /stalled/i.test(reason ?? '') ? 'QUEUE_RUN_STALLED' : 'RUN_FAILED', message: reason || 'the run failed' };
}

function isProgress(value: unknown): value is JobProgress {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * A run's log lines, in order: each kept with the BullMQ job (its log list, read by `logs`) and
 * sent on the queue's event stream as a `cairn:log` event for whoever follows the run. Best
 * effort, like progress: a line that cannot be written does not fail the run (its history has it).
 */
function logWriter(job: RunJob, client: RawRedis, eventsKey: string): { write(line: QueueLogLine): void; flush(): Promise<void> } {
  let writing: Promise<void> = Promise.resolve();
  let kept = 0;
  return {
    write(line) {
      const copy = checkLogLine(line);
      if (kept++ >= MAX_LOG_LINES) return;
      const text = JSON.stringify(copy);
      writing = writing
        .then(async () => {
          await job.log(text);
          await client.xadd(eventsKey, 'MAXLEN', '~', EVENTS_MAX_LEN, '*', 'event', LOG_EVENT, 'jobId', job.id!, 'line', text);
        })
        .catch(() => { /* best effort */ });
    },
    flush: () => writing,
  };
}

/** Progress to Redis at most every PROGRESS_INTERVAL_MS, the latest report winning; `flush` writes what is pending. */
function throttledProgress(job: RunJob): { report(progress: JobProgress): void; flush(): Promise<void>; stop(): void } {
  let pending: JobProgress | undefined;
  let timer: NodeJS.Timeout | undefined;
  let last = 0;
  let writing: Promise<void> = Promise.resolve();
  let stopped = false;
  const write = (): Promise<void> => {
    timer = undefined;
    if (pending === undefined || stopped) return writing;
    const progress = pending;
    pending = undefined;
    last = Date.now();
    writing = writing.then(() => job.updateProgress(progress as object)).catch(() => { /* progress is best effort */ });
    return writing;
  };
  return {
    report(progress) {
      if (stopped) return;
      pending = structuredClone(progress);
      const wait = PROGRESS_INTERVAL_MS - (Date.now() - last);
      if (wait <= 0) void write();
      else timer ??= setTimeout(() => void write(), wait);
    },
    flush() {
      clearTimeout(timer);
      return write();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

async function deadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** Closes something that may be half-open (Redis gone): never throws, never waits more than a few seconds. */
async function closeQuietly(close: () => Promise<unknown>, force?: () => void): Promise<void> {
  try {
    await deadline(close(), 5_000);
  } catch {
    force?.();
  }
}
