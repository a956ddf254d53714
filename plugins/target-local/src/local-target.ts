import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, defineTarget } from '@cairn/core';
import { z } from 'zod';
import { localStore } from './local-store.js';

export const localTargetOptions = z.object({
  path: z.string().min(1).describe('Directory the repository lives in; relative paths are resolved against the working directory. Created on first write.'),
});

export type LocalTargetOptions = z.input<typeof localTargetOptions>;

/** Stores a repository in a directory on a local (or mounted) disk. */
export const localTarget = defineTarget({
  name: 'local',
  options: localTargetOptions,
  capabilities: { rangeReads: true, atomicRename: true, maxParallel: 4 },
  urls: { schemes: ['file'], parse: parseLocalUrl },
  location: (options) => resolve(options.path),
  async connect(options) {
    return localStore(resolve(options.path));
  },
});

/** Accepts `file:///abs/path` or a plain path; a relative path is resolved now, against the working directory. */
export function parseLocalUrl(url: string): LocalTargetOptions {
  if (/^file:/i.test(url)) {
    try {
      return { path: fileURLToPath(url) };
    } catch (error) {
      throw new ConfigError(`invalid file URL ${JSON.stringify(url)}: use file:///absolute/path or a plain path`, { plugin: 'local', cause: error });
    }
  }
  return { path: isAbsolute(url) ? url : resolve(url) };
}
