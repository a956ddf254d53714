import { createCairn } from '@cairn/core';
import type { Cairn, Logger } from '@cairn/core';
import { filesSource } from '@cairn/source-files';
import { localTarget } from '@cairn/target-local';

/**
 * The one list of storage targets the command knows: `--repo` URLs are resolved through them.
 * Later targets (sftp, ftp, s3) are added here and nowhere else.
 */
export const targets = [localTarget];

export { filesSource };

/** Loaded lazily by the commands, so `--help` and usage errors never load the storage stack. */
export function createCliCairn(logger: Logger, env: NodeJS.ProcessEnv): Cairn {
  return createCairn({ targets, logger, env });
}
