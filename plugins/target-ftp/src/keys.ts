import { TEMP_UPLOAD_SUFFIX, checkBlobKey } from '@cairn/core';

export const TEMP_SUFFIX = TEMP_UPLOAD_SUFFIX;

/**
 * Checks a blob key (core's rules, temporary names refused) and returns it as a path relative to
 * the store's root. FTP commands are lines of text, so a line break or NUL in a key could smuggle
 * in another command.
 */
export function keyToRelativePath(key: string): string {
  return checkBlobKey(key, 'ftp', { temporaryNames: true, forbidden: { pattern: /[\0\r\n]/, what: 'a NUL byte or a line break' } });
}
