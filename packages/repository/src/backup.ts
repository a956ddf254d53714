import { closeSync } from 'node:fs';
import type { BlobReader } from './blob-reader.js';
import type { BlobWriter } from './blob-writer.js';
import { chunkStream, type Chunker } from './chunker.js';
import { blobId } from './crypto.js';
import type { SourceEntry } from './entry.js';
import { AbortedError, CairnError, RepositoryError, throwIfAborted } from './errors.js';
import type { MasterIndex } from './master-index.js';
import { ParentLookup, isUnchanged } from './parent-lookup.js';
import { FILE_CHUNK_MAX } from './seal-pool.js';
import { encodeTree, splitEntryPath, type TreeNode } from './tree.js';
import type { BackupOptions, BackupSourceInput, BackupWarning, SnapshotSummary } from './types.js';

interface BackupDeps {
  writer: BlobWriter;
  reader: BlobReader;
  index: MasterIndex;
  idKey: Buffer;
  chunker: Chunker;
}

/** A directory being assembled: its children accumulate until the walk leaves it. */
interface Frame {
  /** Path segments from the snapshot root. */
  segments: string[];
  node: TreeNode;
  children: TreeNode[];
  names: Set<string>;
  /**
   * Children not complete yet: chunk lists still being hashed on the workers, subtrees waiting for
   * theirs. The tree is encoded once they settle, while the walk goes on: a directory of large
   * files does not hold it up.
   */
  pending: Array<Promise<void>>;
}

export interface BackupOutcome {
  tree: string;
  summary: Omit<SnapshotSummary, 'bytesAdded' | 'blobsAdded' | 'durationMs'>;
  warnings: BackupWarning[];
}

/**
 * Walks every source once, depth-first, storing new content and building the snapshot's trees
 * bottom-up. Files whose size, mtime and change key match the parent snapshot keep their
 * chunk list without being read.
 */
export async function storeSources(
  deps: BackupDeps,
  sources: BackupSourceInput[],
  parentTree: string | undefined,
  options: BackupOptions,
): Promise<BackupOutcome> {
  // Workers read a file to its end unless told to stop: an abort must not wait for large files.
  const stop = (): void => deps.writer.stopFiles();
  options.signal?.addEventListener('abort', stop, { once: true });
  try {
    return await walkSources(deps, sources, parentTree, options);
  } finally {
    options.signal?.removeEventListener('abort', stop);
  }
}

async function walkSources(
  deps: BackupDeps,
  sources: BackupSourceInput[],
  parentTree: string | undefined,
  options: BackupOptions,
): Promise<BackupOutcome> {
  const { writer, reader } = deps;
  const counts = { filesNew: 0, filesChanged: 0, filesUnchanged: 0, dirs: 0, bytesRead: 0, bytesTotal: 0 };
  const warnings: BackupWarning[] = [];
  const progress = throttle(options.onProgress, () => ({
    filesDone: counts.filesNew + counts.filesChanged + counts.filesUnchanged,
    bytesDone: counts.bytesTotal,
    bytesAdded: writer.bytesAdded,
    currentPath,
  }));
  let currentPath = '';
  const warn = (warning: BackupWarning): void => {
    warnings.push(warning);
    options.onWarning?.(warning);
  };
  const now = (options.time ?? new Date()).getTime();

  const storing: Storing = { deps, counts, warn, signal: options.signal, onProgress: progress.maybe };
  const parents = new ParentLookup(reader, parentTree);
  const openFrame = (parent: Frame | undefined, node: TreeNode): Frame => ({
    segments: parent ? [...parent.segments, node.name] : [],
    node,
    children: [],
    names: new Set(),
    pending: [],
  });
  const addChild = (frame: Frame, node: TreeNode, path: string): void => {
    if (frame.names.has(node.name)) throw new RepositoryError('BAD_ENTRY', `a source yielded ${JSON.stringify(path)} twice`);
    frame.names.add(node.name);
    frame.children.push(node);
  };
  /** A file that turned out unreadable after it took its place: left out with a warning. */
  const removeChild = (frame: Frame, node: TreeNode): void => {
    frame.children.splice(frame.children.indexOf(node), 1);
    frame.names.delete(node.name);
  };
  /** `work` completes a child of `frame`; the frame's tree waits for it. */
  const awaitChild = (frame: Frame, work: Promise<void>): void => {
    // Awaited by the frame; a failure before then (an abort) must not go unhandled.
    work.catch(() => undefined);
    frame.pending.push(work);
  };
  const storeTree = async (frame: Frame): Promise<string> => {
    await Promise.all(frame.pending);
    const data = encodeTree(frame.children);
    const id = blobId(deps.idKey, data);
    await writer.save('tree', id, [data]);
    return id;
  };
  const closeFrame = (frame: Frame, parent: Frame): void => {
    // In its place among the parent's children now; its subtree id once its own children settle.
    const node: TreeNode = { ...frame.node };
    addChild(parent, node, frame.segments.join('/'));
    counts.dirs++;
    awaitChild(parent, storeTree(frame).then((id) => {
      node.subtree = id;
    }));
  };
  const directory = (name: string, mode = 0o755, mtime = now): TreeNode => ({ name, type: 'dir', mode, mtime, size: 0 });

  const root = openFrame(undefined, directory(''));
  const stack: Frame[] = [root];
  const top = (): Frame => stack[stack.length - 1]!;

  for (const source of sources) {
    const [sourceName] = splitEntryPath(source.name);
    if (root.names.has(sourceName!)) throw new RepositoryError('BAD_ENTRY', `two sources are named ${JSON.stringify(source.name)}; give each a unique name`);
    stack.push(openFrame(root, directory(sourceName!)));
    const entries = typeof source.entries === 'function' ? source.entries(warn) : source.entries;
    const unchanged = async (segments: string[], entry: SourceEntry): Promise<boolean> =>
      isUnchanged(await parents.node(segments), entry, deps.index);
    for await (const { entry, segments, prefetched } of readAhead(entries, sourceName!, unchanged)) {
      throwIfAborted(options.signal);
      currentPath = segments.join('/');
      const dirSegments = segments.slice(0, -1);
      // Leave the directories this entry is not inside; they are complete.
      while (stack.length > 1 && !isPrefix(top().segments, dirSegments)) {
        const done = stack.pop()!;
        closeFrame(done, top());
      }
      if (stack.length === 1) throw outOfOrder(currentPath);
      // Directories a source did not list explicitly are created with default metadata.
      for (let depth = top().segments.length; depth < dirSegments.length; depth++) {
        const name = dirSegments[depth]!;
        if (top().names.has(name)) throw outOfOrder(currentPath);
        stack.push(openFrame(top(), directory(name)));
      }
      const name = segments[segments.length - 1]!;
      const node = toNode(name, entry);
      if (entry.type === 'dir') {
        if (top().names.has(name)) throw outOfOrder(currentPath);
        stack.push(openFrame(top(), node));
        continue;
      }
      if (entry.type === 'file') {
        const before = await parents.node(segments);
        if (isUnchanged(before, entry, deps.index)) {
          node.content = before!.content!;
          counts.filesUnchanged++;
          counts.bytesTotal += node.size;
        } else {
          const file: FileToStore = { before, node, path: currentPath };
          const stored = entry.openFile && deps.chunker.rules.max <= FILE_CHUNK_MAX
            ? await storeOpenFile(storing, file, entry.openFile)
            : await storeFile(storing, file, entry, prefetched);
          if (!stored) continue;
          const frame = top();
          awaitChild(frame, stored.content.then((kept) => {
            if (!kept) removeChild(frame, node);
          }));
        }
      }
      addChild(top(), node, currentPath);
      progress.maybe();
    }
    while (stack.length > 1) {
      const done = stack.pop()!;
      closeFrame(done, top());
    }
  }
  const tree = await storeTree(root);
  progress.final();
  return { tree, summary: { ...counts, warnings: warnings.length, complete: warnings.length === 0 }, warnings };
}

/**
 * Stores a file's content from its stream. False: unreadable, skipped with a warning. Content
 * already in the repository is never compressed: a chunk is hashed first (large ones on a
 * worker), and only new ones are compressed there, then sealed into their pack. `content` settles
 * once the node has its chunk list: the walk goes on meanwhile.
 */
async function storeFile(
  { deps, counts, warn, signal }: Storing,
  { before, node, path }: FileToStore,
  entry: SourceEntry,
  prefetched: Promise<Prefetched> | undefined,
): Promise<false | { content: Promise<boolean> }> {
  if (!entry.open) throw new RepositoryError('BAD_ENTRY', `the source gave no way to read file ${JSON.stringify(path)}`);
  // Ids arrive as the workers hash the chunks, while the next ones are read and cut.
  const ids: Array<Promise<string>> = [];
  let size = 0;
  try {
    const input = prefetched ? replay(prefetched) : readGuarded(entry.open);
    for await (const chunk of chunkStream(deps.chunker, input)) {
      throwIfAborted(signal);
      ids.push((await deps.writer.saveChunk(chunk.parts, chunk.length)).id);
      size += chunk.length;
    }
  } catch (error) {
    if (!(error instanceof SourceReadFailure)) throw error;
    deps.chunker.finish(); // drop what was buffered of this file
    warn(unreadable(path, error.cause));
    return false;
  }
  countStored(counts, before, node, size);
  return {
    content: Promise.all(ids).then((list) => {
      node.content = list;
      return true;
    }),
  };
}

/**
 * Stores a file the source opened as a descriptor: a worker reads and stores it while the walk goes
 * on. `content` settles with true once the node has its chunk list, or false when the file could
 * not be read after all (warned about; the caller leaves it out). False: not even opened.
 */
async function storeOpenFile(
  { deps, counts, warn, signal, onProgress }: Storing,
  { before, node, path }: FileToStore,
  openFile: NonNullable<SourceEntry['openFile']>,
): Promise<false | { content: Promise<boolean> }> {
  let fd: number;
  try {
    fd = await openFile();
  } catch (error) {
    if (error instanceof CairnError && error.code === 'ABORTED') throw error;
    warn(unreadable(path, error));
    return false;
  }
  // Bytes counted while the worker reads on, so that a large file moves the progress; the
  // outcome then counts the file whole, or not at all.
  let counted = 0;
  const count = (bytes: number): void => {
    counts.bytesRead += bytes;
    counts.bytesTotal += bytes;
    counted += bytes;
  };
  const onRead = (read: number): void => {
    count(read - counted);
    onProgress();
  };
  let queued;
  try {
    queued = await deps.writer.saveFile(fd, { rules: deps.chunker.rules, size: node.size, onRead });
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  const content = queued.outcome.finally(() => closeSync(fd)).then((outcome) => {
    count(-counted);
    if ('aborted' in outcome) {
      throwIfAborted(signal); // with the reason whoever aborted gave
      throw new AbortedError('the backup stopped while this file was read');
    }
    if ('unreadable' in outcome) {
      warn({ path, message: `cannot read ${path} (${outcome.unreadable.code})`, code: 'SOURCE_UNREADABLE' });
      return false;
    }
    node.content = outcome.ids;
    countStored(counts, before, node, outcome.size);
    onProgress(); // also for files that end after the walk has
    return true;
  });
  return { content };
}

/** What storing any file of a walk needs: where to, what to count, whom to warn, when to stop. */
interface Storing {
  deps: BackupDeps;
  counts: Counts;
  warn: (warning: BackupWarning) => void;
  signal: AbortSignal | undefined;
  onProgress: () => void;
}

/** One file to store: its node in the parent snapshot (if any), its new node, and its path. */
interface FileToStore {
  before: TreeNode | undefined;
  node: TreeNode;
  path: string;
}

/** A file read to its end, `size` bytes: new, or changed since the parent snapshot. */
function countStored(counts: Counts, before: TreeNode | undefined, node: TreeNode, size: number): void {
  node.size = size;
  counts.bytesRead += size;
  counts.bytesTotal += size;
  if (before?.type === 'file') counts.filesChanged++;
  else counts.filesNew++;
}

/** The warning for a file the source could not open or read, with the source's own words and code. */
function unreadable(path: string, cause: unknown): BackupWarning {
  const { message, code } = (cause ?? {}) as { message?: string; code?: string };
  return { path, message: `cannot read ${path}: ${message ?? String(cause)}`, code: code ?? 'SOURCE_UNREADABLE' };
}

interface Counts {
  filesNew: number;
  filesChanged: number;
  filesUnchanged: number;
  bytesRead: number;
  bytesTotal: number;
}

/** Marks errors raised by the source while reading, so they become warnings rather than failures. */
class SourceReadFailure extends Error {}

async function* readGuarded(open: NonNullable<SourceEntry['open']>): AsyncGenerator<Uint8Array> {
  let failure: unknown;
  try {
    for await (const part of await open()) yield part;
    return;
  } catch (error) {
    if (error instanceof CairnError && error.code === 'ABORTED') throw error;
    failure = error;
  }
  throw new SourceReadFailure('source read failed', { cause: failure });
}


type Prefetched = { parts: Uint8Array[] } | { error: unknown };

/** Files up to this size are read ahead whole, while earlier files are still being chunked. */
const PREFETCH_MAX_FILE = 4 * 1024 * 1024;
const PREFETCH_MAX_BYTES = 16 * 1024 * 1024;
const PREFETCH_MAX_ENTRIES = 128;

/**
 * Pulls entries ahead of the backup loop and starts reading small files that will need reading,
 * so the many round trips of opening and reading small files overlap instead of adding up.
 * Order is preserved; memory is bounded by PREFETCH_MAX_BYTES.
 */
async function* readAhead(
  entries: AsyncIterable<SourceEntry>,
  sourceName: string,
  unchanged: (segments: string[], entry: SourceEntry) => Promise<boolean>,
): AsyncGenerator<{ entry: SourceEntry; segments: string[]; prefetched?: Promise<Prefetched> }> {
  const iterator = entries[Symbol.asyncIterator]();
  const queue: Array<{ entry: SourceEntry; segments: string[]; prefetched?: Promise<Prefetched> }> = [];
  let bytes = 0;
  let done = false;
  try {
    for (;;) {
      while (!done && queue.length < PREFETCH_MAX_ENTRIES && bytes < PREFETCH_MAX_BYTES) {
        const next = await iterator.next();
        if (next.done) {
          done = true;
          break;
        }
        const entry = next.value;
        const segments = [sourceName, ...splitEntryPath(entry.path)];
        const small = entry.type === 'file' && entry.open !== undefined && !entry.openFile && entry.size <= PREFETCH_MAX_FILE;
        if (small && !(await unchanged(segments, entry))) {
          bytes += entry.size;
          queue.push({ entry, segments, prefetched: readWhole(entry.open!) });
        } else {
          queue.push({ entry, segments });
        }
      }
      const item = queue.shift();
      if (!item) return;
      if (item.prefetched) bytes -= item.entry.size;
      yield item;
    }
  } finally {
    await iterator.return?.();
  }
}

async function readWhole(open: NonNullable<SourceEntry['open']>): Promise<Prefetched> {
  try {
    const parts: Uint8Array[] = [];
    for await (const part of await open()) parts.push(part);
    return { parts };
  } catch (error) {
    return { error };
  }
}

async function* replay(prefetched: Promise<Prefetched>): AsyncGenerator<Uint8Array> {
  const result = await prefetched;
  if ('error' in result) {
    if (result.error instanceof CairnError && result.error.code === 'ABORTED') throw result.error;
    throw new SourceReadFailure('source read failed', { cause: result.error });
  }
  yield* result.parts;
}

function toNode(name: string, entry: SourceEntry): TreeNode {
  const node: TreeNode = { name, type: entry.type, mode: entry.mode, mtime: entry.mtimeMs, size: entry.type === 'file' ? entry.size : 0 };
  if (entry.changeKey !== undefined) node.key = entry.changeKey;
  if (entry.type === 'symlink') node.target = entry.linkTarget ?? '';
  if (entry.metadata && Object.keys(entry.metadata).length > 0) node.meta = entry.metadata;
  return node;
}

function isPrefix(prefix: string[], path: string[]): boolean {
  return prefix.length <= path.length && prefix.every((segment, i) => segment === path[i]);
}

function outOfOrder(path: string): RepositoryError {
  return new RepositoryError('BAD_ENTRY', `a source yielded ${JSON.stringify(path)} after leaving its directory: entries must be depth-first`);
}

function throttle<T>(callback: ((value: T) => void) | undefined, snapshot: () => T, intervalMs = 100) {
  let last = 0;
  return {
    maybe(): void {
      if (!callback) return;
      const now = Date.now();
      if (now - last < intervalMs) return;
      last = now;
      callback(snapshot());
    },
    final(): void {
      callback?.(snapshot());
    },
  };
}
