import { openStateDatabase, stateFileError } from './state-database.js';
import type { ScheduleState, ScheduleStateStore } from './schedule.js';

export interface SqliteScheduleStateOptions {
  /** The database file (created with its directory when missing); may be the history's file. */
  path: string;
  /** How long a write waits for another process's write lock. Default 5000. */
  busyTimeoutMs?: number;
}

export interface SqliteScheduleState extends ScheduleStateStore {
  close(): void;
}

/**
 * Schedule state in SQLite, shared by every process that opens the same file: a `cairn pause`
 * reaches a running scheduler, and of several schedulers (restarts, a second host on a shared
 * disk) exactly one claims each slot — the claim is a single conditional UPSERT.
 */
export function sqliteScheduleState(options: SqliteScheduleStateOptions): SqliteScheduleState {
  const db = openStateDatabase(options, `CREATE TABLE IF NOT EXISTS schedule_state (
    name TEXT PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0,
    last_slot TEXT
  )`, stateFileError('SCHEDULE_STATE_UNREADABLE', 'schedule state'));
  const select = db.prepare('SELECT paused, last_slot FROM schedule_state WHERE name = ?');
  const pause = db.prepare('INSERT INTO schedule_state (name, paused) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET paused = excluded.paused');
  const claim = db.prepare(`INSERT INTO schedule_state (name, last_slot) VALUES (?, ?)
    ON CONFLICT (name) DO UPDATE SET last_slot = excluded.last_slot
    WHERE schedule_state.last_slot IS NULL OR schedule_state.last_slot < excluded.last_slot`);

  return {
    async get(name): Promise<ScheduleState> {
      const row = select.get(name) as { paused: number; last_slot: string | null } | undefined;
      return { paused: row?.paused === 1, ...(row?.last_slot ? { lastSlot: row.last_slot } : {}) };
    },
    async setPaused(name, paused) {
      pause.run(name, paused ? 1 : 0);
    },
    async claim(name, slot) {
      return Number(claim.run(name, slot).changes) === 1;
    },
    close() {
      if (db.isOpen) db.close();
    },
  };
}
