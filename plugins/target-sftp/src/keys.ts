import { TargetError } from '@cairn/core';

/** Suffix of in-flight uploads: `<key>.tmp-<12 hex>`. Never listed, never a valid key. */
export const TEMP_SUFFIX = /\.tmp-[0-9a-f]{12}$/;

/**
 * Checks a blob key and returns it unchanged. Keys are `/`-separated and become paths under the
 * store's directory on the server; a `..` segment or a leading `/` could reach outside it.
 */
export function checkKey(key: string): string {
  const problem = keyProblem(key);
  if (problem) throw new TargetError('TARGET_INVALID_KEY', `invalid key ${JSON.stringify(key)}: ${problem}`, { plugin: 'sftp' });
  return key;
}

function keyProblem(key: string): string | undefined {
  if (typeof key !== 'string' || key.length === 0) return 'it is empty';
  if (key.startsWith('/')) return 'it starts with "/"';
  if (key.includes('\0')) return 'it contains a NUL byte';
  if (TEMP_SUFFIX.test(key)) return 'it ends like a temporary upload';
  for (const segment of key.split('/')) {
    if (segment === '') return 'it has an empty segment';
    if (segment === '.' || segment === '..') return `it has a "${segment}" segment`;
  }
  return undefined;
}
