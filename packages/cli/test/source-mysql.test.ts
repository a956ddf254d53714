import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminConnection, mysqlServer } from '../../../plugins/source-mysql/test/mysql-services.js';
import { cli, expectOneErrorLine, tempDir, type CliResult } from './helpers.js';

/**
 * The mysql source through the real `cairn` command against MariaDB: `cairn backup mysql://…`
 * around a change, `cairn restore --to mysql://…/newdb` of each snapshot equal to the database at
 * that time, and the bad cases exiting 1 with one line that holds no password.
 */
const server = mysqlServer();
const PASSWORD = 'correct horse battery staple';
const prefix = `cairn_cli_${randomBytes(3).toString('hex')}`;
const db = `${prefix}_shop`;
const url = (database: string) => `mysql://${server.user}@${server.host}:${server.port}/${database}`;
let admin: Awaited<ReturnType<typeof adminConnection>>;
let dir: { path: string; cleanup: () => Promise<void> };
const databases = [db];
let nextId = 10;

const run = (args: string[], env: Record<string, string> = { MYSQL_PWD: server.password }): Promise<CliResult> =>
  cli(args, { env: { CAIRN_PASSWORD: PASSWORD, ...env }, cwd: dir.path });
async function ok(args: string[]): Promise<string> {
  const result = await run(args);
  if (result.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}
const rows = async (database: string) => (await admin.query(`SELECT id, name, HEX(photo) AS photo, price FROM \`${database}\`.items ORDER BY id`))[0] as unknown[];

beforeAll(async () => {
  dir = await tempDir('cairn-mysql-cli-');
  admin = await adminConnection(server);
  await admin.query(`CREATE DATABASE \`${db}\`; CREATE TABLE \`${db}\`.items (id INT PRIMARY KEY, name VARCHAR(50), photo BLOB, price DECIMAL(10,2));
    INSERT INTO \`${db}\`.items VALUES (1, 'crème brûlée 🍮', 0x89504e470d0a1a0a00, 4.50), (2, NULL, NULL, 0.00);`);
  await ok(['init', '--repo', join(dir.path, 'repo')]);
});
afterAll(async () => {
  for (const name of databases) await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
  await admin.end();
  await dir?.cleanup();
});

describe('cairn with a mysql:// source on MariaDB', () => {
  it.each(['logical', 'tablespace'])('backs up (%s), changes, backs up, and restores each snapshot into a new database', async (mode) => {
    const repo = join(dir.path, 'repo');
    const query = `?mode=${mode}`;
    const v1 = await rows(db);
    const first = JSON.parse(await ok(['backup', url(db) + query, '--repo', repo, '--json'])) as { id: string };
    await admin.query(`UPDATE \`${db}\`.items SET price = price + 1 WHERE id = 1; DELETE FROM \`${db}\`.items WHERE id = 2;
      INSERT INTO \`${db}\`.items VALUES (${nextId++}, 'new', 0x00, 1.00);`);
    const v2 = await rows(db);
    const second = JSON.parse(await ok(['backup', url(db) + query, '--repo', repo, '--json'])) as { id: string };
    for (const [id, expected] of [[first.id, v1], [second.id, v2]] as const) {
      const into = `${prefix}_r${randomBytes(2).toString('hex')}`;
      databases.push(into);
      await ok(['restore', id, '--repo', repo, '--to', url(into)]);
      expect(await rows(into)).toEqual(expected);
    }
  });

  it('a wrong password (from the env or the URL), a missing database, a server down, no datadir: exit 1, one line, no password', async () => {
    const repo = join(dir.path, 'repo');
    const wrong = await run(['backup', url(db), '--repo', repo], { MYSQL_PWD: 'wrong-db-password' });
    expect(wrong.code).toBe(1);
    expect(expectOneErrorLine(wrong.stderr)).toContain(`the MySQL server refused the login ${server.user}@${server.host}:${server.port} (access denied)`);
    const missing = await run(['backup', url(`${prefix}_none`), '--repo', repo]);
    expect(missing.code).toBe(1);
    expect(expectOneErrorLine(missing.stderr)).toContain(`no database "${prefix}_none" on the MySQL server`);
    const down = await run(['backup', `mysql://${server.user}@127.0.0.1:1/${db}`, '--repo', repo]);
    expect(down.code).toBe(1);
    expect(expectOneErrorLine(down.stderr)).toMatch(/cannot reach the MySQL server at 127\.0\.0\.1:1 for a backup \(ECONNREFUSED\)/);
    const inUrl = await run(['backup', `mysql://${server.user}:url-secret-pw@${server.host}:${server.port}/${db}`, '--repo', repo], {});
    expect(inUrl.code).toBe(1);
    expect(expectOneErrorLine(inUrl.stderr)).toContain('refused the login');
    expect(inUrl.stderr).not.toContain('url-secret-pw');
    const noDatadir = await run(['backup', `${url(db)}?mode=tablespace&datadir=/nonexistent/mysql`, '--repo', repo]);
    expect(noDatadir.code).toBe(1);
    expect(expectOneErrorLine(noDatadir.stderr)).toContain('use mode=logical');
    for (const result of [wrong, missing, down, noDatadir]) expect(result.stderr).not.toContain(server.password);
  });
});
