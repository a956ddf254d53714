import { TEMP_UPLOAD_SUFFIX, checkBlobKey } from '@cairn/core';

export const TEMP_SUFFIX = TEMP_UPLOAD_SUFFIX;

/** Checks a blob key (core's rules, temporary names refused) and returns it as a path relative to the store's root. */
export function keyToRelativePath(key: string): string {
  return checkBlobKey(key, 'local', { temporaryNames: true });
}
