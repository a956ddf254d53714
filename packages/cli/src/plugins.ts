import { createCairn } from '@cairn/core';
import type { Cairn, CairnConfig, Logger } from '@cairn/core';
import { filesSource } from '@cairn/source-files';
import { labelStudioSource } from '@cairn/source-label-studio';
import { minioSource } from '@cairn/source-minio';
import { mysqlSource } from '@cairn/source-mysql';
import { ftpTarget } from '@cairn/target-ftp';
import { localTarget } from '@cairn/target-local';
import { s3Target } from '@cairn/target-s3';
import { sftpTarget } from '@cairn/target-sftp';

/** The one list of storage targets the command knows: `--repo` URLs are resolved through them. */
export const targets = [localTarget, sftpTarget, ftpTarget, s3Target];

/** The one list of source plugins whose URLs `backup SOURCE…` and `restore --to URL` accept; plain paths are the files source. */
export const sources = [mysqlSource, minioSource, labelStudioSource];

export { filesSource };

/** Loaded lazily by the commands, so `--help` and usage errors never load the storage stack. */
export function createCliCairn(logger: Logger, env: NodeJS.ProcessEnv, config?: CairnConfig): Cairn {
  // A config's own target plugins (its own copies, or others) take the place of the built-in ones of the same name.
  const configured = config?.targets ?? [];
  const merged = [...targets.filter((t) => !configured.some((c) => c.pluginName === t.pluginName)), ...configured];
  return createCairn({
    targets: merged, sources, logger, env,
    ...(config?.plugins ? { plugins: config.plugins } : {}),
    ...(config?.executor ? { executor: config.executor } : {}),
  });
}
