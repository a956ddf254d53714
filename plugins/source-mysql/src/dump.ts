import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CairnError, SourceError, Spool, spooledContent, throwIfAborted } from '@cairn/core';
import type { SourceBackupContext, SourceEntry } from '@cairn/core';
import type { Connection } from './connection.js';
import { matches, openConnection, qualified, quote, serverOf } from './connection.js';
import type { MysqlSettings } from './mysql-options.js';

/** Column types whose values are bytes: dumped as base64 (a third larger, where hex would double them) and replayed through FROM_BASE64(). */
const BINARY_TYPES = new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob', 'bit', 'geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon', 'geometrycollection']);

export const ROWS_FORMAT = 'cairn-mysql-rows';
/** 1: binary values as hex; 2: as base64. Restore reads both. */
export const ROWS_VERSION = 2;
// Named so that a snapshot's sorted listing gives each table's CREATE before its rows.
export const TABLE_FILE = 'create.sql';
export const ROWS_FILE = 'rows.jsonl';
export const OBJECTS_FILE = 'objects.json';

export interface DumpedColumn {
  name: string;
  binary: boolean;
  /** FLOAT: the server prints six digits, too few to come back as the same value, so it is dumped as a DOUBLE. */
  float?: boolean;
}

/** The views, triggers and routines of a database, replayed after its tables. */
export interface DatabaseObjects {
  views: Array<{ name: string; sql: string }>;
  routines: Array<{ name: string; type: 'PROCEDURE' | 'FUNCTION'; sql: string }>;
  triggers: Array<{ name: string; sql: string }>;
}

type Row = Record<string, string | null>;

/**
 * The logical backup: one session inside `START TRANSACTION WITH CONSISTENT SNAPSHOT`, so every
 * table is read as of the same moment. Per table, its CREATE TABLE and its rows in primary-key
 * order as JSON lines (an unchanged table gives the same bytes, which the repository stores once);
 * per database, its views, triggers and routines. Rows are spooled to a temporary file first, as
 * an entry must state its exact size before its content is read (see Spool: nothing stays on disk).
 */
export async function* dumpEntries(settings: MysqlSettings, ctx: SourceBackupContext): AsyncGenerator<SourceEntry> {
  const connection = await openConnection(settings, 'a backup');
  const spool = new Spool('cairn-mysql-');
  const now = Date.now();
  const dir = (path: string, metadata?: Record<string, unknown>): SourceEntry => ({ path, type: 'dir', mode: 0o755, mtimeMs: now, size: 0, ...(metadata ? { metadata } : {}) });
  const text = (path: string, content: string): SourceEntry => {
    const bytes = Buffer.from(content, 'utf8');
    return { path, type: 'file', mode: 0o644, mtimeMs: now, size: bytes.length, open: () => Readable.from([bytes]) };
  };
  let completed = false;
  try {
    await connection.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await connection.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    for (const db of settings.databases) {
      throwIfAborted(ctx.signal);
      const [schemas] = await connection.query('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db]);
      if ((schemas as Row[]).length === 0) {
        throw new SourceError('SOURCE_NOT_FOUND', `no database "${db}" on the MySQL server ${serverOf(settings)}: check the name (databases are case-sensitive on Linux)`, { plugin: 'mysql' });
      }
      yield dir(db, { database: db });
      const [tables] = await connection.query("SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", [db]);
      for (const { name } of tables as Array<{ name: string }>) {
        if (settings.tables && !settings.tables.some((p) => matches(p, db, name))) continue;
        if (settings.exclude.some((p) => matches(p, db, name))) continue;
        throwIfAborted(ctx.signal);
        let createSql: string;
        let rows: number;
        const file = await spool.create();
        try {
          const [created] = await connection.query(`SHOW CREATE TABLE ${qualified(db, name)}`);
          createSql = (created as Row[])[0]!['Create Table']!;
          rows = await dumpRows(connection, db, name, await dumpedColumns(connection, db, name), file, ctx.signal);
        } catch (error) {
          throwIfAborted(ctx.signal);
          throw tableError(error, `${db}.${name}`, settings);
        }
        yield dir(`${db}/${name}`, { table: name, rows });
        yield text(`${db}/${name}/${TABLE_FILE}`, `${createSql};\n`);
        const spooled = await spool.park(file);
        yield { path: `${db}/${name}/${ROWS_FILE}`, type: 'file', mode: 0o644, mtimeMs: now, ...spooledContent(spooled) };
      }
      yield text(`${db}/${OBJECTS_FILE}`, `${JSON.stringify(await databaseObjects(connection, db), null, 1)}\n`);
    }
    await connection.query('COMMIT');
    completed = true;
  } finally {
    await connection.end().catch(() => connection.destroy());
    await (completed ? spool.removeDirectory() : spool.dispose());
  }
}

/** A lock another session holds is named as such; the rest keeps the server's words. */
function tableError(error: unknown, table: string, settings: MysqlSettings): unknown {
  const e = error as { errno?: number; message?: string };
  if (e.errno === 1205 || (e.errno === 1317 && /lock/i.test(e.message ?? ''))) {
    return new SourceError('SOURCE_UNREADABLE', `table ${table} is locked by another session (waited ${settings.lockWaitTimeoutSeconds} s, lock_wait_timeout): try again later, or raise lockWaitTimeoutSeconds`, { plugin: 'mysql', cause: error });
  }
  if (typeof e.errno === 'number') return new SourceError('SOURCE_UNREADABLE', `cannot read table ${table}: ${e.message}`, { plugin: 'mysql', cause: error });
  if (error instanceof CairnError) return error; // an abort travels as it is
  return new SourceError('SOURCE_UNREADABLE', `lost the MySQL server while reading table ${table} (${(error as { code?: string }).code ?? e.message}): check the server and run the backup again`, { plugin: 'mysql', cause: error });
}

async function dumpedColumns(connection: Connection, db: string, table: string): Promise<DumpedColumn[]> {
  const [rows] = await connection.query(
    'SELECT COLUMN_NAME AS name, DATA_TYPE AS type, EXTRA AS extra FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
    [db, table],
  );
  // Generated columns are computed again on restore; the server refuses values for them.
  return (rows as Array<{ name: string; type: string; extra: string }>)
    .filter((c) => !/GENERATED/i.test(c.extra ?? ''))
    .map((c) => ({ name: c.name, binary: BINARY_TYPES.has(c.type.toLowerCase()), ...(c.type.toLowerCase() === 'float' ? { float: true } : {}) }));
}

/** About this many characters of rows are written to the spool at once. */
const BATCH_CHARS = 256 * 1024;

/** Writes the header line and every row (as a JSON array of strings and nulls) to `file`; returns the row count. */
async function dumpRows(connection: Connection, db: string, table: string, columns: DumpedColumn[], fd: number, signal: AbortSignal): Promise<number> {
  const [keys] = await connection.query(
    "SELECT COLUMN_NAME AS name FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
    [db, table],
  );
  const order = (keys as Array<{ name: string }>).map((k) => quote(k.name));
  // Columns are aliased by position, so the binary ones are known by name whatever the table's names are.
  const select = columns.map((c, i) => `${c.float ? `CAST(${quote(c.name)} AS DOUBLE)` : quote(c.name)} AS c${i}`).join(', ');
  const binary = new Set(columns.flatMap((c, i) => (c.binary ? [`c${i}`] : [])));
  const sql = `SELECT ${select || '1'} FROM ${qualified(db, table)}${order.length ? ` ORDER BY ${order.join(', ')}` : ''}`;
  let count = 0;
  const header = `${JSON.stringify({ format: ROWS_FORMAT, version: ROWS_VERSION, columns })}\n`;
  const rows = connection.raw.query({
    sql,
    rowsAsArray: true,
    // Bytes as base64, encoded here from the raw packet (the server's TO_BASE64 wraps lines); the rest as the server's text.
    typeCast: (field) => {
      if (!binary.has(field.name)) return field.string();
      const bytes = field.buffer();
      return bytes === null ? null : bytes.toString('base64');
    },
  }).stream({ highWaterMark: 256 });
  const onAbort = () => rows.destroy(signal.reason as Error);
  signal.addEventListener('abort', onAbort, { once: true });
  // Lines go to the file in batches: a write per row cost more than the row's own work.
  let batch = header;
  try {
    await pipeline(
      rows,
      new Transform({
        writableObjectMode: true,
        transform(row: Array<string | null>, _encoding, callback) {
          count++;
          batch += `${JSON.stringify(columns.length ? row : [])}\n`;
          if (batch.length < BATCH_CHARS) return callback();
          const full = batch;
          batch = '';
          callback(null, full);
        },
        flush(callback) {
          callback(null, batch);
        },
      }),
      createWriteStream('', { fd, start: 0, autoClose: false, highWaterMark: 4 * BATCH_CHARS }),
    );
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return count;
}

async function databaseObjects(connection: Connection, db: string): Promise<DatabaseObjects> {
  const objects: DatabaseObjects = { views: [], routines: [], triggers: [] };
  const [views] = await connection.query("SELECT TABLE_NAME AS name FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", [db]);
  for (const { name } of views as Array<{ name: string }>) {
    const [rows] = await connection.query(`SHOW CREATE VIEW ${qualified(db, name)}`);
    objects.views.push({ name, sql: (rows as Row[])[0]!['Create View']! });
  }
  const [routines] = await connection.query('SELECT ROUTINE_NAME AS name, ROUTINE_TYPE AS type FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_NAME', [db]);
  for (const { name, type } of routines as Array<{ name: string; type: 'PROCEDURE' | 'FUNCTION' }>) {
    const [rows] = await connection.query(`SHOW CREATE ${type} ${qualified(db, name)}`);
    const sql = (rows as Row[])[0]![type === 'PROCEDURE' ? 'Create Procedure' : 'Create Function'];
    if (!sql) throw new SourceError('SOURCE_UNREADABLE', `cannot read the ${type.toLowerCase()} ${db}.${name}: the user needs SELECT on mysql.proc or SHOW CREATE ROUTINE`, { plugin: 'mysql' });
    objects.routines.push({ name, type, sql });
  }
  const [triggers] = await connection.query('SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY ACTION_ORDER, TRIGGER_NAME', [db]);
  for (const { name } of triggers as Array<{ name: string }>) {
    const [rows] = await connection.query(`SHOW CREATE TRIGGER ${qualified(db, name)}`);
    objects.triggers.push({ name, sql: (rows as Row[])[0]!['SQL Original Statement']! });
  }
  return objects;
}
