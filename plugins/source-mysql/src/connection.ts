import { SourceError, TargetError, withTimeout } from '@cairn/core';
import type { Connection as RawConnection } from 'mysql2';
import type { Connection as PromiseConnection } from 'mysql2/promise';

/** A session: promise-style queries, and the underlying connection for streaming rows. */
export interface Connection extends PromiseConnection {
  readonly raw: RawConnection;
}
import type { MysqlSettings } from './mysql-options.js';

/** `user@host:port` (or `user@socket`), for messages: never the password. */
export function serverOf(settings: MysqlSettings): string {
  return `${settings.user}@${settings.socket ?? `${settings.host}:${settings.port}`}`;
}

/**
 * One session with settings that make dumps and replays exact: UTC for TIMESTAMP values, utf8mb4
 * for every string, every value as the server prints it (no JavaScript number or date in between).
 */
export async function openConnection(settings: MysqlSettings, purpose: string): Promise<Connection> {
  const server = serverOf(settings);
  let raw: RawConnection | undefined;
  // Loaded on first use, not with the plugin: a process that never talks to MySQL (the CLI's
  // --help, a local backup) does not pay for the client's ~10 MiB.
  const { createConnection } = await import('mysql2');
  try {
    raw = createConnection({
      ...(settings.socket ? { socketPath: settings.socket } : { host: settings.host, port: settings.port }),
      user: settings.user,
      ...(settings.password !== undefined ? { password: settings.password } : {}),
      connectTimeout: settings.connectTimeoutMs,
      charset: 'utf8mb4_general_ci',
      timezone: 'Z',
      multipleStatements: false,
      // Every value as the text the server prints (binary columns are selected as HEX()): nothing is
      // rounded, re-zoned or re-encoded on the way, and replaying the text gives the same value.
      typeCast: (field) => field.string(),
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
    });
    const session = raw;
    session.on('error', () => undefined); // a dropped session fails its next query; no uncaught event
    const connection = Object.assign(session.promise(), { raw: session });
    // mysql2's connectTimeout covers the handshake only: the deadline also covers a server that
    // accepts the login and then never answers the first statement.
    await withTimeout((async () => {
      await new Promise<void>((resolve, reject) => session.connect((error) => (error ? reject(error) : resolve())));
      await connection.query(`SET SESSION time_zone = '+00:00', SESSION lock_wait_timeout = ${settings.lockWaitTimeoutSeconds}, SESSION innodb_lock_wait_timeout = ${Math.min(settings.lockWaitTimeoutSeconds, 1_073_741_824)}`);
    })(), settings.connectTimeoutMs + 1000, `connecting to ${settings.socket ?? `${settings.host}:${settings.port}`}`, { plugin: 'mysql', onTimeout: () => session.destroy() });
    return connection;
  } catch (error) {
    raw?.destroy();
    throw connectError(error, settings, server, purpose);
  }
}

function connectError(error: unknown, settings: MysqlSettings, server: string, purpose: string): SourceError {
  const e = error as { code?: string; errno?: number; message?: string };
  const code = e.code ?? '';
  if (code === 'ER_ACCESS_DENIED_ERROR' || e.errno === 1045) {
    return new SourceError('SOURCE_UNREADABLE', `the MySQL server refused the login ${server} (access denied): check the user and the password (in the URL or MYSQL_PWD)`, { plugin: 'mysql', cause: error });
  }
  if (error instanceof TargetError) {
    return new SourceError('SOURCE_UNREADABLE', `the MySQL server at ${settings.socket ?? `${settings.host}:${settings.port}`} did not answer within ${Math.round(settings.connectTimeoutMs / 1000)} s for ${purpose}: is it overloaded or stuck? Check it, or raise connectTimeoutMs`, { plugin: 'mysql', cause: error });
  }
  if (code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENOENT') {
    return new SourceError('SOURCE_UNREADABLE', `cannot reach the MySQL server at ${settings.socket ?? `${settings.host}:${settings.port}`} for ${purpose} (${code}): is it running, and are host and port right?`, { plugin: 'mysql', cause: error });
  }
  return new SourceError('SOURCE_UNREADABLE', `cannot connect to the MySQL server as ${server} for ${purpose} (${code || e.message})`, { plugin: 'mysql', cause: error });
}

/** `db`.`table`, quoted for SQL. */
export function qualified(db: string, table: string): string {
  return `${quote(db)}.${quote(table)}`;
}

export function quote(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** Whether a `db.table` pattern (with `*`) matches. */
export function matches(pattern: string, db: string, table: string): boolean {
  const [pdb, ptable] = pattern.split('.') as [string, string];
  const part = (p: string, value: string) => new RegExp(`^${p.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(value);
  return part(pdb, db) && part(ptable, table);
}
