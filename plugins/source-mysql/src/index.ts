export { mysqlSource } from './mysql-source.js';
export { mysqlSourceOptions } from './mysql-options.js';
export type { MysqlSourceOptions } from './mysql-options.js';
export { parseMysqlUrl } from './mysql-url.js';
