import { constants } from 'node:fs';
import { access, chown, copyFile, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CairnError, ConfigError, SourceError, Spool, spooledContent, throwIfAborted } from '@cairn/core';
import type { RestoreEntry, SourceBackupContext, SourceEntry } from '@cairn/core';
import type { Connection } from './connection.js';
import { matches, openConnection, qualified, quote, serverOf } from './connection.js';
import { TABLE_FILE } from './dump.js';
import type { MysqlSettings } from './mysql-options.js';

export const IBD_FILE = 'data.ibd';
export const CFG_FILE = 'data.cfg';

type Row = Record<string, string | null>;

/** The server's data directory as this machine sees it, checked to be readable. */
export async function dataDirectory(connection: Connection, settings: MysqlSettings, forWrite: boolean): Promise<string> {
  let dir = settings.datadir;
  if (!dir) {
    const [rows] = await connection.query('SELECT @@datadir AS dir');
    dir = (rows as Row[])[0]!.dir ?? '';
  }
  try {
    await access(dir, constants.R_OK | constants.X_OK | (forWrite ? constants.W_OK : 0));
  } catch (error) {
    throw new SourceError('SOURCE_UNREADABLE', `the server's data directory ${dir} is not ${forWrite ? 'writable' : 'readable'} from here (${(error as NodeJS.ErrnoException).code}): tablespace mode needs the server on this machine and a user that can ${forWrite ? 'write' : 'read'} its files; use mode=logical otherwise`, { plugin: 'mysql', cause: error });
  }
  return dir;
}

/**
 * The physical backup of InnoDB file-per-table tables: per database, one session holds
 * `FLUSH TABLES … FOR EXPORT` (writes wait, reads go on) just while the tables' .ibd and .cfg files
 * are copied to the spool, then `UNLOCK TABLES` — always, on error and abort too. The copies are
 * then yielded with the CREATE TABLE of each table. Copying first keeps the lock (which makes every
 * writer wait) as short as a file copy: the repository pulls entries ahead and reads them in a
 * pipeline, so holding the lock until it has read the files would stall writers for as long as
 * chunking, compression and upload take.
 */
export async function* tablespaceEntries(settings: MysqlSettings, ctx: SourceBackupContext): AsyncGenerator<SourceEntry> {
  const connection = await openConnection(settings, 'a backup');
  const spool = new Spool('cairn-mysql-ibd-');
  const now = Date.now();
  const spooled = async (path: string, fd: number): Promise<SourceEntry> => {
    const file = await spool.park(fd);
    return { path, type: 'file', mode: 0o640, mtimeMs: now, ...spooledContent(file) };
  };
  let completed = false;
  try {
    const datadir = await dataDirectory(connection, settings, false);
    for (const db of settings.databases) {
      throwIfAborted(ctx.signal);
      const [tables] = await connection.query(
        "SELECT TABLE_NAME AS name, ENGINE AS engine, CREATE_OPTIONS AS options FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        [db],
      );
      const [schemas] = await connection.query('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db]);
      if ((schemas as Row[]).length === 0) throw new SourceError('SOURCE_NOT_FOUND', `no database "${db}" on the MySQL server ${serverOf(settings)}: check the name`, { plugin: 'mysql' });
      const chosen = (tables as Array<{ name: string; engine: string | null; options: string | null }>)
        .filter((t) => (!settings.tables || settings.tables.some((p) => matches(p, db, t.name))) && !settings.exclude.some((p) => matches(p, db, t.name)));
      for (const table of chosen) {
        if ((table.engine ?? '').toLowerCase() !== 'innodb' || /partitioned/i.test(table.options ?? '')) {
          const why = /partitioned/i.test(table.options ?? '') ? 'it is partitioned' : `its engine is ${table.engine}`;
          throw new SourceError('SOURCE_UNREADABLE', `table ${db}.${table.name} cannot be exported as a tablespace (${why}): back it up with mode=logical, or exclude it`, { plugin: 'mysql' });
        }
      }
      const creates = new Map<string, string>();
      for (const table of chosen) {
        const [rows] = await connection.query(`SHOW CREATE TABLE ${qualified(db, table.name)}`);
        creates.set(table.name, (rows as Row[])[0]!['Create Table']!);
      }
      const copies = new Map<string, { ibd: number; cfg: number }>();
      if (chosen.length > 0) {
        try {
          await connection.query(`FLUSH TABLES ${chosen.map((t) => qualified(db, t.name)).join(', ')} FOR EXPORT`);
        } catch (error) {
          const e = error as { errno?: number; message?: string };
          if (e.errno === 1205) throw new SourceError('SOURCE_UNREADABLE', `tables of ${db} are locked by another session (waited ${settings.lockWaitTimeoutSeconds} s, lock_wait_timeout): try again later, or raise lockWaitTimeoutSeconds`, { plugin: 'mysql', cause: error });
          throw new SourceError('SOURCE_UNREADABLE', `cannot export the tables of ${db} (${e.message}): the user needs RELOAD and LOCK TABLES, or use mode=logical`, { plugin: 'mysql', cause: error });
        }
        try {
          for (const table of chosen) {
            throwIfAborted(ctx.signal);
            const base = join(datadir, db, table.name);
            try {
              // The .cfg goes at UNLOCK TABLES: both files are copied while the lock is held.
              const ibd = await spool.take((to) => copyFile(`${base}.ibd`, to));
              copies.set(table.name, { ibd, cfg: await spool.take((to) => copyFile(`${base}.cfg`, to)) });
            } catch (error) {
              throw new SourceError('SOURCE_UNREADABLE', `cannot copy the files of ${db}.${table.name} from ${datadir} (${(error as NodeJS.ErrnoException).code}): is the table in its own tablespace (innodb_file_per_table), and is datadir right? Or use mode=logical`, { plugin: 'mysql', cause: error });
            }
          }
        } finally {
          // Writers wait while the export lock is held: release it before anything else can go wrong.
          await connection.query('UNLOCK TABLES');
        }
      }
      yield { path: db, type: 'dir', mode: 0o755, mtimeMs: now, size: 0, metadata: { database: db, mode: 'tablespace' } };
      for (const table of chosen) {
        const copy = copies.get(table.name)!;
        yield { path: `${db}/${table.name}`, type: 'dir', mode: 0o755, mtimeMs: now, size: 0, metadata: { table: table.name } };
        const create = Buffer.from(`${creates.get(table.name)!};\n`, 'utf8');
        yield { path: `${db}/${table.name}/${TABLE_FILE}`, type: 'file', mode: 0o644, mtimeMs: now, size: create.length, open: () => Readable.from([create]) };
        yield await spooled(`${db}/${table.name}/${CFG_FILE}`, copy.cfg);
        yield await spooled(`${db}/${table.name}/${IBD_FILE}`, copy.ibd);
      }
    }
    completed = true;
  } finally {
    await connection.end().catch(() => connection.destroy());
    await (completed ? spool.removeDirectory() : spool.dispose());
  }
}

/**
 * Puts a table's files back: CREATE TABLE (as stored), DISCARD TABLESPACE, the .cfg and .ibd files
 * written into the database's folder with the folder's owner (the server's user), then IMPORT
 * TABLESPACE. The caller feeds the snapshot's entries of one table in order: create.sql, data.cfg,
 * data.ibd.
 */
export class TablespaceRestorer {
  #datadir: string | undefined;

  constructor(private readonly connection: Connection, private readonly settings: MysqlSettings) {}

  async create(db: string, table: string, createSql: string, mode: string): Promise<void> {
    if (mode === 'merge') throw new ConfigError('a tablespace snapshot replaces whole tables: restore it with --mode new or --mode replace (merge needs a logical snapshot)', { plugin: 'mysql' });
    this.#datadir ??= await dataDirectory(this.connection, this.settings, true);
    if (mode === 'replace') await this.connection.query(`DROP TABLE IF EXISTS ${qualified(db, table)}`);
    await this.connection.query(`USE ${quote(db)}`);
    await this.connection.query(createSql);
    await this.connection.query(`ALTER TABLE ${qualified(db, table)} DISCARD TABLESPACE`);
  }

  async write(db: string, table: string, entry: RestoreEntry, extension: 'cfg' | 'ibd'): Promise<void> {
    const folder = join(this.#datadir!, db);
    const owner = await stat(folder);
    const final = join(folder, `${table}.${extension}`);
    const temp = `${final}.cairn-tmp`;
    try {
      const handle = await open(temp, 'w', 0o660);
      try {
        // The repository's workers write the file when they can; a stream otherwise.
        if (entry.writeFile) await entry.writeFile(handle.fd);
        else for await (const chunk of entry.open()) await handle.write(chunk);
        await handle.sync();
      } finally {
        await handle.close();
      }
      // The server reads the files as its own user: they must belong to it, as the folder does.
      await chown(temp, owner.uid, owner.gid);
      await rename(temp, final);
    } catch (error) {
      // No half-written file is left in the server's data directory.
      await rm(temp, { force: true }).catch(() => undefined); // the error to report is the one above
      if (error instanceof CairnError) throw error; // damage or abort, as the repository said
      const { code } = error as NodeJS.ErrnoException;
      throw new SourceError('RESTORE_UNWRITABLE', `cannot write ${final} (${code ?? (error as Error).message}): the user running Cairn needs to write the server's data directory and give files to its owner`, { plugin: 'mysql', cause: error });
    }
  }

  async import(db: string, table: string): Promise<void> {
    await this.connection.query(`ALTER TABLE ${qualified(db, table)} IMPORT TABLESPACE`);
    await rm(join(this.#datadir!, db, `${table}.cfg`), { force: true });
  }
}
