import type { BlobReader } from './blob-reader.js';
import type { LentBlob } from './seal-pool.js';
import type { EntryBase, RestoreEntry, WriteFileOptions } from './entry.js';
import { RepositoryError, throwIfAborted } from './errors.js';
import { decodeTree, isSafeName, type TreeNode } from './tree.js';
import type { DirectoryEntry, ListDirectoryOptions } from './types.js';

const READ_AHEAD = 2;
/** Chunks of one file being written at once (see writeContent). */
const WRITES_AHEAD = 2;

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

/** The node at `segments` under `treeId`, reading only the trees on the way to it; undefined when it is not there. */
export async function findNode(reader: BlobReader, treeId: string, segments: readonly string[]): Promise<TreeNode | undefined> {
  let tree: string | undefined = treeId;
  let node: TreeNode | undefined;
  for (const segment of segments) {
    if (tree === undefined) return undefined;
    node = (await loadTree(reader, tree)).find((n) => n.name === segment);
    if (!node) return undefined;
    tree = node.type === 'dir' ? node.subtree : undefined;
  }
  return node;
}

/** The entries of one directory, `treeId`, whose path is `prefix`; with `sizes`, a directory's size is the bytes under it. */
export async function listTree(reader: BlobReader, treeId: string, prefix: string, options: ListDirectoryOptions): Promise<DirectoryEntry[]> {
  const entries: DirectoryEntry[] = [];
  for (const node of await loadTree(reader, treeId)) {
    const entry: DirectoryEntry = { name: node.name, ...entryOf(node, prefix ? `${prefix}/${node.name}` : node.name) };
    if (options.sizes && node.type === 'dir') entry.size = node.subtree ? await treeBytes(reader, node.subtree, options.signal) : 0;
    entries.push(entry);
  }
  return entries;
}

/**
 * The bytes of the files under `treeId`, at any depth. Depth-first, keeping a running total and
 * the subtree ids of one directory per level: never more than one directory's nodes at a time,
 * however many files the tree holds.
 */
async function treeBytes(reader: BlobReader, treeId: string, signal?: AbortSignal): Promise<number> {
  throwIfAborted(signal);
  let bytes = 0;
  const subtrees: string[] = [];
  for (const node of await loadTree(reader, treeId)) {
    if (node.type === 'file') bytes += node.size;
    else if (node.type === 'dir' && node.subtree) subtrees.push(node.subtree);
  }
  for (const subtree of subtrees) bytes += await treeBytes(reader, subtree, signal);
  return bytes;
}

function toEntry(reader: BlobReader, node: TreeNode, path: string): RestoreEntry {
  return {
    ...entryOf(node, path),
    open: (options) => readContent(reader, node.content ?? [], options?.reuseChunks),
    writeFile: (fd, options) => writeContent(reader, node.content ?? [], fd, options),
  };
}

function entryOf(node: TreeNode, path: string): EntryBase {
  const entry: EntryBase = { path, type: node.type, mode: node.mode, mtimeMs: node.mtime, size: node.size };
  if (node.target !== undefined) entry.linkTarget = node.target;
  if (node.meta) entry.metadata = node.meta;
  return entry;
}

/**
 * Streams a file's chunks in order, fetching a few ahead so storage latency overlaps with writing.
 * With `reuseChunks`, chunks are lent (see BlobReader.lend) and each is given back when the caller
 * asks for the next one or stops.
 */
export async function* readContent(reader: BlobReader, ids: string[], reuseChunks = false): AsyncGenerator<Uint8Array> {
  const ahead: Array<Promise<LentBlob>> = [];
  let next = 0;
  let lastSeated = Promise.resolve();
  const lend = (id: string): Promise<LentBlob> => {
    const after = lastSeated;
    let seated!: () => void;
    lastSeated = new Promise((resolve) => (seated = resolve));
    return reader.lend(id, { after, seated });
  };
  const fill = (): void => {
    while (ahead.length < READ_AHEAD && next < ids.length) {
      const id = ids[next++]!;
      const read = reuseChunks ? lend(id) : reader.read(id).then((data) => ({ data, release: () => {} }));
      read.catch(() => undefined); // observed when awaited below; this stops an early exit leaving it unhandled
      ahead.push(read);
    }
  };
  fill();
  try {
    while (ahead.length > 0) {
      const chunk = await ahead.shift()!;
      fill();
      try {
        yield chunk.data;
      } finally {
        chunk.release();
      }
    }
  } finally {
    // Stopped early: what was read ahead goes back as it arrives.
    for (const read of ahead.splice(0)) read.then((chunk) => chunk.release(), () => undefined);
  }
}

/**
 * Writes a file's chunks into `fd`, each at its place, on the workers: a few at a time, so that
 * reading the next envelopes overlaps with opening the last ones. Waits for every write it asked
 * for before it settles, even when one failed: the caller then closes `fd`.
 */
async function writeContent(reader: BlobReader, ids: string[], fd: number, options: WriteFileOptions = {}): Promise<void> {
  const writing = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let position = 0;
  try {
    for (const id of ids) {
      throwIfAborted(options.signal);
      if (writing.size >= WRITES_AHEAD) await Promise.race(writing);
      if (failure) break;
      const at = position;
      position += reader.rawLength(id);
      const write: Promise<void> = reader
        .writeInto(id, fd, at)
        .then(
          (bytes) => options.onBytes?.(bytes),
          (error: unknown) => {
            failure ??= { error };
          },
        )
        .finally(() => writing.delete(write));
      writing.add(write);
    }
  } finally {
    await Promise.all(writing);
  }
  if (failure) throw failure.error;
}
