import { EventEmitter } from 'node:events';
import type { Cairn, JobProgress, JobQueue, LogLevel, ProgressEvent, QueueLogLine, QueueRunStatus } from '@cairn/core';
import { FINAL_QUEUE_RUN_STATUSES, redact } from '@cairn/core';
import type { z } from 'zod';
import type { runProgress } from './schemas.js';

/** A run's progress as the API shows it: what the queue's worker or the restore reported last. */
export type RunProgress = z.output<typeof runProgress>;

export interface RunFeedEvents {
  progress: [id: string, progress: RunProgress];
  status: [id: string, status: QueueRunStatus];
  log: [id: string, line: QueueLogLine];
}

/**
 * One place to hear about runs, whatever runs them: the queue's events (backups, wherever their
 * worker is) and the core's events for the restores this process runs. Keeps each active run's
 * latest progress.
 */
export class RunFeed extends EventEmitter<RunFeedEvents> {
  readonly #progress = new Map<string, RunProgress>();
  readonly #local = new Set<string>();
  readonly #detach: Array<() => void> = [];

  constructor(queue: JobQueue, cairn: Cairn) {
    super();
    this.setMaxListeners(0);
    const onProgress = (id: string, progress: JobProgress): void => this.progress(id, progress);
    const onStatus = (id: string, status: QueueRunStatus): void => this.status(id, status);
    const onLog = (id: string, line: QueueLogLine): void => {
      this.emit('log', id, line);
    };
    queue.events.on('progress', onProgress);
    queue.events.on('status', onStatus);
    queue.events.on('log', onLog);
    const onCoreProgress = (event: ProgressEvent): void => {
      if (!this.#local.has(event.runId)) return;
      this.progress(event.runId, {
        filesDone: event.filesDone, bytesDone: event.bytesDone,
        ...(event.bytesTotal !== undefined ? { bytesTotal: event.bytesTotal, ratio: event.bytesTotal > 0 ? Math.min(1, event.bytesDone / event.bytesTotal) : 1 } : {}),
        ...(event.filesTotal !== undefined ? { filesTotal: event.filesTotal } : {}),
        ...(event.currentPath !== undefined ? { message: event.currentPath } : {}),
      });
    };
    const onCoreLog = (level: LogLevel, message: string, fields: Record<string, unknown> | undefined): void => {
      const run = fields?.run;
      if (typeof run !== 'string' || !this.#local.has(run) || level === 'debug') return;
      this.emit('log', run, { time: new Date().toISOString(), level, message: redact(message) });
    };
    cairn.events.on('progress', onCoreProgress);
    cairn.events.on('log', onCoreLog);
    this.#detach.push(() => {
      queue.events.off('progress', onProgress);
      queue.events.off('status', onStatus);
      queue.events.off('log', onLog);
      cairn.events.off('progress', onCoreProgress);
      cairn.events.off('log', onCoreLog);
    });
  }

  /** Also hear the core's events for this run (a restore run in this process). */
  watchLocal(id: string): void {
    this.#local.add(id);
  }

  progress(id: string, progress: RunProgress): void {
    this.#progress.set(id, progress);
    this.emit('progress', id, progress);
  }

  status(id: string, status: QueueRunStatus): void {
    if (FINAL_QUEUE_RUN_STATUSES.includes(status)) {
      this.#progress.delete(id);
      this.#local.delete(id);
    }
    this.emit('status', id, status);
  }

  latest(id: string): RunProgress | undefined {
    return this.#progress.get(id);
  }

  close(): void {
    for (const detach of this.#detach.splice(0)) detach();
    this.removeAllListeners();
  }
}
