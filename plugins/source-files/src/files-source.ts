import { basename, resolve } from 'node:path';
import { ConfigError, defineSource, writeEntriesToDirectory } from '@cairn/core';
import { z } from 'zod';
import { compileExcludes } from './excludes.js';
import { walkTree } from './walk.js';

export const filesSourceOptions = z.object({
  path: z.string().min(1).describe('Directory (or file) to back up; relative paths are resolved against the working directory.'),
  name: z.string().min(1).regex(/^[^/\0]+$/, 'a single name without "/"').refine((n) => n !== '.' && n !== '..', 'not "." or ".."').optional()
    .describe('Top-level directory name in the snapshot; default: the last component of the path (`root` for `/`).'),
  excludes: z.array(z.string().min(1)).default([])
    .describe('Globs (picomatch) of paths to leave out, relative to the root: `*.log`, `node_modules/`, `cache/**`.'),
  followSymlinks: z.boolean().default(false).describe('Back up what symlinks point to instead of the links.'),
  oneFileSystem: z.boolean().default(false).describe('Do not descend into directories on other file systems (mount points stay as empty directories).'),
});

export type FilesSourceOptions = z.input<typeof filesSourceOptions>;

/** Backs up a directory tree on the local file system and restores it into a directory. */
export const filesSource = defineSource({
  name: 'files',
  options: filesSourceOptions,
  capabilities: { incremental: true, restoreModes: ['directory'] },
  create(options) {
    const root = resolve(options.path);
    const excluded = compileExcludes(options.excludes);
    return {
      name: options.name ?? (basename(root) || 'root'),
      description: root,
      entries: (ctx) => walkTree({ root, excluded, followSymlinks: options.followSymlinks, oneFileSystem: options.oneFileSystem }, ctx),
      async restore(entries, ctx) {
        if (ctx.mode !== 'directory' || !ctx.targetDir) {
          throw new ConfigError(`restore mode "${ctx.mode}" is not supported: restore into a directory (give a target directory)`, { plugin: 'files' });
        }
        return writeEntriesToDirectory(entries, ctx.targetDir, { signal: ctx.signal, ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}) });
      },
    };
  },
});
