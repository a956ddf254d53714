import { ConfigError } from '@cairn/core';
import type { MysqlSourceOptions } from './mysql-options.js';

type Env = Readonly<Record<string, string | undefined>>;
const PARAMETERS = ['mode', 'datadir', 'tables', 'exclude', 'socket', 'name', 'lock_wait_timeout'];

/**
 * Turns `mysql://user[:password]@host[:port]/db1,db2[?mode=tablespace&tables=db.t1,db.t2&exclude=db.log_*&name=…]`
 * (or `mariadb://…`) into options. The password comes from the URL, else from `MYSQL_PWD` (the
 * variable MySQL's own tools read). The URL is never quoted in errors: it may hold the password.
 */
export function parseMysqlUrl(url: string, env: Env = {}): MysqlSourceOptions {
  const fail = (why: string, cause?: unknown): never => {
    throw new ConfigError(`invalid mysql URL: ${why}`, { plugin: 'mysql', cause });
  };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    return fail('expected mysql://user@host:port/database', error);
  }
  if (parsed.protocol !== 'mysql:' && parsed.protocol !== 'mariadb:') fail(`expected the mysql: or mariadb: scheme, got ${parsed.protocol}`);
  const decode = (text: string, what: string) => {
    try {
      return decodeURIComponent(text);
    } catch (error) {
      return fail(`its ${what} has a bad percent-escape`, error);
    }
  };
  const user = decode(parsed.username, 'user');
  if (!user) fail('it has no user: use mysql://user@host/database');
  const databases = decode(parsed.pathname.replace(/^\//, ''), 'path').split(',').map((d) => d.trim()).filter(Boolean);
  if (databases.length === 0) fail('it names no database: use mysql://user@host/database (or db1,db2)');
  for (const name of parsed.searchParams.keys()) {
    if (!PARAMETERS.includes(name)) fail(`unknown parameter "${name}": known are ${PARAMETERS.join(', ')}`);
  }
  const list = (name: string) => parsed.searchParams.get(name)?.split(',').map((s) => s.trim()).filter(Boolean);
  const options: MysqlSourceOptions = { user, databases };
  if (parsed.hostname) options.host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (parsed.port) options.port = Number(parsed.port);
  const password = parsed.password ? decode(parsed.password, 'password') : env.MYSQL_PWD;
  if (password !== undefined) options.password = password;
  const tables = list('tables');
  if (tables) options.tables = tables;
  const exclude = list('exclude');
  if (exclude) options.exclude = exclude;
  const mode = parsed.searchParams.get('mode');
  if (mode !== null) {
    if (mode !== 'logical' && mode !== 'tablespace') fail(`mode must be logical or tablespace, got "${mode}"`);
    options.mode = mode as 'logical' | 'tablespace';
  }
  const datadir = parsed.searchParams.get('datadir');
  if (datadir) options.datadir = datadir;
  const socket = parsed.searchParams.get('socket');
  if (socket) options.socket = socket;
  const name = parsed.searchParams.get('name');
  if (name) options.name = name;
  const lockWait = parsed.searchParams.get('lock_wait_timeout');
  if (lockWait !== null) {
    if (!/^\d+$/.test(lockWait)) fail('lock_wait_timeout must be whole seconds');
    options.lockWaitTimeoutSeconds = Number(lockWait);
  }
  return options;
}
