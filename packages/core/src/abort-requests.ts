import { openStateDatabase, stateFileError } from './state-database.js';

/**
 * Abort requests shared by processes through one SQLite file (the CLI's state folder): `cairn
 * abort RUN` records one; the process running that run looks at least every second and aborts it
 * through its AbortSignal, so the abort reaches the source and target plugins.
 */
export interface AbortRequests {
  request(runId: string, reason: string): Promise<void>;
  /** The reason, when an abort of `runId` was requested. */
  requested(runId: string): Promise<string | undefined>;
  /**
   * Aborts `controller` when an abort of `runId` is requested; returns the function that stops
   * watching (call it when the run ends).
   */
  watch(runId: string, controller: AbortController, intervalMs?: number): () => void;
  close(): void;
}

export function sqliteAbortRequests(options: { path: string; busyTimeoutMs?: number }): AbortRequests {
  const db = openStateDatabase(options, 'CREATE TABLE IF NOT EXISTS abort_requests (run_id TEXT PRIMARY KEY, reason TEXT NOT NULL, requested_at TEXT NOT NULL)', stateFileError('STATE_UNREADABLE', 'abort requests'));
  const insert = db.prepare('INSERT INTO abort_requests (run_id, reason, requested_at) VALUES (?, ?, ?) ON CONFLICT (run_id) DO NOTHING');
  const select = db.prepare('SELECT reason FROM abort_requests WHERE run_id = ?');
  const watchers = new Set<NodeJS.Timeout>();
  const requested = (runId: string): string | undefined => (select.get(runId) as { reason: string } | undefined)?.reason;
  return {
    async request(runId, reason) {
      insert.run(runId, reason, new Date().toISOString());
    },
    async requested(runId) {
      return requested(runId);
    },
    watch(runId, controller, intervalMs = 1000) {
      const timer = setInterval(() => {
        if (controller.signal.aborted || !db.isOpen) return;
        const reason = requested(runId);
        if (reason !== undefined) controller.abort(reason);
      }, intervalMs);
      timer.unref();
      watchers.add(timer);
      return () => {
        clearInterval(timer);
        watchers.delete(timer);
      };
    },
    close() {
      for (const timer of watchers) clearInterval(timer);
      watchers.clear();
      if (db.isOpen) db.close();
    },
  };
}
