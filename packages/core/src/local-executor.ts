import { z } from 'zod';
import type { ExecutorInstance, JobHandle, JobProgress, JobSpec } from './contracts.js';
import { parseOptions } from './contracts.js';
import { AbortedError, CairnError } from './errors.js';
import { memoryJobQueue } from './job-queue.js';

export const localExecutorOptions = z.object({
  concurrency: z.number().int().min(1).max(64).default(1)
    .describe('How many jobs run at once; further jobs wait in a queue, in submission order, except that restores go ahead of the rest.'),
});
export type LocalExecutorOptions = z.input<typeof localExecutorOptions>;

interface QueuedJob {
  /** Restores go ahead of everything else waiting: someone is waiting to get data back. */
  urgent: boolean;
  start(): void;
}

/**
 * The in-process job runner: a FIFO queue with a concurrency limit, in which a restore waits only
 * for the restores before it. `@cairn/executor-local` wraps this one implementation as a plugin;
 * the orchestrator uses it when no executor is given.
 */
export function createLocalExecutor(options: LocalExecutorOptions = {}): ExecutorInstance {
  const { concurrency } = parseOptions('local', localExecutorOptions, options);
  const queue: QueuedJob[] = [];
  const settled = new Set<Promise<unknown>>();
  let running = 0;
  let closed = false;
  // Queued job runs stay in this process, so the CLI sees the same shape as with a remote executor;
  // `cairn run` with this executor runs in-process, as it always did, and never enqueues here.
  const jobQueue = memoryJobQueue();

  const next = (): void => {
    while (running < concurrency && queue.length > 0) queue.shift()!.start();
  };

  function submit<T>(job: JobSpec<T>, submitOptions: { signal?: AbortSignal; onProgress?: (progress: JobProgress) => void } = {}): JobHandle<T> {
    const controller = new AbortController();
    const abort = (reason?: string): void => {
      if (!controller.signal.aborted) controller.abort(new AbortedError(reason ? `job ${job.id} aborted: ${reason}` : `job ${job.id} was aborted`));
    };
    if (closed) {
      const result = Promise.reject(new CairnError('EXECUTOR_CLOSED', `cannot run ${job.type} job ${job.id}: the executor is closed; create a new one`, { plugin: 'local' }));
      return { id: job.id, result, abort };
    }

    const external = submitOptions.signal;
    const onExternalAbort = (): void => abort(reasonText(external?.reason));
    if (external?.aborted) onExternalAbort();
    else external?.addEventListener('abort', onExternalAbort, { once: true });

    const result = new Promise<T>((resolve, reject) => {
      let started = false;
      const entry: QueuedJob = {
        urgent: job.type === 'restore',
        start() {
          started = true;
          controller.signal.removeEventListener('abort', onQueuedAbort);
          running++;
          const progress = (p: JobProgress): void => {
            try {
              submitOptions.onProgress?.(p);
            } catch {
              // A progress observer must not break the job it observes.
            }
          };
          runJob(job, controller.signal, progress).then(resolve, reject).finally(() => {
            running--;
            external?.removeEventListener('abort', onExternalAbort);
            next();
          });
        },
      };
      // Aborted while waiting: leave the queue at once, never start.
      const onQueuedAbort = (): void => {
        if (started) return;
        const index = queue.indexOf(entry);
        if (index >= 0) queue.splice(index, 1);
        external?.removeEventListener('abort', onExternalAbort);
        reject(controller.signal.reason instanceof AbortedError ? controller.signal.reason : new AbortedError(`job ${job.id} was aborted`));
      };
      if (controller.signal.aborted) {
        onQueuedAbort();
        return;
      }
      controller.signal.addEventListener('abort', onQueuedAbort, { once: true });
      const behind = entry.urgent ? queue.findIndex((queued) => !queued.urgent) : -1;
      if (behind < 0) queue.push(entry);
      else queue.splice(behind, 0, entry);
      next();
    });
    const tracked = result.then(() => undefined, () => undefined);
    settled.add(tracked);
    void tracked.then(() => settled.delete(tracked));
    return { id: job.id, result, abort };
  }

  return Object.freeze({
    kind: 'executor' as const,
    plugin: 'local',
    concurrency,
    submit,
    queue: jobQueue,
    /** Refuses new jobs, then waits for every accepted one (queued or running) to settle. */
    async close(): Promise<void> {
      closed = true;
      while (settled.size > 0) await Promise.all([...settled]);
      await jobQueue.close();
    },
  });
}

async function runJob<T>(job: JobSpec<T>, signal: AbortSignal, progress: (p: JobProgress) => void): Promise<T> {
  try {
    return await job.run({ signal, progress });
  } catch (error) {
    // Node's own AbortError (streams, timers) becomes ours, so callers can branch on code ABORTED.
    if (signal.aborted && error instanceof Error && error.name === 'AbortError') {
      throw new AbortedError(signal.reason instanceof Error ? signal.reason.message : undefined, { cause: error });
    }
    throw error;
  }
}

function reasonText(reason: unknown): string | undefined {
  if (reason === undefined) return undefined;
  if (reason instanceof Error) return reason.message;
  return String(reason);
}
