import { defineSource } from '@cairn/core';
import { serverOf } from './connection.js';
import { dumpEntries } from './dump.js';
import { mysqlSourceOptions } from './mysql-options.js';
import { parseMysqlUrl } from './mysql-url.js';
import { restoreEntries } from './restore.js';
import { tablespaceEntries } from './tablespace.js';

/** Backs up MySQL and MariaDB databases, as consistent logical snapshots or InnoDB tablespace files, and restores them into a server. */
export const mysqlSource = defineSource({
  name: 'mysql',
  options: mysqlSourceOptions,
  capabilities: { incremental: false, restoreModes: ['directory', 'origin'] },
  urls: { schemes: ['mysql', 'mariadb'], parse: parseMysqlUrl },
  create(options) {
    return {
      name: options.name ?? `mysql-${options.databases[0]}`,
      description: `mysql://${serverOf(options)}/${options.databases.join(',')}`,
      entries: (ctx) => (options.mode === 'tablespace' ? tablespaceEntries(options, ctx) : dumpEntries(options, ctx)),
      restore: (entries, ctx) => restoreEntries(options, entries, ctx),
    };
  },
});
