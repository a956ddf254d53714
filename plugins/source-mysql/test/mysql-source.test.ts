import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import mysql from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, ConfigError, SourceError, createCairn } from '@cairn/core';
import type { Cairn } from '@cairn/core';
import { describeSourceConformance, memoryTarget } from '@cairn/testkit';
import { mysqlSource, parseMysqlUrl } from '../src/index.js';
import { adminConnection, mysqlServer } from './mysql-services.js';

const server = mysqlServer();
const kdf = { N: 1024, r: 8, p: 1 };
const prefix = `cairn_t_${randomBytes(3).toString('hex')}`;
const db = `${prefix}_app`;
let admin: Connection;
const created: string[] = [db];

/** Every row of every table of `database`, as text (binary as hex), in key order: what must survive a round trip. */
async function contents(database: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const [tables] = await admin.query("SELECT TABLE_NAME AS name, TABLE_TYPE AS type FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", [database]);
  for (const { name } of tables as Array<{ name: string }>) {
    const [columns] = await admin.query('SELECT COLUMN_NAME AS c, DATA_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION', [database, name]);
    const select = (columns as Array<{ c: string; t: string }>).map(({ c, t }) => (/blob|binary|bit/.test(t) ? `HEX(\`${c}\`) AS \`${c}\`` : t === 'float' ? `CAST(\`${c}\` AS DOUBLE) AS \`${c}\`` : `CAST(\`${c}\` AS CHAR) AS \`${c}\``)).join(', ');
    const [rows] = await admin.query(`SELECT ${select} FROM \`${database}\`.\`${name}\` ORDER BY 1`);
    out[name] = rows;
  }
  const [routines] = await admin.query('SELECT ROUTINE_NAME AS n, ROUTINE_TYPE AS t FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY 1', [database]);
  const [triggers] = await admin.query('SELECT TRIGGER_NAME AS n, EVENT_OBJECT_TABLE AS t FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY 1', [database]);
  out['(routines)'] = routines;
  out['(triggers)'] = triggers;
  return out;
}

beforeAll(async () => {
  admin = await adminConnection(server);
  await admin.query(`SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'; CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4; USE \`${db}\`;
    CREATE TABLE things (
      id INT PRIMARY KEY AUTO_INCREMENT, big BIGINT UNSIGNED, amount DECIMAL(30,10), ratio DOUBLE, single FLOAT, title VARCHAR(100), note TEXT NULL,
      raw VARBINARY(16), data BLOB, flags BIT(5), day DATE, moment DATETIME(6), stamp TIMESTAMP NULL DEFAULT NULL, doc JSON,
      kind ENUM('a','b'), tags SET('x','y'), twice INT AS (id * 2) VIRTUAL
    ) ENGINE=InnoDB;
    INSERT INTO things (id, big, amount, ratio, single, title, note, raw, data, flags, day, moment, stamp, doc, kind, tags) VALUES
      (0, 18446744073709551615, '12345678901234567890.0123456789', 0.1, 0.12345678, 'héllo 🌍 "quoted" \\\\ back', NULL, 0x00ff10, 0x000102fffe, b'10101', '0000-00-00', '2024-02-29 23:59:59.123456', '2024-01-01 00:00:00', '{"a": [1, 2], "b": null}', 'b', 'x,y'),
      (2, 0, '-1.5000000000', -1e300, 16777217, '', '', '', '', b'0', '1970-01-01', '1000-01-01 00:00:00.000000', NULL, 'null', 'a', ''),
      (3, NULL, NULL, NULL, NULL, NULL, 'NULL', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    CREATE TABLE empty_table (k VARCHAR(10) PRIMARY KEY);
    CREATE TABLE audit (n INT PRIMARY KEY AUTO_INCREMENT, what VARCHAR(50), thing INT, FOREIGN KEY (thing) REFERENCES things(id));
    CREATE TABLE nokey (a INT, b VARCHAR(5));
    INSERT INTO nokey VALUES (2, 'b'), (1, 'a'), (1, 'a');
    CREATE VIEW named AS SELECT id, title FROM things WHERE title <> '';
    CREATE VIEW named_upper AS SELECT id, UPPER(title) AS t FROM named;
    CREATE FUNCTION doubled(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
    CREATE PROCEDURE add_thing(IN t VARCHAR(100)) INSERT INTO things (title) VALUES (t);
    CREATE TRIGGER things_audit AFTER INSERT ON things FOR EACH ROW INSERT INTO audit (what, thing) VALUES (CONCAT('added ', doubled(NEW.id)), NEW.id);
  `);
});
afterAll(async () => {
  for (const name of created) await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
  await admin.end();
});

describeSourceConformance('mysql', async () => ({ source: mysqlSource({ ...server, databases: [db] }) }));

async function newCairn(): Promise<{ cairn: Cairn; repository: { target: ReturnType<typeof memoryTarget>; password: string } }> {
  const cairn = createCairn({ targets: [memoryTarget], sources: [mysqlSource], env: { MYSQL_PWD: server.password } });
  const repository = { target: memoryTarget({ name: randomUUID() }), password: 'pw' };
  await cairn.init({ repository, kdf });
  return { cairn, repository };
}
const url = (database: string) => `mysql://${server.user}@${server.host}:${server.port}/${database}`;

describe('mysql source (logical) against MariaDB', () => {
  it('backs up, changes, backs up again, and restores each snapshot into a new database exactly as it was', async () => {
    const { cairn, repository } = await newCairn();
    const before = await contents(db);
    const first = await cairn.backup({ repository, sources: [cairn.resolveSource(url(db))] });
    await admin.query(`USE \`${db}\`; CALL add_thing('added later'); UPDATE things SET note = 'changed' WHERE id = 2; DELETE FROM nokey WHERE a = 2;`);
    const after = await contents(db);
    expect(after).not.toEqual(before);
    const second = await cairn.backup({ repository, sources: [cairn.resolveSource(url(db))] });

    for (const [snapshot, expected] of [[first.snapshot.id, before], [second.snapshot.id, after]] as const) {
      const into = `${prefix}_r${randomBytes(2).toString('hex')}`;
      created.push(into);
      const restored = await cairn.restore({ repository, snapshot, to: url(into) });
      expect(restored.files).toBeGreaterThan(4);
      expect(await contents(into)).toEqual(expected);
      // The objects work in the new database, referring to its own tables.
      await admin.query(`USE \`${into}\`; CALL add_thing('after restore');`);
      const [[view]] = await admin.query('SELECT COUNT(*) AS n FROM named_upper WHERE t = ?', ['AFTER RESTORE']) as unknown as [[{ n: number }]];
      expect(Number(view.n)).toBe(1);
      const [[audited]] = await admin.query("SELECT what FROM audit ORDER BY n DESC LIMIT 1") as unknown as [[{ what: string }]];
      expect(audited.what).toMatch(/^added \d+$/);
    }
    await cairn.close();
  });

  it('stores an unchanged database again at almost no cost', async () => {
    const { cairn, repository } = await newCairn();
    const first = await cairn.backup({ repository, sources: [cairn.resolveSource(url(db))] });
    const again = await cairn.backup({ repository, sources: [cairn.resolveSource(url(db))] });
    expect(first.snapshot.summary.bytesAdded).toBeGreaterThan(1000);
    expect(again.snapshot.summary.bytesAdded).toBeLessThan(first.snapshot.summary.bytesAdded / 2);
    await cairn.close();
  });

  it('restores with the modes: new refuses a database with tables, merge adds and overwrites, replace recreates', async () => {
    const { cairn, repository } = await newCairn();
    const snapshot = (await cairn.backup({ repository, sources: [cairn.resolveSource(url(db))] })).snapshot.id;
    const into = `${prefix}_modes`;
    created.push(into);
    await cairn.restore({ repository, snapshot, to: url(into) });
    const error = await cairn.restore({ repository, snapshot, to: url(into) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as Error).message).toMatch(new RegExp(`database "${into}" on .* already holds tables \\(audit, empty_table, nokey, …\\): restore into an empty or new database, or choose --mode merge`));

    await admin.query(`USE \`${into}\`; UPDATE things SET title = 'edited' WHERE id = 2; INSERT INTO empty_table VALUES ('mine');`);
    const [[{ n: nokeyRows }]] = await admin.query(`SELECT COUNT(*) AS n FROM \`${into}\`.nokey`) as unknown as [[{ n: number }]];
    const warnings: string[] = [];
    cairn.events.on('log', (level, message) => { if (level === 'warn') warnings.push(message); });
    await cairn.restore({ repository, snapshot, to: url(into), mode: 'merge' });
    const [merged] = await admin.query(`SELECT title FROM \`${into}\`.things WHERE id = 2`);
    expect(merged).toEqual([{ title: '' }]);
    // A table without a key cannot tell its rows from the snapshot's: they are added again, and that is said.
    const [nokey] = await admin.query(`SELECT COUNT(*) AS n FROM \`${into}\`.nokey`);
    expect(nokey).toEqual([{ n: 2 * nokeyRows }]);
    expect(warnings).toEqual([`table ${into}.nokey has no primary or unique key and already holds rows: merge adds the snapshot's rows beside them (restore it with --mode replace to avoid duplicates)`]);
    const [kept] = await admin.query(`SELECT k FROM \`${into}\`.empty_table`);
    expect(kept).toEqual([{ k: 'mine' }]);

    await cairn.restore({ repository, snapshot, to: url(into), mode: 'replace' });
    const [replaced] = await admin.query(`SELECT k FROM \`${into}\`.empty_table`);
    expect(replaced).toEqual([]);
    await cairn.close();
  });

  it('backs up only the tables asked for', async () => {
    const { cairn, repository } = await newCairn();
    const source = cairn.resolveSource(`${url(db)}?tables=${db}.things,${db}.no*&exclude=${db}.nokey`);
    const { snapshot } = await cairn.backup({ repository, sources: [source] });
    const paths = (await cairn.ls({ repository, snapshot: snapshot.id })).map((e) => e.path);
    expect(paths.filter((p) => p.split('/').length === 3).sort()).toEqual([`mysql-${db}/${db}/objects.json`, `mysql-${db}/${db}/things`]);
    await cairn.close();
  });

  it('reports a wrong password, a missing database and a server that is down, each in one line without the password', async () => {
    const { cairn, repository } = await newCairn();
    const wrong = 'not-the-db-password';
    const denied = await cairn.backup({ repository, sources: [mysqlSource({ ...server, password: wrong, databases: [db] })] }).catch((e: unknown) => e);
    expect((denied as Error).message).toBe(`[mysql] the MySQL server refused the login ${server.user}@${server.host}:${server.port} (access denied): check the user and the password (in the URL or MYSQL_PWD)`);
    const missing = await cairn.backup({ repository, sources: [mysqlSource({ ...server, databases: [`${prefix}_nope`] })] }).catch((e: unknown) => e);
    expect((missing as SourceError).code).toBe('SOURCE_NOT_FOUND');
    expect((missing as Error).message).toContain(`no database "${prefix}_nope" on the MySQL server`);
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const started = performance.now();
    const down = await cairn.backup({ repository, sources: [mysqlSource({ ...server, port, databases: [db] })] }).catch((e: unknown) => e);
    expect((down as Error).message).toMatch(/cannot reach the MySQL server at 127\.0\.0\.1:\d+ for a backup \(ECONNREFUSED\)/);
    expect(performance.now() - started).toBeLessThan(5000);
    for (const error of [denied, missing, down]) expect((error as Error).message).not.toContain(server.password);
    expect(await cairn.snapshots({ repository })).toEqual([]);
    await cairn.close();
  });

  it('gives up on a server that accepts the connection but never answers, within the connect timeout', async () => {
    const sockets: Array<import('node:net').Socket> = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const { cairn, repository } = await newCairn();
      const started = performance.now();
      const error = await cairn.backup({ repository, sources: [mysqlSource({ ...server, port, databases: [db], connectTimeoutMs: 1000 })] }).catch((e: unknown) => e);
      expect((error as SourceError).code).toBe('SOURCE_UNREADABLE');
      expect((error as Error).message).toMatch(/MySQL server at 127\.0\.0\.1:\d+/);
      expect(performance.now() - started).toBeLessThan(5000);
      await cairn.close();
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('ends its snapshot transaction when a backup is aborted: the table can be altered right after', async () => {
    const aborting = `${prefix}_abort`;
    created.push(aborting);
    await admin.query(`CREATE DATABASE \`${aborting}\`; CREATE TABLE \`${aborting}\`.a (id INT PRIMARY KEY, v VARCHAR(200)); CREATE TABLE \`${aborting}\`.b (id INT PRIMARY KEY);
      INSERT INTO \`${aborting}\`.a SELECT seq, REPEAT('x', 200) FROM seq_1_to_20000;`);
    const { cairn, repository } = await newCairn();
    const controller = new AbortController();
    // Aborted when the repository takes table a's CREATE: by then its rows were read, so the
    // snapshot transaction holds a metadata lock on it, and table b is still to come.
    const source = mysqlSource({ ...server, databases: [aborting] });
    const watched = { ...source, entries: async function* (ctx: Parameters<typeof source.entries>[0]) {
      for await (const entry of source.entries(ctx)) {
        if (entry.path === `${aborting}/a/create.sql`) controller.abort();
        yield entry;
      }
    } };
    const error = await cairn.backup({ repository, sources: [watched], signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    // A consistent-snapshot transaction left open would hold a metadata lock that makes ALTER wait.
    const probe = await mysql.createConnection(server);
    try {
      await probe.query('SET SESSION lock_wait_timeout = 2');
      await probe.query(`ALTER TABLE \`${aborting}\`.a ADD COLUMN extra INT`);
      await probe.query(`INSERT INTO \`${aborting}\`.b VALUES (1)`);
    } finally {
      await probe.end();
    }
    expect(await cairn.snapshots({ repository })).toEqual([]);
    await cairn.close();
  });

  it('fails, rather than waits forever, when another session holds a table locked', async () => {
    const { cairn, repository } = await newCairn();
    const locker = await mysql.createConnection(server);
    await locker.query(`LOCK TABLES \`${db}\`.things WRITE`);
    try {
      const started = performance.now();
      const error = await cairn.backup({ repository, sources: [mysqlSource({ ...server, databases: [db], lockWaitTimeoutSeconds: 1 })] }).catch((e: unknown) => e);
      expect((error as SourceError).code).toBe('SOURCE_UNREADABLE');
      expect((error as Error).message).toBe(`[mysql] table ${db}.things is locked by another session (waited 1 s, lock_wait_timeout): try again later, or raise lockWaitTimeoutSeconds`);
      expect(performance.now() - started).toBeLessThan(15_000);
    } finally {
      await locker.query('UNLOCK TABLES');
      await locker.end();
    }
    expect(await cairn.snapshots({ repository })).toEqual([]);
    await cairn.close();
  });

  it('parses URLs, taking the password from MYSQL_PWD, and refuses bad ones without quoting them', () => {
    expect(parseMysqlUrl('mysql://ann@db.lan:3307/app,crm?tables=app.*&exclude=app.logs', { MYSQL_PWD: 'pw' })).toEqual({
      user: 'ann', host: 'db.lan', port: 3307, databases: ['app', 'crm'], password: 'pw', tables: ['app.*'], exclude: ['app.logs'],
    });
    expect(parseMysqlUrl('mariadb://ann:p%40ss@db/app', {}).password).toBe('p@ss');
    expect(() => parseMysqlUrl('mysql://ann:secret@db/', {})).toThrow('invalid mysql URL: it names no database');
    expect(() => parseMysqlUrl('mysql://ann:secret@db/app?mode=x', {})).toThrow(ConfigError);
    try {
      parseMysqlUrl('mysql://ann:secret@db/app?mode=x', {});
    } catch (error) {
      expect((error as Error).message).not.toContain('secret');
    }
  });
});
