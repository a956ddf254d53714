import { join } from 'node:path';
import { sqliteAbortRequests, sqliteHistory, sqliteScheduleState } from '@cairn/core';
import type { AbortRequests, HistoryStore, SqliteScheduleState } from '@cairn/core';

/**
 * The one database in the state folder: run history and logs, and schedule state (pauses, the
 * last slot each schedule fired for). SQLite in WAL mode, so the CLI, a scheduler and workers can
 * share it.
 */
export const STATE_FILE = 'state.db';

export function openHistory(stateDir: string): HistoryStore {
  return sqliteHistory({ path: join(stateDir, STATE_FILE) });
}

export function openScheduleState(stateDir: string): SqliteScheduleState {
  return sqliteScheduleState({ path: join(stateDir, STATE_FILE) });
}

export function openAbortRequests(stateDir: string): AbortRequests {
  return sqliteAbortRequests({ path: join(stateDir, STATE_FILE) });
}

/**
 * Runs `work` with a signal that aborts on Ctrl-C (the command's signal) and on `cairn abort RUN`
 * from any process sharing the state folder.
 */
export async function abortable<T>(stateDir: string, runId: string, outer: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const forward = () => controller.abort(outer.reason);
  if (outer.aborted) forward();
  else outer.addEventListener('abort', forward, { once: true });
  const requests = openAbortRequests(stateDir);
  const stop = requests.watch(runId, controller);
  try {
    return await work(controller.signal);
  } finally {
    stop();
    requests.close();
    outer.removeEventListener('abort', forward);
  }
}
