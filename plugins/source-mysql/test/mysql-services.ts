import mysql from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';
import { requireEnv } from '@cairn/testkit';

/** The test MariaDB's settings (`scripts/services up` starts it and writes them). */
export function mysqlServer() {
  const env = requireEnv('CAIRN_TEST_MYSQL_HOST', 'CAIRN_TEST_MYSQL_PORT', 'CAIRN_TEST_MYSQL_USER', 'CAIRN_TEST_MYSQL_PASSWORD');
  return { host: env.CAIRN_TEST_MYSQL_HOST, port: Number(env.CAIRN_TEST_MYSQL_PORT), user: env.CAIRN_TEST_MYSQL_USER, password: env.CAIRN_TEST_MYSQL_PASSWORD };
}

/** An administrative session (several statements per query allowed), for tests to arrange and inspect data. */
export function adminConnection(server = mysqlServer()): Promise<Connection> {
  return mysql.createConnection({ ...server, multipleStatements: true, charset: 'utf8mb4_general_ci' });
}
