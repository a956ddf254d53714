import { TEMP_UPLOAD_SUFFIX, checkBlobKey } from '@cairn/core';

export const TEMP_SUFFIX = TEMP_UPLOAD_SUFFIX;

/** Checks a blob key (core's rules, temporary names refused) and returns it unchanged: it becomes a path under the store's directory. */
export function checkKey(key: string): string {
  return checkBlobKey(key, 'sftp', { temporaryNames: true });
}
