import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SourceError, createCairn } from '@cairn/core';
import type { Cairn } from '@cairn/core';
import { memoryTarget } from '@cairn/testkit';
import type { Connection } from 'mysql2/promise';
import { mysqlSource } from '../src/index.js';
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

  it('says so when the data directory cannot be reached from here', async () => {
    const { cairn, repository } = await newCairn();
    const error = await cairn.backup({ repository, sources: [mysqlSource({ ...server, databases: [db], mode: 'tablespace', datadir: '/nonexistent/mysql' })] }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/the server's data directory \/nonexistent\/mysql is not readable from here \(ENOENT\): tablespace mode needs the server on this machine .* use mode=logical otherwise/);
    // The table was never locked: it takes writes.
    await admin.query(`INSERT INTO \`${db}\`.tags VALUES (2, 'after')`);
    await cairn.close();
  });
});
