import { randomUUID } from 'node:crypto';
import { runErrorOf } from '@cairn/core';
import type { Cairn, Logger, QueueRunStatus, RestoreRequest } from '@cairn/core';
import type { RunFeed } from './run-feed.js';

/** Ended restores remembered in memory, for their status until the history has recorded their end. */
const KEEP_ENDED = 100;

interface RestoreRun {
  controller: AbortController;
  status: QueueRunStatus;
  startedAt: string;
  request: { repository: string; snapshot: string; requestedBy: string };
  /** The folder it writes into, for a restore into a folder. */
  targetDir: string | undefined;
  done: Promise<void>;
}

/**
 * Restores this process runs for the API: each under its own run id, so history records it, the
 * feed carries its progress and the runs endpoints show it; abortable until it ends.
 */
export class RestoreRuns {
  readonly #runs = new Map<string, RestoreRun>();

  constructor(
    private readonly cairn: Cairn,
    private readonly feed: RunFeed,
    private readonly logger: Logger | undefined,
  ) {}

  /** Starts a restore and returns its run id at once; it goes on in the background. */
  start(request: Omit<RestoreRequest, 'runId' | 'signal'> & { repositoryName: string; requestedBy: string }): string {
    const runId = `restore.${randomUUID()}`;
    const controller = new AbortController();
    const { repositoryName, ...restore } = request;
    this.feed.watchLocal(runId);
    const run: RestoreRun = {
      controller, status: 'running', startedAt: new Date().toISOString(),
      request: { repository: repositoryName, snapshot: request.snapshot, requestedBy: request.requestedBy },
      targetDir: request.targetDir,
      done: Promise.resolve(),
    };
    this.#runs.set(runId, run);
    this.feed.status(runId, 'running');
    // The core delivers events after the fact (setImmediate): its last progress is heard before the end is told.
    const delivered = () => new Promise<void>((resolve) => setImmediate(resolve));
    run.done = this.cairn.restore({ ...restore, runId, signal: controller.signal }).then(
      async () => {
        await delivered();
        this.#end(runId, 'succeeded');
      },
      async (error: unknown) => {
        await delivered();
        const { code, message } = runErrorOf(error);
        this.logger?.warn(`api: restore ${runId} ${controller.signal.aborted ? 'aborted' : 'failed'}: ${code}: ${message}`, { run: runId });
        this.#end(runId, controller.signal.aborted || code === 'ABORTED' ? 'aborted' : 'failed');
      },
    );
    return runId;
  }

  /** The id of a running restore that writes into `folder` (an absolute path), if one does. */
  writingInto(folder: string): string | undefined {
    for (const [id, run] of this.#runs) if (run.status === 'running' && run.targetDir === folder) return id;
    return undefined;
  }

  has(id: string): boolean {
    return this.#runs.has(id);
  }

  /** The status of a restore this process ran since it started, if it did. */
  status(id: string): { status: QueueRunStatus; startedAt: string; request: RestoreRun['request'] } | undefined {
    const run = this.#runs.get(id);
    return run && { status: run.status, startedAt: run.startedAt, request: run.request };
  }

  /** Aborts a running restore; false when it has already ended. */
  abort(id: string): boolean {
    const run = this.#runs.get(id);
    if (!run || run.status !== 'running') return false;
    run.controller.abort(new Error('aborted through the API'));
    return true;
  }

  /** Settles when the restore has ended (for tests and close). */
  async settled(id: string): Promise<void> {
    await this.#runs.get(id)?.done;
  }

  async close(): Promise<void> {
    for (const run of this.#runs.values()) if (run.status === 'running') run.controller.abort(new Error('the API is closing'));
    await Promise.all([...this.#runs.values()].map((run) => run.done));
  }

  #end(id: string, status: QueueRunStatus): void {
    const run = this.#runs.get(id);
    if (run) run.status = status;
    this.feed.status(id, status);
    // Ended restores live on in the history; only the latest few are remembered here (the history may lag behind).
    const ended = [...this.#runs].filter(([, r]) => r.status !== 'running');
    for (const [old] of ended.slice(0, Math.max(0, ended.length - KEEP_ENDED))) this.#runs.delete(old);
  }
}
