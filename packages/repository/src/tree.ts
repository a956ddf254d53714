import type { EntryType } from './entry.js';
import { RepositoryError } from './errors.js';

/**
 * A directory is stored as one tree blob listing its children, sorted by name; a child
 * directory is referenced by the id of its own tree blob. Unchanged directories therefore
 * produce identical blobs and cost nothing in the next snapshot (a Merkle tree, as in restic).
 */
export interface TreeNode {
  name: string;
  type: EntryType;
  mode: number;
  mtime: number;
  size: number;
  /** The source's change key (inode, ETag) used to skip unchanged content. */
  key?: string;
  /** Symlink target. */
  target?: string;
  /** Data blob ids, in order, for files. */
  content?: string[];
  /** Tree blob id, for directories. */
  subtree?: string;
  meta?: Record<string, unknown>;
}

const byName = (a: TreeNode, b: TreeNode): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function encodeTree(nodes: TreeNode[]): Buffer {
  return Buffer.from(JSON.stringify({ nodes: [...nodes].sort(byName) }));
}

export function decodeTree(data: Buffer, id: string): TreeNode[] {
  let parsed: { nodes?: unknown };
  try {
    parsed = JSON.parse(data.toString('utf8')) as { nodes?: unknown };
  } catch (cause) {
    throw new RepositoryError('REPO_CORRUPT', `tree ${id.slice(0, 12)} is not valid JSON`, { cause });
  }
  if (!Array.isArray(parsed.nodes)) throw new RepositoryError('REPO_CORRUPT', `tree ${id.slice(0, 12)} has no node list`);
  return parsed.nodes as TreeNode[];
}

/** Rejects names that could leave a directory when joined: restore relies on every name being one plain segment. */
export function isSafeName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

/** Splits and validates an entry path from a source: relative, `/`-separated, no empty, `.` or `..` segments. */
export function splitEntryPath(path: string): string[] {
  const segments = typeof path === 'string' ? path.split('/') : [];
  if (segments.length === 0 || !segments.every(isSafeName)) {
    throw new RepositoryError('BAD_ENTRY', `a source yielded an invalid path ${JSON.stringify(path)}: paths must be relative, with no empty, "." or ".." segments`);
  }
  return segments;
}
