import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { CairnError } from './errors.js';

/**
 * Opens (creating it with its folder) a SQLite file that several processes share — the CLI, a
 * scheduler, workers: a busy timeout so writers wait for each other, WAL so readers never block,
 * and `schema` run once. A file that cannot be opened fails with `code` and a message naming it.
 */
export function openStateDatabase(options: { path: string; busyTimeoutMs?: number | undefined }, schema: string, what: string, code: string): DatabaseSync {
  const path = options.path === ':memory:' ? options.path : resolve(options.path);
  // Loaded on first use, so that importing @cairn/core neither needs nor warns about node:sqlite.
  const sqlite = process.getBuiltinModule('node:sqlite');
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new sqlite.DatabaseSync(path);
    db.exec(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    if (path !== ':memory:') db.exec('PRAGMA journal_mode = WAL');
    db.exec(schema);
    return db;
  } catch (error) {
    throw new CairnError(code, `cannot open the ${what} in ${path}: ${error instanceof Error ? error.message : String(error)}; move a damaged file aside (a new one is created)`, { cause: error });
  }
}
