import { resolve } from 'node:path';
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { z } from 'zod';
import { parseOptions } from '../contracts.js';
import { openStateDatabase, sqliteMessage } from '../state-database.js';
import {
  HistoryError, checkAuditFilter, checkFilter, normaliseAudit, checkLogQuery, levelRank, normaliseEnd, normaliseLines, normaliseStart,
} from './types.js';
import type { AuditEntry, AuditFilter, AuditRecord, HistoryStore, LogLine, LogQuery, LogRecord, RunEndRecord, RunFilter, RunRecord, RunStartRecord } from './types.js';
import type { LogLevel } from '../events.js';

export const sqliteHistoryOptions = z.object({
  path: z.string().min(1)
    .describe('The database file; it and its directory are created when missing. `:memory:` keeps the history in memory.'),
  busyTimeoutMs: z.number().int().min(0).max(600_000).default(5000)
    .describe('How long a write waits while another process (a worker) holds the write lock, before failing with HISTORY_BUSY.'),
});
export type SqliteHistoryOptions = z.input<typeof sqliteHistoryOptions>;

/**
 * Schema migrations, in order: MIGRATIONS[n] takes a database from `user_version` n to n + 1.
 * Append, never edit: a released step has run on somebody's file.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS runs (
     id TEXT PRIMARY KEY,
     operation TEXT NOT NULL,
     job TEXT,
     environment TEXT,
     requested_by TEXT,
     options TEXT NOT NULL DEFAULT '{}',
     repository TEXT NOT NULL,
     status TEXT NOT NULL,
     queued_at TEXT,
     started_at TEXT NOT NULL,
     ended_at TEXT,
     duration_ms REAL,
     snapshot_id TEXT,
     bytes_read INTEGER,
     bytes_added INTEGER,
     bytes_written INTEGER,
     files INTEGER,
     warnings INTEGER,
     error_code TEXT,
     error_message TEXT
   );
   CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at);
   CREATE INDEX IF NOT EXISTS runs_by_job ON runs (job, started_at);
   CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, started_at);
   CREATE INDEX IF NOT EXISTS runs_by_operation ON runs (operation, started_at);
   CREATE TABLE IF NOT EXISTS logs (
     run_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     time TEXT NOT NULL,
     level INTEGER NOT NULL,
     message TEXT NOT NULL,
     fields TEXT,
     PRIMARY KEY (run_id, seq)
   ) WITHOUT ROWID;`,
  `CREATE TABLE IF NOT EXISTS audit (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     time TEXT NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     target TEXT NOT NULL,
     ip TEXT,
     status INTEGER NOT NULL,
     code TEXT,
     run_id TEXT
   );
   CREATE INDEX IF NOT EXISTS audit_by_time ON audit (time);`,
];
const SCHEMA_VERSION = MIGRATIONS.length;

const LEVEL_BY_RANK = new Map<number, LogLevel>(Object.entries(levelRank).map(([level, rank]) => [rank, level as LogLevel]));

/**
 * Run history in one SQLite file through `node:sqlite` (nothing to install). WAL mode and a busy
 * timeout let several processes (the CLI, a scheduler, workers) read and write the same file.
 * Writes are synchronous: feed it through `historyRecorder`, which batches log lines off the run's path.
 * Throws HistoryError `HISTORY_UNREADABLE` when the file is not a readable Cairn history database.
 */
export function sqliteHistory(options: SqliteHistoryOptions): HistoryStore {
  const { path, busyTimeoutMs } = parseOptions('history', sqliteHistoryOptions, options);
  return new SqliteHistory(path === ':memory:' ? path : resolve(path), busyTimeoutMs);
}

type Row = Record<string, SQLInputValue>;

class SqliteHistory implements HistoryStore {
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #statements = new Map<string, StatementSync>();
  #closed = false;

  constructor(path: string, busyTimeoutMs: number) {
    this.#path = path;
    this.#db = openStateDatabase({ path, busyTimeoutMs }, (db) => {
      db.exec('PRAGMA synchronous = NORMAL');
      migrate(db, path);
    }, (why, _path, cause) => new HistoryError('HISTORY_UNREADABLE', `cannot open the history database ${path}: ${why}. If it is damaged or not a Cairn history file, move it aside: a new one is created in its place`, { cause }));
  }

  async recordStart(run: RunStartRecord): Promise<void> {
    const start = normaliseStart(run);
    this.#exec('recordStart', () => {
      this.#statement(`INSERT INTO runs (id, operation, job, environment, requested_by, options, repository, status, queued_at, started_at)
        VALUES (:id, :operation, :job, :environment, :requestedBy, :options, :repository, :status, :queuedAt, :startedAt)
        ON CONFLICT (id) DO UPDATE SET operation = excluded.operation, job = excluded.job, environment = excluded.environment,
          requested_by = excluded.requested_by, options = excluded.options, repository = excluded.repository, status = excluded.status,
          queued_at = coalesce(excluded.queued_at, runs.queued_at), started_at = excluded.started_at`).run({
        id: start.id,
        operation: start.operation,
        job: start.job ?? null,
        environment: start.environment ?? null,
        requestedBy: start.requestedBy ?? null,
        options: JSON.stringify(start.options),
        repository: start.repository,
        status: start.status,
        queuedAt: start.queuedAt ?? null,
        startedAt: start.startedAt,
      });
    });
  }

  async recordEnd(runId: string, end: RunEndRecord): Promise<void> {
    const clean = normaliseEnd(runId, end);
    const { changes } = this.#exec('recordEnd', () => this.#statement(`UPDATE runs SET status = :status, ended_at = :endedAt, duration_ms = :durationMs,
        snapshot_id = :snapshotId, bytes_read = :bytesRead, bytes_added = :bytesAdded, bytes_written = :bytesWritten, files = :files,
        warnings = :warnings, error_code = :errorCode, error_message = :errorMessage
      WHERE id = :id`).run({
      id: runId,
      status: clean.status,
      endedAt: clean.endedAt,
      durationMs: clean.durationMs ?? null,
      snapshotId: clean.snapshotId ?? null,
      bytesRead: clean.bytesRead ?? null,
      bytesAdded: clean.bytesAdded ?? null,
      bytesWritten: clean.bytesWritten ?? null,
      files: clean.files ?? null,
      warnings: clean.warnings ?? null,
      errorCode: clean.error?.code ?? null,
      errorMessage: clean.error?.message ?? null,
    }));
    if (Number(changes) === 0) throw new HistoryError('HISTORY_UNKNOWN_RUN', `recordEnd: no run ${runId} was recorded; call recordStart first`);
  }

  async appendLogs(runId: string, lines: readonly LogLine[]): Promise<void> {
    const clean = normaliseLines(runId, lines);
    if (clean.length === 0) return;
    this.#exec('appendLogs', () => {
      const last = this.#statement('SELECT max(seq) AS seq FROM logs WHERE run_id = ?');
      const insert = this.#statement('INSERT INTO logs (run_id, seq, time, level, message, fields) VALUES (?, ?, ?, ?, ?, ?)');
      // IMMEDIATE takes the write lock before reading the last seq, so two writers cannot number alike.
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        let seq = Number((last.get(runId) as { seq: number | null } | undefined)?.seq ?? 0);
        for (const line of clean) insert.run(runId, ++seq, line.time, levelRank[line.level], line.message, line.fields ? JSON.stringify(line.fields) : null);
        this.#db.exec('COMMIT');
      } catch (error) {
        this.#rollback();
        throw error;
      }
    });
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const { statuses, since, until, limit, offset } = checkFilter(filter);
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    const equal = (column: string, value: string | undefined): void => {
      if (value === undefined) return;
      where.push(`${column} = ?`);
      params.push(value);
    };
    if (filter.idPrefix !== undefined) {
      // A range on the primary key (text compares byte by byte): no scan of the whole table.
      where.push('id >= ? AND id < ?');
      params.push(filter.idPrefix, `${filter.idPrefix}\u{10FFFF}`);
    }
    equal('job', filter.job);
    equal('environment', filter.environment);
    equal('operation', filter.operation);
    if (statuses) {
      where.push(statuses.length ? `status IN (${statuses.map(() => '?').join(', ')})` : '0');
      params.push(...statuses);
    }
    if (since !== undefined) {
      where.push('started_at >= ?');
      params.push(since);
    }
    if (until !== undefined) {
      where.push('started_at < ?');
      params.push(until);
    }
    params.push(limit ?? -1, offset);
    // The shape of the query depends only on which filters are set, so the statement cache stays small.
    const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?`;
    const rows = this.#exec('listRuns', () => this.#statement(sql).all(...params)) as Row[];
    return rows.map(toRunRecord);
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const row = this.#exec('getRun', () => this.#statement('SELECT * FROM runs WHERE id = ?').get(String(id))) as Row | undefined;
    return row ? toRunRecord(row) : undefined;
  }

  async logs(runId: string, options: LogQuery = {}): Promise<LogRecord[]> {
    const { minRank, limit, afterSeq } = checkLogQuery(options);
    const rows = this.#exec('logs', () => this.#statement(`SELECT seq, time, level, message, fields FROM logs
      WHERE run_id = ? AND seq > ? AND level >= ? ORDER BY seq LIMIT ?`).all(String(runId), afterSeq, minRank, limit ?? -1)) as Row[];
    return rows.map((row) => ({
      runId,
      seq: Number(row.seq),
      time: String(row.time),
      level: LEVEL_BY_RANK.get(Number(row.level)) ?? 'info',
      message: String(row.message),
      ...(row.fields !== null ? { fields: JSON.parse(String(row.fields)) as Record<string, unknown> } : {}),
    }));
  }

  async recordAudit(record: AuditRecord): Promise<void> {
    const clean = normaliseAudit(record);
    this.#exec('recordAudit', () => this.#statement(`INSERT INTO audit (time, actor, action, target, ip, status, code, run_id)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(clean.time, clean.actor, clean.action, clean.target, clean.ip ?? null, clean.status, clean.code ?? null, clean.runId ?? null));
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const { since, until, limit, offset } = checkAuditFilter(filter);
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    const add = (clause: string, value: string | undefined): void => {
      if (value === undefined) return;
      where.push(clause);
      params.push(value);
    };
    add('actor = ?', filter.actor);
    add('action = ?', filter.action);
    add('time >= ?', since);
    add('time < ?', until);
    params.push(limit ?? -1, offset);
    const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY time DESC, seq DESC LIMIT ? OFFSET ?`;
    const rows = this.#exec('listAudit', () => this.#statement(sql).all(...params)) as Row[];
    return rows.map((row) => ({
      seq: Number(row.seq),
      time: String(row.time),
      actor: String(row.actor),
      action: String(row.action),
      target: String(row.target),
      status: Number(row.status),
      ...(row.ip !== null ? { ip: String(row.ip) } : {}),
      ...(row.code !== null ? { code: String(row.code) } : {}),
      ...(row.run_id !== null ? { runId: String(row.run_id) } : {}),
    }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#statements.clear();
    this.#db.close();
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #rollback(): void {
    try {
      this.#db.exec('ROLLBACK');
    } catch {
      // No transaction left to roll back (SQLite already ended it); the original error is what matters.
    }
  }

  /** Runs one database step, turning SQLite's errors into coded HistoryErrors. */
  #exec<T>(what: string, step: () => T): T {
    if (this.#closed) throw new HistoryError('HISTORY_CLOSED', `${what}: the history store is closed`);
    try {
      return step();
    } catch (error) {
      if (error instanceof HistoryError) throw error;
      const code = (sqliteCode(error) ?? -1) & 0xff;
      if (code === SQLITE_BUSY || code === SQLITE_LOCKED) {
        throw new HistoryError('HISTORY_BUSY', `${what}: the history database ${this.#path} stayed locked by another process; raise busyTimeoutMs or retry`, { cause: error });
      }
      if (code === SQLITE_CORRUPT || code === SQLITE_NOTADB) {
        throw new HistoryError('HISTORY_UNREADABLE', `${what}: the history database ${this.#path} is damaged (${sqliteMessage(error)}); move it aside to start a new one`, { cause: error });
      }
      throw new HistoryError('HISTORY_IO', `${what}: the history database ${this.#path} failed: ${sqliteMessage(error)}`, { cause: error });
    }
  }
}

const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

/** Brings the schema to SCHEMA_VERSION; concurrent openers serialise on the write lock and re-check. */
function migrate(db: DatabaseSync, path: string): void {
  const version = (): number => Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
  const check = (found: number): void => {
    if (found > SCHEMA_VERSION) {
      throw new HistoryError('HISTORY_UNREADABLE', `the history database ${path} has schema version ${found}, written by a newer Cairn (this one reads up to ${SCHEMA_VERSION}); upgrade Cairn or use another file`);
    }
  };
  let current = version();
  check(current);
  if (current === SCHEMA_VERSION) return;
  db.exec('BEGIN IMMEDIATE');
  try {
    current = version();
    check(current);
    for (; current < SCHEMA_VERSION; current++) db.exec(MIGRATIONS[current]!);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (error) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // Nothing to roll back.
    }
    throw error;
  }
}

function toRunRecord(row: Row): RunRecord {
  const record: RunRecord = {
    id: String(row.id),
    operation: String(row.operation),
    options: JSON.parse(String(row.options)) as Record<string, unknown>,
    repository: String(row.repository),
    status: String(row.status) as RunRecord['status'],
    startedAt: String(row.started_at),
  };
  const text = (column: string): string | undefined => (row[column] === null || row[column] === undefined ? undefined : String(row[column]));
  const number = (column: string): number | undefined => (row[column] === null || row[column] === undefined ? undefined : Number(row[column]));
  const optional = {
    job: text('job'), environment: text('environment'), requestedBy: text('requested_by'), queuedAt: text('queued_at'), endedAt: text('ended_at'),
    durationMs: number('duration_ms'), snapshotId: text('snapshot_id'), bytesRead: number('bytes_read'), bytesAdded: number('bytes_added'),
    bytesWritten: number('bytes_written'), files: number('files'), warnings: number('warnings'),
  };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) (record as unknown as Record<string, unknown>)[key] = value;
  const code = text('error_code');
  if (code !== undefined) record.error = { code, message: text('error_message') ?? '' };
  return record;
}

function sqliteCode(error: unknown): number | undefined {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' ? code : undefined;
}

