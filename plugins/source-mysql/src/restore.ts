import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { ConfigError, SourceError, throwIfAborted } from '@cairn/core';
import type { RestoreEntry, RestoreResult, SourceRestoreContext } from '@cairn/core';
import type { Connection } from './connection.js';
import { openConnection, qualified, quote, serverOf } from './connection.js';
import { OBJECTS_FILE, ROWS_FILE, ROWS_FORMAT, ROWS_VERSION, TABLE_FILE } from './dump.js';
import type { DatabaseObjects, DumpedColumn } from './dump.js';
import type { MysqlSettings } from './mysql-options.js';
import { CFG_FILE, IBD_FILE, TablespaceRestorer } from './tablespace.js';

/** Rows per INSERT, and the SQL text one INSERT may reach (well under the default max_allowed_packet of 16 MiB). */
const BATCH_ROWS = 1000;
const BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Replays a logical snapshot into the server of this source's options. A snapshot of one database
 * goes into the (one) database the options name, under another name if it differs; a snapshot of
 * several goes into the databases of the same names, which the options must list. `new` refuses a
 * database that holds tables; `merge` creates missing tables and replaces rows with the same key;
 * `replace` drops and recreates the snapshot's tables. Views, routines and triggers follow the
 * tables, without their DEFINER (the restoring user owns them).
 */
export async function restoreEntries(settings: MysqlSettings, entries: AsyncIterable<RestoreEntry>, ctx: SourceRestoreContext): Promise<RestoreResult> {
  if (ctx.mode !== 'origin') {
    throw new ConfigError(`restore mode "${ctx.mode}" is not the mysql source's: it restores into a server (--to mysql://user@host/db); a restore into a directory needs no source`, { plugin: 'mysql' });
  }
  const mode = ctx.restoreMode ?? 'new';
  const connection = await openConnection(settings, 'a restore');
  const result: RestoreResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const targets = new Map<string, string>();
  /** Source databases backed up in tablespace mode (their folder entry says so). */
  const physical = new Set<string>();
  const tablespaces = new TablespaceRestorer(connection, settings);
  // A snapshot lists a database's objects file among its tables, by name: they are created at the end, when every table exists.
  const objects: Array<{ source: string; target: string; objects: DatabaseObjects }> = [];
  let table: string | undefined;
  try {
    // Rows go in as they were: no foreign-key order, zero dates and explicit zeros in AUTO_INCREMENT columns kept.
    await connection.query("SET SESSION foreign_key_checks = 0, SESSION unique_checks = 0, SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'");
    for await (const entry of entries) {
      throwIfAborted(ctx.signal);
      const parts = entry.path.split('/');
      if (entry.type === 'dir') {
        result.dirs++;
        if (parts.length === 1) {
          await prepareDatabase(connection, settings, targets, parts[0]!, mode);
          if (entry.metadata?.mode === 'tablespace') physical.add(parts[0]!);
        }
        continue;
      }
      if (entry.type !== 'file') continue;
      const target = targets.get(parts[0]!);
      if (!target) throw new SourceError('RESTORE_UNWRITABLE', `the snapshot is not a mysql logical backup (unexpected ${entry.path})`, { plugin: 'mysql' });
      const name = parts[parts.length - 1]!;
      if (physical.has(parts[0]!) && parts.length === 3 && [TABLE_FILE, CFG_FILE, IBD_FILE].includes(name)) {
        table = parts[1]!;
        if (name === TABLE_FILE) await tablespaces.create(target, table, (await text(entry)).trim().replace(/;$/, ''), mode);
        else await tablespaces.write(target, table, entry, name === CFG_FILE ? 'cfg' : 'ibd');
        if (name === IBD_FILE) await tablespaces.import(target, table);
      } else if (parts.length === 3 && name === TABLE_FILE) {
        table = parts[1]!;
        const createSql = (await text(entry)).trim().replace(/;$/, '');
        if (mode === 'replace') await connection.query(`DROP TABLE IF EXISTS ${qualified(target, table)}`);
        await connection.query(`USE ${quote(target)}`);
        // merge keeps a table that exists (its rows are replaced by key); new and replace create it.
        await connection.query(mode === 'merge' ? createSql.replace(/^CREATE TABLE/i, 'CREATE TABLE IF NOT EXISTS') : createSql);
      } else if (parts.length === 3 && name === ROWS_FILE && table !== undefined && table === parts[1]) {
        if (mode === 'merge') await warnIfKeyless(connection, target, table, ctx);
        await insertRows(connection, target, table, entry, mode, ctx.signal);
      } else if (parts.length === 2 && name === OBJECTS_FILE) {
        objects.push({ source: parts[0]!, target, objects: JSON.parse(await text(entry)) as DatabaseObjects });
      } else {
        throw new SourceError('RESTORE_UNWRITABLE', `the snapshot is not a mysql logical backup (unexpected ${entry.path})`, { plugin: 'mysql' });
      }
      result.files++;
      result.bytes += entry.size;
      ctx.onProgress?.({ filesDone: result.files, bytesDone: result.bytes });
    }
    for (const each of objects) await createObjects(connection, each.source, each.target, each.objects);
    return result;
  } finally {
    await connection.end().catch(() => connection.destroy());
  }
}

async function prepareDatabase(connection: Connection, settings: MysqlSettings, targets: Map<string, string>, source: string, mode: string): Promise<void> {
  const single = settings.databases.length === 1 ? settings.databases[0]! : undefined;
  let target: string;
  if (single !== undefined && (targets.size === 0 || single === source)) target = single;
  else if (settings.databases.includes(source)) target = source;
  else {
    throw new ConfigError(`the snapshot holds database "${source}" too: to restore several databases, name each in the URL (mysql://user@host/${[...targets.keys(), source].join(',')})`, { plugin: 'mysql' });
  }
  if ([...targets.values()].includes(target)) throw new ConfigError(`two databases of the snapshot would go into "${target}": name each in the URL`, { plugin: 'mysql' });
  targets.set(source, target);
  await connection.query(`CREATE DATABASE IF NOT EXISTS ${quote(target)} CHARACTER SET utf8mb4`);
  if (mode === 'new') {
    const [rows] = await connection.query("SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME LIMIT 3", [target]);
    const names = (rows as Array<{ name: string }>).map((r) => r.name);
    if (names.length > 0) {
      throw new SourceError('RESTORE_UNWRITABLE', `database "${target}" on ${serverOf(settings)} already holds tables (${names.join(', ')}${names.length === 3 ? ', …' : ''}): restore into an empty or new database, or choose --mode merge (add and overwrite rows) or --mode replace (recreate the snapshot's tables)`, { plugin: 'mysql' });
    }
  }
}

/**
 * REPLACE can only tell a row already there from a new one by a primary or unique key: merging
 * into a table without one that already holds rows adds every row again. Said, not refused — the
 * user asked to add — so that nobody finds the duplicates by surprise.
 */
async function warnIfKeyless(connection: Connection, db: string, table: string, ctx: SourceRestoreContext): Promise<void> {
  const [keys] = await connection.query('SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 LIMIT 1', [db, table]);
  if ((keys as unknown[]).length > 0) return;
  const [rows] = await connection.query(`SELECT 1 FROM ${qualified(db, table)} LIMIT 1`);
  if ((rows as unknown[]).length === 0) return;
  ctx.logger.warn(`table ${db}.${table} has no primary or unique key and already holds rows: merge adds the snapshot's rows beside them (restore it with --mode replace to avoid duplicates)`);
}

async function insertRows(connection: Connection, db: string, table: string, entry: RestoreEntry, mode: string, signal: AbortSignal): Promise<void> {
  const lines = createInterface({ input: Readable.from(entry.open()), crlfDelay: Infinity });
  let columns: DumpedColumn[] | undefined;
  let version = 0;
  let batch: Array<Array<string | null>> = [];
  let batchBytes = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0 || !columns) return;
    const one = `(${columns.map((c) => (c.binary ? (version === 1 ? 'UNHEX(?)' : 'FROM_BASE64(?)') : '?')).join(', ')})`;
    const verb = mode === 'merge' ? 'REPLACE' : 'INSERT';
    await connection.query(`${verb} INTO ${qualified(db, table)} (${columns.map((c) => quote(c.name)).join(', ')}) VALUES ${batch.map(() => one).join(', ')}`, batch.flat());
    batch = [];
    batchBytes = 0;
  };
  for await (const line of lines) {
    if (!columns) {
      const header = JSON.parse(line) as { format?: string; version?: number; columns?: DumpedColumn[] };
      version = header.version ?? 0;
      if (header.format !== ROWS_FORMAT || !Array.isArray(header.columns) || version < 1 || version > ROWS_VERSION) throw new SourceError('RESTORE_UNWRITABLE', `${entry.path} is not a cairn-mysql rows file this version can read`, { plugin: 'mysql' });
      columns = header.columns;
      continue;
    }
    if (columns.length === 0) continue;
    throwIfAborted(signal);
    batch.push(JSON.parse(line) as Array<string | null>);
    batchBytes += line.length;
    if (batch.length >= BATCH_ROWS || batchBytes >= BATCH_BYTES) await flush();
  }
  await flush();
}

/**
 * Routines first (triggers and views may call them), then views — in rounds, as a view may read
 * another — then triggers. DEFINER clauses are dropped, and references to the source database
 * follow the rename.
 */
async function createObjects(connection: Connection, source: string, target: string, objects: DatabaseObjects): Promise<void> {
  await connection.query(`USE ${quote(target)}`);
  const adapt = (sql: string) => {
    const withoutDefiner = sql.replace(/\sDEFINER\s*=\s*(`[^`]*`|'[^']*'|[^\s@]+)@(`[^`]*`|'[^']*'|[^\s]+)/i, '');
    return source === target ? withoutDefiner : withoutDefiner.split(`${quote(source)}.`).join(`${quote(target)}.`);
  };
  for (const routine of objects.routines) {
    await connection.query(`DROP ${routine.type} IF EXISTS ${qualified(target, routine.name)}`);
    await connection.query(adapt(routine.sql));
  }
  let views = objects.views;
  while (views.length > 0) {
    const failed: typeof views = [];
    let firstError: unknown;
    for (const view of views) {
      try {
        await connection.query(`DROP VIEW IF EXISTS ${qualified(target, view.name)}`);
        await connection.query(adapt(view.sql));
      } catch (error) {
        failed.push(view);
        firstError ??= error;
      }
    }
    if (failed.length === views.length) {
      throw new SourceError('RESTORE_UNWRITABLE', `cannot create view ${target}.${failed[0]!.name}: ${(firstError as Error).message}`, { plugin: 'mysql', cause: firstError });
    }
    views = failed;
  }
  for (const trigger of objects.triggers) {
    await connection.query(`DROP TRIGGER IF EXISTS ${qualified(target, trigger.name)}`);
    await connection.query(adapt(trigger.sql));
  }
}

async function text(entry: RestoreEntry): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of entry.open()) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}
