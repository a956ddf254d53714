import type { BlobReader } from './blob-reader.js';
import type { RestoreEntry } from './entry.js';
import { RepositoryError } from './errors.js';
import { decodeTree, isSafeName, type TreeNode } from './tree.js';

const READ_AHEAD = 2;

export async function loadTree(reader: BlobReader, id: string): Promise<TreeNode[]> {
  const nodes = decodeTree(await reader.read(id), id);
  for (const node of nodes) {
    // A crafted snapshot must not be able to name `..` or `a/b`; restore re-checks too.
    if (!isSafeName(node.name)) throw new RepositoryError('REPO_CORRUPT', `tree ${id.slice(0, 12)} holds an unsafe name ${JSON.stringify(node.name)}`);
  }
  return nodes;
}

/** Every node under `treeId`, depth-first; `include` limits it to those paths, their contents and their parents. */
export async function* walkTree(reader: BlobReader, treeId: string, include: string[] | undefined, prefix = ''): AsyncGenerator<RestoreEntry> {
  for (const node of await loadTree(reader, treeId)) {
    const path = prefix ? `${prefix}/${node.name}` : node.name;
    const selected = !include || include.some((wanted) => wanted === path || path.startsWith(`${wanted}/`));
    const onTheWay = !selected && node.type === 'dir' && include!.some((wanted) => wanted.startsWith(`${path}/`));
    if (!selected && !onTheWay) continue;
    yield toEntry(reader, node, path);
    if (node.type === 'dir' && node.subtree) yield* walkTree(reader, node.subtree, selected ? undefined : include, path);
  }
}

function toEntry(reader: BlobReader, node: TreeNode, path: string): RestoreEntry {
  const entry: RestoreEntry = {
    path,
    type: node.type,
    mode: node.mode,
    mtimeMs: node.mtime,
    size: node.size,
    open: () => readContent(reader, node.content ?? []),
  };
  if (node.target !== undefined) entry.linkTarget = node.target;
  if (node.meta) entry.metadata = node.meta;
  return entry;
}

/** Streams a file's chunks in order, fetching a few ahead so storage latency overlaps with writing. */
export async function* readContent(reader: BlobReader, ids: string[]): AsyncGenerator<Uint8Array> {
  const ahead: Array<Promise<Buffer>> = [];
  let next = 0;
  const fill = (): void => {
    while (ahead.length < READ_AHEAD && next < ids.length) {
      const read = reader.read(ids[next++]!);
      read.catch(() => undefined); // observed when awaited below; this stops an early exit leaving it unhandled
      ahead.push(read);
    }
  };
  fill();
  while (ahead.length > 0) {
    const chunk = await ahead.shift()!;
    fill();
    yield chunk;
  }
}
