/** Where each kind of object lives in the blob store. See docs/repository-format.md. */
export const CONFIG_KEY = 'config';
export const KEYS_PREFIX = 'keys/';
export const DATA_PREFIX = 'data/';
export const INDEX_PREFIX = 'index/';
export const SNAPSHOTS_PREFIX = 'snapshots/';
export const LOCKS_PREFIX = 'locks/';

/** Packs are spread over 256 folders by their first two hex digits, so no folder grows huge. */
export function packKey(packId: string): string {
  return `${DATA_PREFIX}${packId.slice(0, 2)}/${packId}`;
}

export function idFromKey(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

export const isObjectId = (name: string): boolean => /^[0-9a-f]{64}$/.test(name);
