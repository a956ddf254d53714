import { z } from 'zod';

const identifier = z.string().min(1).max(64).regex(/^[^\0/\\.`]+$/, 'expected a database name without ".", "/", "\\" or "`"');
const pattern = z.string().regex(/^[^.\s]+\.[^.\s]+$/, 'expected db.table (either part may be *)');

export const mysqlSourceOptions = z.object({
  host: z.string().min(1).default('127.0.0.1').describe('Host name or IP address of the MySQL or MariaDB server.'),
  port: z.number().int().min(1).max(65535).default(3306).describe('TCP port of the server.'),
  socket: z.string().min(1).optional().describe('Unix socket path; replaces host and port.'),
  user: z.string().min(1).describe('User to connect as: needs SELECT, SHOW VIEW, TRIGGER and EVENT to back up, and CREATE, DROP, INSERT, ALTER to restore.'),
  password: z.string().optional().describe('The user\'s password (from a URL: the URL\'s, else MYSQL_PWD). Never logged.'),
  databases: z.array(identifier).min(1).describe('Databases to back up, or (one) to restore into.'),
  tables: z.array(pattern).optional().describe('Only these tables (`db.table`, `*` allowed): default all tables of the databases.'),
  exclude: z.array(pattern).default([]).describe('Tables to leave out (`db.table`, `*` allowed).'),
  mode: z.enum(['logical', 'tablespace']).default('logical')
    .describe('`logical`: a consistent snapshot of schema and rows over the network (tables, views, triggers, routines). `tablespace`: the InnoDB files of each table (FLUSH TABLES … FOR EXPORT), fast, for a server on this machine.'),
  datadir: z.string().min(1).optional()
    .describe('Tablespace mode: the server\'s data directory as this machine sees it; default: the server\'s @@datadir.'),
  lockWaitTimeoutSeconds: z.number().int().min(1).max(31_536_000).default(60)
    .describe('How long a backup or restore waits for a lock another session holds before it fails.'),
  connectTimeoutMs: z.number().int().min(100).max(300_000).default(10_000).describe('How long connecting may take.'),
  name: z.string().min(1).regex(/^[^/\0]+$/, 'a single name without "/"').optional()
    .describe('Top-level directory of this source in a snapshot; default `mysql-<first database>`.'),
});

export type MysqlSourceOptions = z.input<typeof mysqlSourceOptions>;
export type MysqlSettings = z.output<typeof mysqlSourceOptions>;
