export { filesSource, filesSourceOptions } from './files-source.js';
export type { FilesSourceOptions } from './files-source.js';
export { compileExcludes } from './excludes.js';
