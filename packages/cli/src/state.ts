import { join } from 'node:path';
import { sqliteHistory, sqliteScheduleState } from '@cairn/core';
import type { HistoryStore, SqliteScheduleState } from '@cairn/core';

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
