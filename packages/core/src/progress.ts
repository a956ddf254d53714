import type { JobContext } from './contracts.js';
import type { CairnEvents } from './events.js';
import type { CairnHooks, ProgressEvent, RunOperation } from './hooks.js';
import type { Logger } from './logger.js';
import type { EventEmitter } from 'eventemitter3';

export type ProgressValues = Omit<ProgressEvent, 'runId' | 'operation' | 'elapsedMs' | 'final'>;

/** Reports at most one progress event per `intervalMs` (plus a final one), to hooks, events and the job. */
export interface ProgressReporter {
  update(values: ProgressValues): void;
  /** Sends the final event; values default to the last update. */
  finish(values?: ProgressValues): void;
}

export function createProgressReporter(options: {
  runId: string;
  operation: RunOperation;
  hooks: CairnHooks;
  events: EventEmitter<CairnEvents>;
  job: JobContext;
  logger: Logger;
  intervalMs?: number;
}): ProgressReporter {
  const interval = options.intervalMs ?? 100;
  const started = performance.now();
  let lastSent = -Infinity;
  let latest: ProgressValues = { filesDone: 0, bytesDone: 0 };
  let tapFailed = false;
  let finished = false;

  const send = (final: boolean): void => {
    const event: ProgressEvent = { ...latest, runId: options.runId, operation: options.operation, elapsedMs: performance.now() - started, final };
    try {
      options.hooks.onProgress.call(event);
    } catch (error) {
      // A failing progress tap must not fail the run it watches; say so once.
      if (!tapFailed) options.logger.warn(`an onProgress tap failed: ${error instanceof Error ? error.message : String(error)}`, { run: options.runId });
      tapFailed = true;
    }
    options.events.emit('progress', event);
    options.job.progress({ filesDone: event.filesDone, bytesDone: event.bytesDone, ...(event.currentPath ? { message: event.currentPath } : {}) });
  };

  return {
    update(values) {
      if (finished) return;
      latest = values;
      const now = performance.now();
      if (now - lastSent < interval) return;
      lastSent = now;
      send(false);
    },
    finish(values) {
      if (finished) return;
      finished = true;
      if (values) latest = values;
      send(true);
    },
  };
}
