import { TargetError } from '@cairn/core';

/**
 * Checks a blob key. Keys are `/`-separated; S3 itself would accept `..` or a leading `/`, but
 * other targets cannot, and a repository must move between targets unchanged, so all refuse them.
 */
export function checkKey(key: string): string {
  const problem = keyProblem(key);
  if (problem) throw new TargetError('TARGET_INVALID_KEY', `invalid key ${JSON.stringify(key)}: ${problem}`, { plugin: 's3' });
  return key;
}

/** A list prefix may end anywhere (`data/a`), but not climb out or start at the root. */
export function checkPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  const problem = prefix.startsWith('/') ? 'it starts with "/"' : prefix.split('/').slice(0, -1).some((s) => s === '' || s === '.' || s === '..') ? 'it has an empty, "." or ".." segment' : undefined;
  if (problem) throw new TargetError('TARGET_INVALID_KEY', `invalid prefix ${JSON.stringify(prefix)}: ${problem}`, { plugin: 's3' });
  return prefix;
}

export function isValidKey(key: string): boolean {
  return keyProblem(key) === undefined;
}

function keyProblem(key: string): string | undefined {
  if (typeof key !== 'string' || key.length === 0) return 'it is empty';
  if (key.startsWith('/')) return 'it starts with "/"';
  if (key.includes('\0')) return 'it contains a NUL byte';
  if (Buffer.byteLength(key) > 900) return 'it is longer than 900 bytes'; // S3 allows 1024 with the prefix
  for (const segment of key.split('/')) {
    if (segment === '') return 'it has an empty segment';
    if (segment === '.' || segment === '..') return `it has a "${segment}" segment`;
  }
  return undefined;
}
