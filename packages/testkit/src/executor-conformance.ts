import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, CairnError, ConfigError } from '@cairn/core';
import type { JobProgress, JobQueue, JsonValue, QueuedJobRequest, QueueLogLine, QueueRunStatus, QueueWorker, RunContext, RunHandler, RunInfo } from '@cairn/core';

export interface ExecutorConformanceHandle {
  /** An empty queue: the suite enqueues, follows and aborts runs through it. */
  queue: JobQueue;
  /**
   * Another handle on the same queue, as a second process would open it; the suite's workers use
   * it, so results, progress and aborts must cross from one handle to the other. Default: `queue`.
   */
  connect?: () => JobQueue;
  /** Removes what the queue left behind (keys on a server). Called after both handles are closed. */
  cleanup?: () => Promise<void>;
}

export type MakeQueue = () => Promise<ExecutorConformanceHandle>;

export interface ExecutorConformanceOptions {
  /** How long the suite waits for something that should happen "within seconds"; default 15 s. */
  withinMs?: number;
}

/**
 * The behaviour every job queue must have, as a vitest suite: results, progress, deduplication,
 * priorities, dependencies, retries with back-off, permanent errors, timeouts, removal, aborts,
 * hand-back on shutdown, and a close that lets the process exit. `makeQueue` is called before each
 * test and must return an empty queue.
 */
export function describeExecutorConformance(name: string, makeQueue: MakeQueue, options: ExecutorConformanceOptions = {}): void {
  const withinMs = options.withinMs ?? 15_000;

  describe(`${name}: executor conformance`, () => {
    let made: ExecutorConformanceHandle;
    let queue: JobQueue;
    let other: JobQueue;
    let workers: QueueWorker[];
    /** Aborted after each test, so handlers blocked on a gate let their worker close. */
    let release: AbortController;

    beforeEach(async () => {
      made = await makeQueue();
      queue = made.queue;
      other = made.connect?.() ?? queue;
      workers = [];
      release = new AbortController();
    });
    afterEach(async () => {
      release.abort();
      await Promise.all(workers.map((worker) => worker.close({ abortRunning: true })));
      await queue.close();
      if (other !== queue) await other.close();
      await made.cleanup?.();
    });

    const work = async (handler: RunHandler, concurrency = 1, on: JobQueue = other): Promise<QueueWorker> => {
      const worker = await on.process(handler, { concurrency });
      workers.push(worker);
      return worker;
    };
    const until = async (what: string, condition: () => boolean | Promise<boolean>): Promise<void> => {
      const deadline = Date.now() + withinMs;
      while (!(await condition())) {
        if (Date.now() > deadline) throw new Error(`timed out after ${withinMs} ms waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    const statusOf = async (id: string): Promise<QueueRunStatus | undefined> => (await queue.get(id))?.status;
    const info = async (id: string): Promise<RunInfo> => {
      const found = await queue.get(id);
      if (!found) throw new Error(`run ${id} is unknown`);
      return found;
    };
    /** A promise that resolves when `release` fires or `gate` opens, whichever is first. */
    const gate = () => {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => {
        open = resolve;
        release.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      return { open, opened };
    };
    const rejection = async (promise: Promise<unknown>): Promise<unknown> => promise.then(() => { throw new Error('expected a rejection'); }, (error: unknown) => error);
    const request = (job: string, extra: Partial<QueuedJobRequest> = {}): QueuedJobRequest => ({ job, ...extra });

    it('runs a request in a worker and returns its JSON result to the enqueuer', async () => {
      const statuses: QueueRunStatus[] = [];
      let seen: QueuedJobRequest | undefined;
      let context: Omit<RunContext, 'signal' | 'progress' | 'log'> | undefined;
      await work(async (req, ctx) => {
        seen = req;
        context = { id: ctx.id, attempt: ctx.attempt };
        return { job: req.job, numbers: [1, 2.5], nested: { ok: true, none: null } };
      });
      const asked = request('docs', { environment: 'production', requestedBy: 'test:conformance', profile: 'without-user-data', options: { description: 'nightly', level: 5 } });
      const { id, deduplicated } = await queue.enqueue(asked);
      queue.events.on('status', (runId, status) => { if (runId === id) statuses.push(status); });
      expect(deduplicated).toBe(false);
      expect(id).toMatch(/\S/);
      const result = await queue.wait(id);
      expect(result).toEqual({ job: 'docs', numbers: [1, 2.5], nested: { ok: true, none: null } });
      expect(seen).toEqual(asked);
      expect(context).toEqual({ id, attempt: 1 });
      const ended = await info(id);
      expect(ended).toMatchObject({ id, request: asked, status: 'succeeded', priority: 'normal', attempt: 1, result });
      expect(ended.error).toBeUndefined();
      for (const time of [ended.enqueuedAt, ended.startedAt, ended.endedAt]) expect(Number.isNaN(Date.parse(time ?? ''))).toBe(false);
      expect(Date.parse(ended.endedAt!)).toBeGreaterThanOrEqual(Date.parse(ended.startedAt!));
      await until('the succeeded status event', () => statuses.includes('succeeded'));
      expect((await queue.list({ status: 'succeeded' })).map((run) => run.id)).toContain(id);
      expect((await queue.list({ status: 'queued' })).map((run) => run.id)).not.toContain(id);
      expect(await queue.get('no-such-run')).toBeUndefined();
      expect(await rejection(queue.wait('no-such-run'))).toMatchObject({ code: 'QUEUE_UNKNOWN_RUN' });
    });

    it('brings progress reported by the worker to the enqueuer', async () => {
      const seen = gate();
      const progress: JobProgress = { ratio: 0.5, filesDone: 3, bytesDone: 4096, message: 'half way' };
      await work(async (_req, ctx) => {
        ctx.progress({ ratio: 0.1, message: 'starting' });
        ctx.progress(progress);
        await seen.opened;
        return 'done';
      });
      const received: JobProgress[] = [];
      let id = '';
      queue.events.on('progress', (runId, p) => {
        if (runId !== id) return;
        received.push(p);
        if (p.message === 'half way') seen.open();
      });
      ({ id } = await queue.enqueue(request('progress')));
      expect(await queue.wait(id)).toBe('done');
      expect(received.at(-1)).toEqual(progress);
      expect((await info(id)).progress).toEqual(progress);
    });

    it('brings the log lines a worker writes to the enqueuer, in order, and keeps them with the run', async () => {
      const lines: QueueLogLine[] = [
        { time: '2026-01-02T03:04:05.000Z', level: 'info', message: 'backup started' },
        { time: '2026-01-02T03:04:06.000Z', level: 'warn', message: 'docs/locked.txt: permission denied' },
        { time: '2026-01-02T03:04:07.000Z', level: 'error', message: 'x'.repeat(5000) },
      ];
      await work(async (_req, ctx) => {
        for (const line of lines) ctx.log(line);
        expect(() => ctx.log({ time: 'now', level: 'loud' as never, message: 'no' })).toThrow(ConfigError);
        return 'logged';
      });
      const received: QueueLogLine[] = [];
      let id = '';
      queue.events.on('log', (runId, line) => { if (runId === id) received.push(line); });
      ({ id } = await queue.enqueue(request('logging')));
      expect(await queue.wait(id)).toBe('logged');
      const expected = [lines[0], lines[1], { ...lines[2], message: 'x'.repeat(4096) }];
      await until('the log lines to arrive', () => received.length === 3);
      expect(received).toEqual(expected);
      expect(await queue.logs(id)).toEqual(expected);
      expect(await queue.logs('no-such-run')).toEqual([]);
    });

    it('does not queue an identical request twice while it is queued or running, but does for other options', async () => {
      const first = await queue.enqueue(request('dedupe', { environment: 'staging', options: { level: 3, tag: 'a' } }));
      const same = await queue.enqueue(request('dedupe', { environment: 'staging', options: { tag: 'a', level: 3 }, requestedBy: 'someone else' }));
      expect(same).toEqual({ id: first.id, deduplicated: true });
      const otherOptions = await queue.enqueue(request('dedupe', { environment: 'staging', options: { level: 4, tag: 'a' } }));
      const otherEnvironment = await queue.enqueue(request('dedupe', { environment: 'production', options: { level: 3, tag: 'a' } }));
      for (const different of [otherOptions, otherEnvironment]) {
        expect(different.deduplicated).toBe(false);
        expect(different.id).not.toBe(first.id);
      }
      // Running is still "already there".
      const running = gate();
      await work(async () => { await running.opened; return null; }, 3);
      await until('the run to start', async () => (await statusOf(first.id)) === 'running');
      expect(await queue.enqueue(request('dedupe', { environment: 'staging', options: { level: 3, tag: 'a' } }))).toEqual({ id: first.id, deduplicated: true });
      running.open();
      await queue.wait(first.id);
      // Ended: a new request is a new run.
      const again = await queue.enqueue(request('dedupe', { environment: 'staging', options: { level: 3, tag: 'a' } }));
      expect(again.deduplicated).toBe(false);
      expect(again.id).not.toBe(first.id);
      await queue.wait(again.id);
    });

    it('queues a run under a caller-chosen id once, however often or from wherever it is asked, even after it ended', async () => {
      const slot = 'schedule.nightly.2026-01-02T03:00:00.000Z';
      const asks = await Promise.all([queue, other, queue].map((on) => on.enqueue(request('nightly', { requestedBy: 'schedule:nightly' }), { runId: slot })));
      expect(asks.map((ask) => ask.id)).toEqual([slot, slot, slot]);
      expect(asks.filter((ask) => !ask.deduplicated)).toHaveLength(1);
      let runs = 0;
      await work(async () => { runs++; return 'ran'; });
      expect(await queue.wait(slot)).toBe('ran');
      expect(await queue.enqueue(request('nightly'), { runId: slot })).toEqual({ id: slot, deduplicated: true });
      const next = await queue.enqueue(request('nightly'), { runId: 'schedule.nightly.2026-01-03T03:00:00.000Z' });
      expect(next.deduplicated).toBe(false);
      await queue.wait(next.id);
      expect(runs).toBe(2);
      expect(await rejection(queue.enqueue(request('nightly'), { runId: 'no spaces allowed' }))).toMatchObject({ code: 'CONFIG_INVALID' });
    });

    it('runs high-priority requests ahead of queued low-priority ones', async () => {
      const slow = gate();
      const order: string[] = [];
      await work(async (req) => {
        order.push(req.job);
        if (req.job === 'slow') await slow.opened;
        return null;
      }, 1);
      const first = await queue.enqueue(request('slow'));
      await until('the slow run to start', async () => (await statusOf(first.id)) === 'running');
      const low = await queue.enqueue(request('routine'), { priority: 'low' });
      const normal = await queue.enqueue(request('ordinary'));
      const high = await queue.enqueue(request('urgent'), { priority: 'high' });
      expect((await info(high.id)).priority).toBe('high');
      expect(await statusOf(low.id)).toBe('queued');
      slow.open();
      await Promise.all([low, normal, high].map((run) => queue.wait(run.id)));
      expect(order).toEqual(['slow', 'urgent', 'ordinary', 'routine']);
    });

    it('starts a dependent run only after the runs it depends on succeeded', async () => {
      const parentGate = gate();
      const log: string[] = [];
      await work(async (req) => {
        log.push(`start ${req.job}`);
        if (req.job === 'parent') await parentGate.opened;
        log.push(`end ${req.job}`);
        return req.job;
      }, 2);
      const parent = await queue.enqueue(request('parent'));
      const sibling = await queue.enqueue(request('sibling'));
      const child = await queue.enqueue(request('child'), { dependsOn: [parent.id, sibling.id] });
      await queue.wait(sibling.id);
      await until('the parent to run', async () => (await statusOf(parent.id)) === 'running');
      expect(await statusOf(child.id)).toBe('waiting');
      expect((await info(child.id)).dependsOn).toEqual([parent.id, sibling.id]);
      parentGate.open();
      expect(await queue.wait(child.id)).toBe('child');
      expect(log.indexOf('start child')).toBeGreaterThan(log.indexOf('end parent'));
      expect(await rejection(queue.enqueue(request('orphan'), { dependsOn: ['no-such-run'] }))).toMatchObject({ code: 'QUEUE_UNKNOWN_RUN' });
    });

    it('aborts a run that waits for its dependencies, which then never runs', async () => {
      const parentGate = gate();
      const ran: string[] = [];
      await work(async (req) => {
        ran.push(req.job);
        if (req.job === 'slow-parent') await parentGate.opened;
        return null;
      }, 2);
      const parent = await queue.enqueue(request('slow-parent'));
      const child = await queue.enqueue(request('unwanted-child'), { dependsOn: [parent.id] });
      await until('the parent to run', async () => (await statusOf(parent.id)) === 'running');
      await queue.abort(child.id, 'no longer needed');
      await expect(queue.wait(child.id)).rejects.toBeInstanceOf(AbortedError);
      parentGate.open();
      await queue.wait(parent.id);
      expect(await info(child.id)).toMatchObject({ status: 'aborted', attempt: 0, error: { code: 'ABORTED' } });
      expect(ran).toEqual(['slow-parent']);
    });

    it('fails a dependent run without running it when a run it depends on fails', async () => {
      const ran: string[] = [];
      await work(async (req) => {
        ran.push(req.job);
        if (req.job === 'broken') throw new ConfigError('jobs.broken: no such source');
        return null;
      });
      const parent = await queue.enqueue(request('broken'));
      const child = await queue.enqueue(request('after-broken'), { dependsOn: [parent.id] });
      const error = await rejection(queue.wait(child.id));
      expect(error).toBeInstanceOf(CairnError);
      expect(error).toMatchObject({ code: 'QUEUE_DEPENDENCY_FAILED' });
      const ended = await info(child.id);
      expect(ended.status).toBe('failed');
      expect(ended.error?.code).toBe('QUEUE_DEPENDENCY_FAILED');
      expect(ended.error?.message).toContain(parent.id);
      expect(ended.attempt).toBe(0);
      expect(ran).toEqual(['broken']);
    });

    it('tries a failing run again after an exponential back-off, then records the last error', async () => {
      const starts = new Map<string, number[]>();
      await work(async (req, ctx) => {
        const list = starts.get(ctx.id) ?? [];
        list.push(Date.now());
        starts.set(ctx.id, list);
        if (req.job === 'flaky' && ctx.attempt < 3) throw new CairnError('TARGET_UNAVAILABLE', `try ${ctx.attempt} failed`);
        if (req.job === 'hopeless') throw new CairnError('TARGET_UNAVAILABLE', `try ${ctx.attempt} failed`);
        return { attempt: ctx.attempt };
      });
      const flaky = await queue.enqueue(request('flaky'), { attempts: 3, backoffMs: 200 });
      expect(await queue.wait(flaky.id)).toEqual({ attempt: 3 });
      const times = starts.get(flaky.id)!;
      expect(times).toHaveLength(3);
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(180);
      expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(360); // doubled
      expect(await info(flaky.id)).toMatchObject({ status: 'succeeded', attempt: 3, attempts: 3 });

      const hopeless = await queue.enqueue(request('hopeless'), { attempts: 2, backoffMs: 50 });
      const error = await rejection(queue.wait(hopeless.id));
      expect(error).toBeInstanceOf(CairnError);
      expect(error).toMatchObject({ code: 'TARGET_UNAVAILABLE', message: 'try 2 failed' });
      expect(await info(hopeless.id)).toMatchObject({ status: 'failed', attempt: 2, error: { code: 'TARGET_UNAVAILABLE', message: 'try 2 failed' } });
      expect(starts.get(hopeless.id)).toHaveLength(2);
    });

    it('does not try a run again after a configuration error', async () => {
      let tries = 0;
      await work(async () => {
        tries++;
        throw new ConfigError('jobs.docs.repository: unknown repository "nope"');
      });
      const { id } = await queue.enqueue(request('misconfigured'), { attempts: 5, backoffMs: 10 });
      const error = await rejection(queue.wait(id));
      expect(error).toBeInstanceOf(ConfigError);
      expect(await info(id)).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'CONFIG_INVALID' } });
      expect(tries).toBe(1);
    });

    it('aborts a run that runs past its timeout, and does not try it again', async () => {
      let tries = 0;
      let sawAbort = false;
      await work(async (_req, ctx) => {
        tries++;
        await new Promise<void>((resolve) => {
          if (ctx.signal.aborted) resolve();
          ctx.signal.addEventListener('abort', () => resolve(), { once: true });
          release.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        sawAbort = ctx.signal.aborted;
        throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new AbortedError();
      });
      const { id } = await queue.enqueue(request('endless'), { timeoutMs: 300, attempts: 3, backoffMs: 10 });
      const error = await rejection(queue.wait(id));
      expect(error).toMatchObject({ code: 'QUEUE_RUN_TIMEOUT' });
      expect(sawAbort).toBe(true);
      expect(await info(id)).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'QUEUE_RUN_TIMEOUT' } });
      expect(tries).toBe(1);
    });

    it('removes a queued run, which then never runs; a running or ended one cannot be removed', async () => {
      const queued = await queue.enqueue(request('unwanted'));
      await queue.remove(queued.id);
      const removed = await info(queued.id);
      expect(removed.status).toBe('removed');
      expect(await rejection(queue.wait(queued.id))).toMatchObject({ code: 'QUEUE_RUN_REMOVED' });
      expect(await rejection(queue.remove(queued.id))).toMatchObject({ code: 'QUEUE_RUN_ENDED' });
      expect(await rejection(queue.remove('no-such-run'))).toMatchObject({ code: 'QUEUE_UNKNOWN_RUN' });

      const ran: string[] = [];
      const blocker = gate();
      await work(async (req) => {
        ran.push(req.job);
        if (req.job === 'blocker') await blocker.opened;
        return null;
      });
      const running = await queue.enqueue(request('blocker'));
      await until('the blocker to run', async () => (await statusOf(running.id)) === 'running');
      expect(await rejection(queue.remove(running.id))).toMatchObject({ code: 'QUEUE_RUN_STARTED' });
      const again = await queue.enqueue(request('unwanted'));
      expect(again.deduplicated).toBe(false); // the removed run no longer counts
      blocker.open();
      await queue.wait(again.id);
      expect(ran).toEqual(['blocker', 'unwanted']);
      expect(await rejection(queue.remove(running.id))).toMatchObject({ code: 'QUEUE_RUN_ENDED' });
    });

    it('aborts a running run through its signal within seconds, and a queued one at once; neither is tried again', async () => {
      let signalled: unknown;
      let tries = 0;
      const ran: string[] = [];
      await work(async (req, ctx) => {
        ran.push(req.job);
        if (req.job !== 'long') return null;
        tries++;
        await new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => resolve(), { once: true });
          release.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        signalled = ctx.signal.reason;
        throw new AbortedError(ctx.signal.reason instanceof Error ? ctx.signal.reason.message : 'aborted');
      }, 1);
      const long = await queue.enqueue(request('long'), { attempts: 3, backoffMs: 10 });
      const behind = await queue.enqueue(request('behind'));
      await until('the long run to start', async () => (await statusOf(long.id)) === 'running');

      await queue.abort(behind.id, 'not needed');
      expect(await info(behind.id)).toMatchObject({ status: 'aborted', attempt: 0, error: { code: 'ABORTED' } });

      const asked = Date.now();
      await queue.abort(long.id, 'the operator said stop');
      const error = await rejection(queue.wait(long.id));
      expect(Date.now() - asked).toBeLessThan(withinMs);
      expect(error).toBeInstanceOf(AbortedError);
      expect(signalled).toBeDefined();
      const ended = await info(long.id);
      expect(ended).toMatchObject({ status: 'aborted', attempt: 1, error: { code: 'ABORTED' } });
      expect(ended.error?.message).toContain('the operator said stop');
      expect(tries).toBe(1);
      expect(ran).toEqual(['long']);
      expect(await rejection(queue.abort(long.id))).toMatchObject({ code: 'QUEUE_RUN_ENDED' });
      expect(await rejection(queue.abort('no-such-run'))).toMatchObject({ code: 'QUEUE_UNKNOWN_RUN' });
    });

    it('hands a run back to the queue when its worker stops with abortRunning, and another worker runs it', async () => {
      const started = gate();
      const first = await work(async (_req, ctx) => {
        started.open();
        await new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => resolve(), { once: true });
          release.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        throw new AbortedError('stopping');
      });
      const { id } = await queue.enqueue(request('handed-back'));
      await started.opened;
      await first.close({ abortRunning: true });
      await first.stopped;
      expect(['queued', 'waiting']).toContain(await statusOf(id));
      await work(async (_req, ctx) => ({ attempt: ctx.attempt }), 1, queue);
      expect(await queue.wait(id)).toEqual({ attempt: 1 });
      expect(await info(id)).toMatchObject({ status: 'succeeded', attempt: 1 });
    });

    it('lets the process exit once closed: no timer or socket of its own is left', async () => {
      const before = resourceCounts();
      const fresh = await makeQueue();
      const freshOther = fresh.connect?.() ?? fresh.queue;
      try {
        const worker = await freshOther.process(async (req) => req.job as JsonValue, { concurrency: 2 });
        const { id } = await fresh.queue.enqueue(request('closing'));
        fresh.queue.events.on('progress', () => {});
        expect(await fresh.queue.wait(id)).toBe('closing');
        // A run waiting for a back-off and one that never got a worker must not hold the process either.
        await fresh.queue.enqueue(request('left-behind'));
        await worker.close();
        await worker.stopped;
      } finally {
        await fresh.queue.close();
        if (freshOther !== fresh.queue) await freshOther.close();
        await fresh.cleanup?.();
      }
      await until('the queue\'s handles to close', () => {
        const after = resourceCounts();
        return Object.entries(after).every(([type, count]) => count <= (before[type] ?? 0));
      });
      expect(await rejection(fresh.queue.enqueue(request('too-late')))).toMatchObject({ code: 'QUEUE_CLOSED' });
    });
  });
}

/** Active handles by type (`Timeout`, `TCPSocketWrap`…): what keeps a process alive. */
function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}
