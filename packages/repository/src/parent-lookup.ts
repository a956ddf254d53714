import type { BlobReader } from './blob-reader.js';
import type { SourceEntry } from './entry.js';
import type { MasterIndex } from './master-index.js';
import { decodeTree, type TreeNode } from './tree.js';

/** Whether a file can keep the parent snapshot's chunks unread: same change key, size and mtime, every chunk still stored. */
export function isUnchanged(before: TreeNode | undefined, entry: SourceEntry, index: MasterIndex): boolean {
  return before?.type === 'file' && entry.changeKey !== undefined && before.key === entry.changeKey
    && before.size === entry.size && before.mtime === entry.mtimeMs && (before.content ?? []).every((id) => index.has(id));
}

/** Finds nodes of the parent snapshot by path, keeping recently used directory listings. */
export class ParentLookup {
  private readonly dirs = new Map<string, Promise<Map<string, TreeNode> | undefined>>();
  private static readonly CACHED_DIRS = 1024;

  constructor(private readonly reader: BlobReader, private readonly rootTree: string | undefined) {}

  async node(segments: string[]): Promise<TreeNode | undefined> {
    return (await this.dir(segments.slice(0, -1)))?.get(segments[segments.length - 1]!);
  }

  private dir(segments: string[]): Promise<Map<string, TreeNode> | undefined> {
    const key = segments.join('/');
    let listing = this.dirs.get(key);
    if (listing) return listing;
    listing = (async () => {
      let tree = this.rootTree;
      if (segments.length > 0) {
        const node = await this.node(segments);
        tree = node?.type === 'dir' ? node.subtree : undefined;
      }
      if (!tree) return undefined;
      return new Map(decodeTree(await this.reader.read(tree), tree).map((n) => [n.name, n]));
    })();
    this.dirs.set(key, listing);
    if (this.dirs.size > ParentLookup.CACHED_DIRS) this.dirs.delete(this.dirs.keys().next().value!);
    return listing;
  }
}
