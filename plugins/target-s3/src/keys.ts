import { TargetError, blobKeyProblem, checkBlobKey } from '@cairn/core';

/** S3 allows 1024 bytes with the prefix: keys stay well under it. */
const RULES = { maxBytes: 900 };

/**
 * Checks a blob key with core's rules. S3 itself would accept `..` or a leading `/`, but other
 * targets cannot, and a repository must move between targets unchanged, so all refuse them.
 */
export function checkKey(key: string): string {
  return checkBlobKey(key, 's3', RULES);
}

/** A list prefix may end anywhere (`data/a`), but not climb out or start at the root. */
export function checkPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  const problem = prefix.startsWith('/') ? 'it starts with "/"' : prefix.split('/').slice(0, -1).some((s) => s === '' || s === '.' || s === '..') ? 'it has an empty, "." or ".." segment' : undefined;
  if (problem) throw new TargetError('TARGET_INVALID_KEY', `invalid prefix ${JSON.stringify(prefix)}: ${problem}`, { plugin: 's3' });
  return prefix;
}

export function isValidKey(key: string): boolean {
  return blobKeyProblem(key, RULES) === undefined;
}
