import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { CairnError } from './errors.js';

/**
 * Opens (creating it with its folder) a SQLite file that several processes share — the CLI, a
 * scheduler, workers: a busy timeout first, so that writers (and the switch to WAL, and a
 * migration) wait for each other; WAL so readers never block; then `setUp` (a schema to run, or a
 * function). A CairnError from `setUp` passes through; any other failure becomes `fail(why)`.
 */
export function openStateDatabase(
  options: { path: string; busyTimeoutMs?: number | undefined },
  setUp: string | ((db: DatabaseSync) => void),
  fail: (why: string, path: string, cause: unknown) => Error,
): DatabaseSync {
  const path = options.path === ':memory:' ? options.path : resolve(options.path);
  // Loaded on first use, so that importing @cairn/core neither needs nor warns about node:sqlite.
  const sqlite = process.getBuiltinModule('node:sqlite');
  let db: DatabaseSync | undefined;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new sqlite.DatabaseSync(path);
    db.exec(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    if (path !== ':memory:') db.exec('PRAGMA journal_mode = WAL');
    if (typeof setUp === 'string') db.exec(setUp);
    else setUp(db);
    return db;
  } catch (error) {
    try {
      db?.close();
    } catch {
      // Already unusable; the error below says why.
    }
    if (error instanceof CairnError) throw error;
    throw fail(sqliteMessage(error), path, error);
  }
}

/** What SQLite said, without node:sqlite's wrapping. */
export function sqliteMessage(error: unknown): string {
  if (error instanceof Error) return (error as { errstr?: string }).errstr ?? error.message;
  return String(error);
}

/** The failure for a state file that cannot be opened: `code`, naming `what` and the file. */
export function stateFileError(code: string, what: string): (why: string, path: string, cause: unknown) => CairnError {
  return (why, path, cause) => new CairnError(code, `cannot open the ${what} in ${path}: ${why}; move a damaged file aside (a new one is created)`, { cause });
}
