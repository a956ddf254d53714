import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { CairnError } from './errors.js';
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
  const path = options.path === ':memory:' ? options.path : resolve(options.path);
  const sqlite = process.getBuiltinModule('node:sqlite');
  let db: DatabaseSync;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new sqlite.DatabaseSync(path);
    db.exec(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    if (path !== ':memory:') db.exec('PRAGMA journal_mode = WAL');
    db.exec(`CREATE TABLE IF NOT EXISTS schedule_state (
      name TEXT PRIMARY KEY,
      paused INTEGER NOT NULL DEFAULT 0,
      last_slot TEXT
    )`);
  } catch (error) {
    throw new CairnError('SCHEDULE_STATE_UNREADABLE', `cannot open the schedule state in ${path}: ${error instanceof Error ? error.message : String(error)}; move a damaged file aside (a new one is created)`, { cause: error });
  }
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
