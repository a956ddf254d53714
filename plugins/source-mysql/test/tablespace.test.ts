import { randomBytes, randomUUID } from 'node:crypto';
import { writeSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, RepositoryError, SourceError, createCairn } from '@cairn/core';
import type { RestoreEntry } from '@cairn/core';
import type { Cairn } from '@cairn/core';
import { backupContext, memoryTarget } from '@cairn/testkit';
import mysql from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';
import { mysqlSource } from '../src/index.js';
import { openConnection } from '../src/connection.js';
import { mysqlSourceOptions } from '../src/mysql-options.js';
import { TablespaceRestorer } from '../src/tablespace.js';
import { adminConnection, mysqlServer } from './mysql-services.js';

/** Tablespace mode against the test MariaDB, whose data directory this test process can read and write. */
const server = mysqlServer();
const prefix = `cairn_ts_${randomBytes(3).toString('hex')}`;
const db = `${prefix}_app`;
const created = [db];
let admin: Connection;

const rows = async (database: string) => ({
  items: (await admin.query(`SELECT id, name, HEX(photo) AS photo, CAST(price AS CHAR) AS price FROM \`${database}\`.items ORDER BY id`))[0],
  tags: (await admin.query(`SELECT * FROM \`${database}\`.tags ORDER BY item, tag`))[0],
});

beforeAll(async () => {
  admin = await adminConnection(server);
  await admin.query(`CREATE DATABASE \`${db}\`; USE \`${db}\`;
    CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50), photo BLOB, price DECIMAL(10,2)) ENGINE=InnoDB;
    CREATE TABLE tags (item INT, tag VARCHAR(20), PRIMARY KEY (item, tag), FOREIGN KEY (item) REFERENCES items(id)) ENGINE=InnoDB;
    INSERT INTO items VALUES (1, 'crème 🍮', 0x00ff, 4.50), (2, NULL, NULL, 0.00);
    INSERT INTO tags VALUES (1, 'sweet'), (2, 'cheap');`);
});
afterAll(async () => {
  for (const name of created) await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
  await admin.end();
});

async function newCairn(): Promise<{ cairn: Cairn; repository: { target: ReturnType<typeof memoryTarget>; password: string } }> {
  const cairn = createCairn({ targets: [memoryTarget], sources: [mysqlSource], env: { MYSQL_PWD: server.password } });
  const repository = { target: memoryTarget({ name: randomUUID() }), password: 'pw' };
  await cairn.init({ repository, kdf: { N: 1024, r: 8, p: 1 } });
  return { cairn, repository };
}
const url = (database: string) => `mysql://${server.user}@${server.host}:${server.port}/${database}?mode=tablespace`;

describe('mysql source, tablespace mode', () => {
  it('backs up the InnoDB files under FLUSH TABLES FOR EXPORT, releases the lock, and imports each snapshot into a new database', async () => {
    const { cairn, repository } = await newCairn();
    const v1 = await rows(db);
    const first = await cairn.backup({ repository, sources: [cairn.resolveSource(url(db))] });
    // The export lock is gone: writers go on at once.
    await admin.query(`UPDATE \`${db}\`.items SET price = 9.99 WHERE id = 1; INSERT INTO \`${db}\`.items VALUES (3, 'new', 0x01, 1.00);`);
    const v2 = await rows(db);
    const second = await cairn.backup({ repository, sources: [cairn.resolveSource(url(db))] });
    // The unchanged tables' files come out the same: the repository stores almost nothing new.
    const third = await cairn.backup({ repository, sources: [cairn.resolveSource(url(db))] });
    expect(third.snapshot.summary.bytesAdded).toBeLessThan(first.snapshot.summary.bytesAdded / 2);
    const paths = (await cairn.ls({ repository, snapshot: second.snapshot.id })).map((e) => e.path);
    expect(paths).toContain(`mysql-${db}/${db}/items/data.ibd`);

    for (const [snapshot, expected] of [[first.snapshot.id, v1], [second.snapshot.id, v2]] as const) {
      const into = `${prefix}_r${randomBytes(2).toString('hex')}`;
      created.push(into);
      await cairn.restore({ repository, snapshot, to: url(into) });
      expect(await rows(into)).toEqual(expected);
      const [check] = await admin.query(`CHECK TABLE \`${into}\`.items, \`${into}\`.tags`);
      expect((check as Array<{ Msg_text: string }>).map((r) => r.Msg_text)).toEqual(['OK', 'OK']);
    }
    // replace puts the old files back over a changed table; merge cannot mix files.
    const target = created.at(-1)!;
    await admin.query(`DELETE FROM \`${target}\`.tags`);
    await cairn.restore({ repository, snapshot: second.snapshot.id, to: url(target), mode: 'replace' });
    expect(await rows(target)).toEqual(v2);
    await expect(cairn.restore({ repository, snapshot: second.snapshot.id, to: url(target), mode: 'merge' })).rejects.toThrow(/merge needs a logical snapshot/);
    await cairn.close();
  });

  it('leaves no half-written file in the data directory when writing a table file fails', async () => {
    const into = `${prefix}_w${randomBytes(2).toString('hex')}`;
    created.push(into);
    await admin.query(`CREATE DATABASE \`${into}\``);
    const settings = mysqlSourceOptions.parse({ ...server, databases: [into], mode: 'tablespace' });
    const connection = await openConnection(settings, 'a restore');
    try {
      const [[{ datadir }]] = (await admin.query('SELECT @@datadir AS datadir')) as unknown as [[{ datadir: string }]];
      const restorer = new TablespaceRestorer(connection, settings);
      await restorer.create(into, 't', 'CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB', 'new');
      // The repository fails part-way (damage), or the file system refuses the write (a full disk).
      const failing = (error: Error): RestoreEntry => ({
        path: 'data.ibd', type: 'file', mode: 0o640, mtimeMs: 0, size: 100,
        open: () => { throw new Error('not used: the restorer writes through writeFile'); },
        writeFile: async (fd) => {
          writeSync(fd, Buffer.alloc(50));
          throw error;
        },
      });
      const damaged = new RepositoryError('REPO_CORRUPT', 'blob 0123 in pack 4567 failed authentication');
      await expect(restorer.write(into, 't', failing(damaged), 'ibd')).rejects.toBe(damaged);
      const full = Object.assign(new Error('no space left on device'), { code: 'ENOSPC', syscall: 'write' });
      const error = await restorer.write(into, 't', failing(full), 'cfg').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SourceError);
      expect((error as SourceError).code).toBe('RESTORE_UNWRITABLE');
      expect((error as Error).message).toMatch(new RegExp(`cannot write .*/${into}/t\\.cfg \\(ENOSPC\\)`));
      expect((await readdir(`${datadir}/${into}`)).filter((name) => name.includes('cairn-tmp'))).toEqual([]);
    } finally {
      await connection.end();
    }
  });

  it('refuses a table that is not InnoDB, suggesting logical mode, and unlocks on the way out', async () => {
    const other = `${prefix}_myisam`;
    created.push(other);
    await admin.query(`CREATE DATABASE \`${other}\`; CREATE TABLE \`${other}\`.old (a INT) ENGINE=MyISAM;`);
    const { cairn, repository } = await newCairn();
    const error = await cairn.backup({ repository, sources: [cairn.resolveSource(url(other))] }).catch((e: unknown) => e);
    expect((error as SourceError).code).toBe('SOURCE_UNREADABLE');
    expect((error as Error).message).toBe(`[mysql] table ${other}.old cannot be exported as a tablespace (its engine is MyISAM): back it up with mode=logical, or exclude it`);
    await cairn.close();
  });

  it('refuses a partitioned table, suggesting logical mode', async () => {
    const other = `${prefix}_parts`;
    created.push(other);
    await admin.query(`CREATE DATABASE \`${other}\`; CREATE TABLE \`${other}\`.p (id INT PRIMARY KEY) ENGINE=InnoDB PARTITION BY HASH (id) PARTITIONS 2;`);
    const { cairn, repository } = await newCairn();
    const error = await cairn.backup({ repository, sources: [cairn.resolveSource(url(other))] }).catch((e: unknown) => e);
    expect((error as Error).message).toBe(`[mysql] table ${other}.p cannot be exported as a tablespace (it is partitioned): back it up with mode=logical, or exclude it`);
    await cairn.close();
  });

  it('fails after the lock wait timeout when another session holds a table locked', async () => {
    const locker = await mysql.createConnection(server);
    await locker.query(`LOCK TABLES \`${db}\`.items WRITE`);
    try {
      const { cairn, repository } = await newCairn();
      const started = performance.now();
      const error = await cairn.backup({ repository, sources: [mysqlSource({ ...server, databases: [db], mode: 'tablespace', lockWaitTimeoutSeconds: 1 })] }).catch((e: unknown) => e);
      expect((error as SourceError).code).toBe('SOURCE_UNREADABLE');
      expect((error as Error).message).toBe(`[mysql] tables of ${db} are locked by another session (waited 1 s, lock_wait_timeout): try again later, or raise lockWaitTimeoutSeconds`);
      expect(performance.now() - started).toBeLessThan(15_000);
      await cairn.close();
    } finally {
      await locker.query('UNLOCK TABLES');
      await locker.end();
    }
  });

  it('releases the export lock when the backup is aborted while it holds it, and when the consumer stops early', async () => {
    const spools = async () => (await readdir(tmpdir())).filter((n) => n.startsWith('cairn-mysql-ibd-'));
    const before = new Set(await spools());
    // A signal that turns aborted at its second check: the first is before the database, the
    // second inside the copy loop, while FLUSH TABLES … FOR EXPORT is held.
    const controller = new AbortController();
    let checks = 0;
    const signal = {
      get aborted() {
        if (++checks === 2) controller.abort();
        return controller.signal.aborted;
      },
      get reason() {
        return controller.signal.reason as unknown;
      },
      addEventListener: () => undefined,
      removeEventListener: () => undefined,
    } as unknown as AbortSignal;
    const source = mysqlSource({ ...server, databases: [db], mode: 'tablespace' });
    const aborted = await (async () => {
      for await (const entry of source.entries(backupContext(signal))) void entry;
    })().catch((e: unknown) => e);
    expect(aborted).toBeInstanceOf(AbortedError);
    expect(checks).toBeGreaterThanOrEqual(2);
    const writable = async () => {
      const probe = await mysql.createConnection(server);
      try {
        await probe.query('SET SESSION lock_wait_timeout = 2');
        await probe.query(`INSERT INTO \`${db}\`.tags VALUES (1, 'probe')`);
        await probe.query(`DELETE FROM \`${db}\`.tags WHERE tag = 'probe'`);
      } finally {
        await probe.end();
      }
    };
    await writable();

    // The consumer stops after the first file: the lock is gone, and so are the spooled copies once the generator ends.
    for await (const entry of source.entries(backupContext())) if (entry.type === 'file') break;
    await writable();
    // Polled: another test process may have a spool of its own open for a moment.
    await expect.poll(async () => (await spools()).filter((n) => !before.has(n)), { timeout: 10_000 }).toEqual([]);
  });

  it('says so when the data directory cannot be reached from here', async () => {
    const { cairn, repository } = await newCairn();
    const error = await cairn.backup({ repository, sources: [mysqlSource({ ...server, databases: [db], mode: 'tablespace', datadir: '/nonexistent/mysql' })] }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/the server's data directory \/nonexistent\/mysql is not readable from here \(ENOENT\): tablespace mode needs the server on this machine .* use mode=logical otherwise/);
    // The table was never locked: it takes writes.
    await admin.query(`INSERT INTO \`${db}\`.tags VALUES (2, 'after')`);
    await cairn.close();
  });
});
