import type { BigIntStats } from 'node:fs';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { lstat, open, readdir, readlink, stat, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { AbortedError, SourceError, throwIfAborted } from '@cairn/core';
import type { SourceBackupContext, SourceEntry } from '@cairn/core';

export interface WalkOptions {
  root: string;
  excluded: (relPath: string, isDir: boolean) => boolean;
  followSymlinks: boolean;
  oneFileSystem: boolean;
}

const READ_CHUNK = 1024 * 1024;
/** Read after the size stat reported, to notice a file that grew. */
const GROWTH_PROBE = 16 * 1024;

/**
 * Depth-first walk of `root`, names sorted by their UTF-8 bytes so that walks are reproducible.
 * The root itself is not an entry; a file given as the root becomes the one entry.
 */
export async function* walkTree(options: WalkOptions, ctx: SourceBackupContext): AsyncGenerator<SourceEntry> {
  const { root } = options;
  let rootStat: BigIntStats;
  try {
    rootStat = await stat(root, { bigint: true });
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new SourceError('SOURCE_NOT_FOUND', `path not found: ${root}: check the path to back up`, { plugin: 'files', cause: error });
    throw new SourceError('SOURCE_UNREADABLE', `cannot read ${root} (${code})`, { plugin: 'files', cause: error });
  }
  if (!rootStat.isDirectory()) {
    const entry = toEntry(basename(root), root, rootStat, options, ctx);
    if (entry) yield entry;
    return;
  }
  const names = await listDir(root);
  yield* walkDir(root, '', names, rootStat.dev, options, ctx);
}

/** Names stat'ed at once: each stat waits on the thread pool, so one at a time leaves the disk idle. */
const STAT_BATCH = 64;

async function* walkDir(absDir: string, relDir: string, names: string[], rootDev: bigint, options: WalkOptions, ctx: SourceBackupContext): AsyncGenerator<SourceEntry> {
  let batch: Array<PromiseSettledResult<BigIntStats>> = [];
  for (const [i, name] of names.entries()) {
    throwIfAborted(ctx.signal);
    if (i % STAT_BATCH === 0) {
      batch = await Promise.allSettled(names.slice(i, i + STAT_BATCH).map((n) => statEntry(`${absDir}/${n}`, options.followSymlinks)));
    }
    const rel = relDir ? `${relDir}/${name}` : name;
    const abs = `${absDir}/${name}`;
    const result = batch[i % STAT_BATCH]!;
    let info: BigIntStats;
    try {
      if (result.status === 'rejected') throw result.reason;
      info = result.value;
    } catch (error) {
      if (errorCode(error) === 'ENOENT' && name.includes('\uFFFD')) {
        // readdir() decoded a name that is not valid UTF-8 lossily, so the decoded name does not exist.
        ctx.warn(rel, `cannot back up ${abs}: its name is not valid UTF-8`, 'SOURCE_UNREADABLE');
      } else if (errorCode(error) === 'ENOENT') {
        ctx.logger.debug(`skipped ${abs}: deleted during the backup`);
      } else {
        ctx.warn(rel, `cannot stat ${abs} (${errorCode(error)})`, 'SOURCE_UNREADABLE');
      }
      continue;
    }
    if (options.excluded(rel, info.isDirectory())) continue;
    if (!info.isDirectory()) {
      const entry = await toEntryWithLink(rel, abs, info, options, ctx);
      if (entry) yield entry;
      continue;
    }
    const crossesDevice = options.oneFileSystem && info.dev !== rootDev;
    let children: string[] = [];
    if (!crossesDevice) {
      try {
        children = await listDir(abs);
      } catch (error) {
        if (errorCode(error) === 'ENOENT') continue;
        ctx.warn(rel, `cannot read directory ${abs} (${errorCode(error)}); it is left out`, 'SOURCE_UNREADABLE');
        continue;
      }
    }
    yield dirEntry(rel, info);
    // A mount point stays as an empty directory, like `restic --one-file-system`.
    if (children.length > 0) yield* walkDir(abs, rel, children, rootDev, options, ctx);
  }
}

/** Names sorted by their UTF-8 bytes (not by UTF-16 code units, which order some characters differently). */
async function listDir(abs: string): Promise<string[]> {
  const names = await readdir(abs);
  return names
    .map((name) => ({ name, key: Buffer.from(name) }))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map((n) => n.name);
}

async function statEntry(abs: string, followSymlinks: boolean): Promise<BigIntStats> {
  const own = await lstat(abs, { bigint: true });
  if (!followSymlinks || !own.isSymbolicLink()) return own;
  try {
    return await stat(abs, { bigint: true });
  } catch {
    return own; // dangling: kept as the symlink it is
  }
}

async function toEntryWithLink(rel: string, abs: string, info: BigIntStats, options: WalkOptions, ctx: SourceBackupContext): Promise<SourceEntry | undefined> {
  if (!info.isSymbolicLink()) return toEntry(rel, abs, info, options, ctx);
  try {
    return { ...base(rel, info, 'symlink'), linkTarget: await readlink(abs) };
  } catch (error) {
    ctx.warn(rel, `cannot read symlink ${abs} (${errorCode(error)})`, 'SOURCE_UNREADABLE');
    return undefined;
  }
}

function toEntry(rel: string, abs: string, info: BigIntStats, options: WalkOptions, ctx: SourceBackupContext): SourceEntry | undefined {
  if (info.isFile()) {
    return {
      ...base(rel, info, 'file'),
      size: Number(info.size),
      changeKey: `${info.dev}:${info.ino}`,
      open: () => (info.size <= SMALL_FILE ? readSmallFile(abs, options.followSymlinks) : readFile(abs, options.followSymlinks, ctx.signal)),
      openFile: () => openRegularFile(abs, options.followSymlinks),
    };
  }
  const kind = info.isSocket() ? 'socket' : info.isFIFO() ? 'FIFO' : info.isCharacterDevice() || info.isBlockDevice() ? 'device' : 'special file';
  ctx.warn(rel, `skipped ${abs}: a ${kind} cannot be backed up`, 'SOURCE_UNSUPPORTED_TYPE');
  return undefined;
}

function dirEntry(rel: string, info: BigIntStats): SourceEntry {
  return base(rel, info, 'dir');
}

function base(rel: string, info: BigIntStats, type: SourceEntry['type']): SourceEntry {
  // Rounded to microseconds: exact in a double (nanoseconds since 1970 are not), and stable through
  // a restore, whose utimes() takes seconds as a double and lands a few nanoseconds off.
  return { path: rel, type, mode: Number(info.mode & 0o7777n), mtimeMs: Number((info.mtimeNs + 500n) / 1000n) / 1000, size: 0 };
}

/** Files up to this size are read with blocking calls (see readSmallFile). */
const SMALL_FILE = 256n * 1024n;

/**
 * Opens a file for the repository to read on a worker thread, with the flags and check of
 * readFile. A blocking open and fstat cost a few microseconds, less than a trip through the pool.
 */
function openRegularFile(abs: string, followSymlinks: boolean): number {
  let fd: number | undefined;
  try {
    fd = openSync(abs, readFlags(followSymlinks));
    if (!fstatSync(fd).isFile()) throw Object.assign(new Error('not a regular file any more'), { code: 'ENOTREG' });
    return fd;
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    throw new SourceError('SOURCE_UNREADABLE', `cannot read ${abs} (${errorCode(error)})`, { plugin: 'files', cause: error });
  }
}

/**
 * O_NOFOLLOW: a file swapped for a symlink after the walk must not pull in what it points to;
 * O_NONBLOCK: one swapped for a FIFO must not hang the open (the fstat check then refuses it).
 */
function readFlags(followSymlinks: boolean): number {
  return constants.O_RDONLY | constants.O_NONBLOCK | (followSymlinks ? 0 : constants.O_NOFOLLOW);
}

/**
 * Reads a small file with blocking calls: four syscalls of a few microseconds cost less than four
 * trips through the thread pool, and most files are small. Same flags and checks as readFile.
 */
async function* readSmallFile(abs: string, followSymlinks: boolean): AsyncGenerator<Uint8Array> {
  const flags = readFlags(followSymlinks);
  let fd: number | undefined;
  try {
    fd = openSync(abs, flags);
    const info = fstatSync(fd);
    if (!info.isFile()) throw Object.assign(new Error('not a regular file any more'), { code: 'ENOTREG' });
    // One byte more than stat reported proves the end in one read; a file that grew is read on.
    for (let want = info.size + 1; ; want = GROWTH_PROBE) {
      const buffer = Buffer.allocUnsafe(want);
      const bytesRead = readSync(fd, buffer, 0, want, null);
      if (bytesRead > 0) yield bytesRead === want ? buffer : buffer.subarray(0, bytesRead);
      if (bytesRead < want) break;
    }
  } catch (error) {
    throw new SourceError('SOURCE_UNREADABLE', `cannot read ${abs} (${errorCode(error)})`, { plugin: 'files', cause: error });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Streams a file. Read errors (gone, unreadable) become SourceError SOURCE_UNREADABLE, which the
 * repository counts as a warning; they can only surface here, when the content is actually read.
 */
async function* readFile(abs: string, followSymlinks: boolean, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const flags = readFlags(followSymlinks);
  let handle: FileHandle | undefined;
  try {
    handle = await open(abs, flags);
    const info = await handle.stat();
    if (!info.isFile()) throw Object.assign(new Error('not a regular file any more'), { code: 'ENOTREG' });
    // Buffers sized to what is left, fresh for each read (the consumer keeps them): a small file
    // costs one small allocation, not a stream's full high-water mark. The last read asks for one
    // byte more than stat reported, so a short read proves the end without another round trip,
    // and a file that grew meanwhile is read to its new end.
    let remaining = Number(info.size);
    for (;;) {
      if (signal.aborted) throw new AbortedError(undefined, { cause: signal.reason });
      const want = remaining >= READ_CHUNK ? READ_CHUNK : remaining > 0 ? remaining + 1 : GROWTH_PROBE;
      const buffer = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(buffer, 0, want, null);
      if (bytesRead > 0) yield bytesRead === want ? buffer : buffer.subarray(0, bytesRead);
      if (bytesRead < want) break;
      remaining = Math.max(0, remaining - bytesRead);
    }
  } catch (error) {
    if (error instanceof AbortedError) throw error;
    throw new SourceError('SOURCE_UNREADABLE', `cannot read ${abs} (${errorCode(error)})`, { plugin: 'files', cause: error });
  } finally {
    await handle?.close().catch(() => undefined); // closing a read-only handle cannot lose data
  }
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? String(error);
}
