import { TargetError } from './errors.js';

/** Suffix of the file targets' in-flight uploads: `<key>.tmp-<12 hex>`. Never listed, never a valid key. */
export const TEMP_UPLOAD_SUFFIX = /\.tmp-[0-9a-f]{12}$/;

export interface BlobKeyRules {
  /** Characters the store cannot take, and how to name them in the message (FTP: line breaks). Default: NUL. */
  forbidden?: { pattern: RegExp; what: string };
  /** Refuse keys that look like a temporary upload (stores that write through a temporary name). */
  temporaryNames?: boolean;
  /** Longest key in UTF-8 bytes (S3 counts the prefix too). */
  maxBytes?: number;
}

/**
 * Why a blob key is not valid, or undefined. Keys are `/`-separated relative paths on every target:
 * a `..` segment or a leading `/` could reach outside the store's folder, and a repository must move
 * between targets unchanged, so every target refuses what any of them cannot store.
 */
export function blobKeyProblem(key: string, rules: BlobKeyRules = {}): string | undefined {
  if (typeof key !== 'string' || key.length === 0) return 'it is empty';
  if (key.startsWith('/')) return 'it starts with "/"';
  const forbidden = rules.forbidden ?? { pattern: /\0/, what: 'a NUL byte' };
  if (forbidden.pattern.test(key)) return `it contains ${forbidden.what}`;
  if (rules.temporaryNames && TEMP_UPLOAD_SUFFIX.test(key)) return 'it ends like a temporary upload';
  if (rules.maxBytes !== undefined && Buffer.byteLength(key) > rules.maxBytes) return `it is longer than ${rules.maxBytes} bytes`;
  for (const segment of key.split('/')) {
    if (segment === '') return 'it has an empty segment';
    if (segment === '.' || segment === '..') return `it has a "${segment}" segment`;
  }
  return undefined;
}

/** The key, or TARGET_INVALID_KEY naming the plugin and the problem. */
export function checkBlobKey(key: string, plugin: string, rules: BlobKeyRules = {}): string {
  const problem = blobKeyProblem(key, rules);
  if (problem) throw new TargetError('TARGET_INVALID_KEY', `invalid key ${JSON.stringify(key)}: ${problem}`, { plugin });
  return key;
}
