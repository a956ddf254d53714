import type { Snapshot } from '@cairn/repository';
import type { AbortRequests } from './abort-requests.js';
import type { Cairn } from './api.js';
import type { CairnConfig } from './config.js';
import type { LogLevel } from './events.js';
import type { ProgressEvent } from './hooks.js';
import type { JsonValue, QueuedJobRequest, RunContext, RunHandler } from './job-queue.js';
import { runJob } from './jobs.js';
import { redact } from './redact.js';
import type { JobRunResult } from './jobs.js';

/*
 * What a process that takes queued runs does with each: `cairn worker`, `cairn serve` and
 * `cairn schedule run` with the in-process queue, and a host app's own worker, all use this one
 * handler, so a run behaves the same wherever it is taken.
 */

/** What a queued run of a job returns to whoever asked (plain JSON): enough to print what `cairn run` prints. */
export interface QueuedRunResult {
  job: string;
  environment: string | null;
  snapshot: Snapshot;
  /** The first 100 entries that could not be read, and how many there were. */
  warnings: Array<{ path: string; message: string }>;
  warningCount: number;
  retention: { kept: string[]; removed: string[] } | null;
  notificationFailures: Array<{ notifier: string; message: string }>;
}

export interface JobRunHandlerOptions {
  cairn: Cairn;
  config: CairnConfig;
  /** Where repository passwords named by the config are read. Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Abort requests recorded by other processes (`cairn abort RUN` through a state folder), watched during each run. */
  abortRequests?: AbortRequests;
  /** Hears each run start, for a worker's own log. */
  onStart?(request: QueuedJobRequest, run: RunContext): void;
  /** Hears each run end, with its result or its error. */
  onEnd?(request: QueuedJobRequest, run: RunContext, outcome: { result: JobRunResult } | { error: unknown }): void;
}

/**
 * The handler for `JobQueue.process`: runs the request's job with `runJob` under the run's id and
 * signal, reports the backup's progress and the run's log lines (info and above) to whoever
 * follows the run, and returns a QueuedRunResult.
 */
export function jobRunHandler(options: JobRunHandlerOptions): RunHandler {
  const { cairn, config, env = process.env, abortRequests } = options;
  return async (request, run) => {
    options.onStart?.(request, run);
    const onProgress = (event: ProgressEvent): void => {
      if (event.runId !== run.id) return;
      run.progress({
        filesDone: event.filesDone, bytesDone: event.bytesDone,
        ...(event.bytesTotal ? { ratio: Math.min(1, event.bytesDone / event.bytesTotal) } : {}),
        ...(event.currentPath !== undefined ? { message: event.currentPath } : {}),
      });
    };
    // The run's own signal (abort through the queue, its timeout, the worker stopping) and requests through the state folder.
    const controller = new AbortController();
    const forward = (): void => controller.abort(run.signal.reason);
    if (run.signal.aborted) forward();
    else run.signal.addEventListener('abort', forward, { once: true });
    const stopWatching = abortRequests?.watch(run.id, controller);
    // The run's own lines (its backup, estimate and retention steps run as `ID`, `ID.estimate`, `ID.retention`), debug left out.
    const onLog = (level: LogLevel, message: string, fields: Record<string, unknown> | undefined): void => {
      const runId = fields?.run;
      if (level === 'debug' || typeof runId !== 'string' || (runId !== run.id && !runId.startsWith(`${run.id}.`))) return;
      run.log({ time: new Date().toISOString(), level, message: redact(message) });
    };
    cairn.events.on('progress', onProgress);
    cairn.events.on('log', onLog);
    try {
      const result = await runJob(cairn, config, { ...request, runId: run.id, signal: controller.signal }, env);
      options.onEnd?.(request, run, { result });
      return queuedRunResult(result);
    } catch (error) {
      options.onEnd?.(request, run, { error });
      throw error;
    } finally {
      cairn.events.off('progress', onProgress);
      cairn.events.off('log', onLog);
      stopWatching?.();
      run.signal.removeEventListener('abort', forward);
    }
  };
}

/** A job run's result as plain JSON, as a queue hands it back. */
export function queuedRunResult(result: JobRunResult): JsonValue {
  const { snapshot, warnings } = result.backup;
  const summary: QueuedRunResult = {
    job: result.job,
    environment: result.environment ?? null,
    snapshot,
    warnings: warnings.slice(0, 100).map(({ path, message }) => ({ path, message })),
    warningCount: warnings.length,
    retention: result.retention ? { kept: result.retention.keep.map((k) => k.snapshot.id), removed: result.retention.remove.map((s) => s.id) } : null,
    notificationFailures: (result.notificationFailures ?? []).map(({ notifier, message }) => ({ notifier, message })),
  };
  return JSON.parse(JSON.stringify(summary)) as JsonValue;
}
