import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, futimesSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, rmdir, symlink, unlink, lutimes } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { RestoreEntry } from '@cairn/repository';
import type { RestoreResult } from './contracts.js';
import { CairnError, SourceError, throwIfAborted } from './errors.js';

export interface WriteToDirectoryOptions {
  signal?: AbortSignal;
  onProgress?: (progress: { filesDone: number; bytesDone: number }) => void;
  /** Replace files, symlinks (and a symlink where a directory belongs) that already exist. Default true. */
  overwrite?: boolean;
}

const FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** Report progress inside a large file this often, not only between files. */
const PROGRESS_EVERY_BYTES = 8 * 1024 * 1024;
/** Files written at once: each waits on storage and the thread pool, so one at a time leaves both idle. */
const PARALLEL_FILES = 6;

/**
 * Writes restored entries into `targetDir`, never outside it, whatever the entries hold.
 *
 * Why it is safe: every path is checked to be relative and free of `.`/`..`/empty segments; every
 * parent of a written node is lstat-ed to be a real directory (never a symlink); files are opened
 * with O_NOFOLLOW; symlinks are created only after every file and directory, so no write can go
 * through one the snapshot itself planted. Directory modes and times are set last, deepest first,
 * so a read-only directory does not block its own contents. Any error throws: a partial restore
 * is never reported as a success.
 */
export async function writeEntriesToDirectory(
  entries: AsyncIterable<RestoreEntry>,
  targetDir: string,
  options: WriteToDirectoryOptions = {},
): Promise<RestoreResult> {
  const { signal, onProgress } = options;
  const root = await prepareTargetDir(targetDir);
  const writer = new TreeWriter(root, options.overwrite ?? true);
  const result: RestoreResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const dirsToFinish: Array<Pick<RestoreEntry, 'path' | 'mode' | 'mtimeMs'>> = [];
  const symlinksToCreate: RestoreEntry[] = [];

  const writing = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const settleOne = async (): Promise<void> => {
    await Promise.race(writing);
    if (failure) throw failure.error;
  };

  try {
    throwIfAborted(signal);
    for await (const entry of entries) {
      throwIfAborted(signal);
      if (failure) throw failure.error;
      const segments = checkEntryPath(entry.path);
      switch (entry.type) {
        case 'dir':
          await writer.makeDir(segments);
          dirsToFinish.push({ path: entry.path, mode: entry.mode, mtimeMs: entry.mtimeMs });
          result.dirs++;
          break;
        case 'file': {
          if (writing.size >= PARALLEL_FILES) await settleOne();
          let unreported = 0;
          const written = writer
            .writeFile(segments, entry, signal, (n) => {
              result.bytes += n;
              unreported += n;
              if (onProgress && unreported >= PROGRESS_EVERY_BYTES) {
                unreported = 0;
                onProgress({ filesDone: result.files, bytesDone: result.bytes });
              }
            })
            .then(
              () => {
                result.files++;
                onProgress?.({ filesDone: result.files, bytesDone: result.bytes });
              },
              (error: unknown) => {
                failure ??= { error };
              },
            )
            .finally(() => writing.delete(written));
          writing.add(written);
          break;
        }
        case 'symlink':
          if (typeof entry.linkTarget !== 'string' || entry.linkTarget.includes('\0')) {
            throw unsafe(entry.path, 'is a symlink without a valid target');
          }
          writer.reserveSymlink(segments);
          symlinksToCreate.push(entry);
          break;
        default:
          throw unsafe(entry.path, `has an unknown entry type ${JSON.stringify((entry as { type: unknown }).type)}`);
      }
    }
  } catch (error) {
    // Nothing may still be writing once this function has returned, even when it failed.
    await Promise.allSettled(writing);
    throw error;
  }
  await Promise.all(writing);
  if (failure) throw failure.error;

  for (const entry of symlinksToCreate) {
    throwIfAborted(signal);
    await writer.makeSymlink(entry.path.split('/'), entry.linkTarget!, entry.mtimeMs);
    result.symlinks++;
  }

  dirsToFinish.sort((a, b) => depth(b.path) - depth(a.path));
  for (const entry of dirsToFinish) {
    throwIfAborted(signal);
    await writer.finishDir(entry.path.split('/'), entry.mode, entry.mtimeMs);
  }
  return result;
}

/** Creates the target directory if needed and returns its real path. */
async function prepareTargetDir(targetDir: string): Promise<string> {
  const absolute = resolve(targetDir);
  try {
    await mkdir(absolute, { recursive: true });
    const real = await realpath(absolute);
    // A throw-away probe is the only reliable writability test: access(W_OK) lies for root and on read-only mounts.
    const probe = `${real}/.cairn-restore-probe-${process.pid}-${Date.now()}`;
    await (await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)).close();
    await unlink(probe);
    return real;
  } catch (error) {
    throw new SourceError('RESTORE_UNWRITABLE', `cannot write to restore directory ${absolute} (${errorCode(error)}): choose a writable directory`, { cause: error });
  }
}

/** Splits and validates an entry path; anything that could name a place outside the target is refused. */
function checkEntryPath(path: unknown): string[] {
  if (typeof path !== 'string' || path.length === 0) throw unsafe(String(path), 'is empty');
  if (path.includes('\0')) throw unsafe(path, 'contains a NUL byte');
  if (path.startsWith('/')) throw unsafe(path, 'is absolute');
  if (process.platform === 'win32' && /[\\:]/.test(path)) throw unsafe(path, 'contains a backslash or colon');
  const segments = path.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') throw unsafe(path, 'contains an empty, "." or ".." segment');
  }
  return segments;
}

/** Keeps track of what this restore has created, so that nothing is ever written through a symlink. */
class TreeWriter {
  /** Relative paths known to be real directories (created or lstat-ed by us). */
  private readonly dirs = new Set<string>();
  /** Relative paths where a symlink will be created at the end: nothing may be written at or under them. */
  private readonly symlinks = new Set<string>();

  constructor(private readonly root: string, private readonly overwrite: boolean) {}

  private abs(segments: string[]): string {
    return `${this.root}/${segments.join('/')}`;
  }

  async makeDir(segments: string[]): Promise<void> {
    await this.ensureParents(segments);
    const rel = segments.join('/');
    if (this.dirs.has(rel)) return;
    if (this.symlinks.has(rel)) throw unsafe(rel, 'appears both as a symlink and as a directory');
    const abs = this.abs(segments);
    const existing = await lstatOrUndefined(abs);
    if (existing && !existing.isDirectory()) {
      // Replacing a symlink removes only the link, never what it points to.
      if (!this.overwrite) throw new SourceError('RESTORE_UNWRITABLE', `cannot restore directory ${abs}: something else exists there (overwrite is off)`);
      await fsCall(abs, () => unlink(abs));
    }
    if (!existing || !existing.isDirectory()) await this.mkdirFresh(abs);
    this.dirs.add(rel);
  }

  async writeFile(segments: string[], entry: RestoreEntry, signal: AbortSignal | undefined, onBytes: (n: number) => void): Promise<void> {
    await this.ensureParents(segments);
    const rel = segments.join('/');
    if (this.symlinks.has(rel)) throw unsafe(rel, 'appears both as a symlink and as a file');
    if (this.dirs.has(rel)) throw unsafe(rel, 'appears both as a directory and as a file');
    const abs = this.abs(segments);
    const { fd, temp } = this.openFile(abs);
    let complete = false;
    try {
      if (entry.writeFile) {
        // The repository's workers write the content straight into the file.
        try {
          await entry.writeFile(fd, { signal, onBytes });
        } catch (error) {
          throw error instanceof CairnError ? error : toUnwritable(abs, error);
        }
      } else {
        // Each chunk is written out before the next is read, so its memory can be reused.
        for await (const chunk of entry.open({ reuseChunks: true })) {
          throwIfAborted(signal);
          fsSync(abs, () => {
            for (let offset = 0; offset < chunk.byteLength; ) offset += writeSync(fd, chunk, offset, chunk.byteLength - offset);
          });
          onBytes(chunk.byteLength);
        }
      }
      // Through the descriptor, not the path: a path-based chmod/utimes would follow a symlink.
      const seconds = entry.mtimeMs / 1000;
      fsSync(abs, () => {
        fchmodSync(fd, entry.mode & 0o7777);
        futimesSync(fd, seconds, seconds);
      });
      complete = true;
    } finally {
      closeSync(fd);
      if (!complete) removeHalfWritten(temp ?? abs);
    }
    if (temp) await this.replace(abs, temp);
  }

  reserveSymlink(segments: string[]): void {
    const rel = segments.join('/');
    if (this.symlinks.has(rel)) throw unsafe(rel, 'appears twice as a symlink');
    if (this.dirs.has(rel)) throw unsafe(rel, 'appears both as a directory and as a symlink');
    this.symlinks.add(rel);
  }

  async makeSymlink(segments: string[], linkTarget: string, mtimeMs: number): Promise<void> {
    await this.ensureParents(segments);
    const abs = this.abs(segments);
    const existing = await lstatOrUndefined(abs);
    if (existing) {
      if (existing.isDirectory()) throw unsafe(segments.join('/'), 'is a symlink in the snapshot but a directory on disk');
      if (!this.overwrite) throw new SourceError('RESTORE_UNWRITABLE', `cannot restore symlink ${abs}: a file exists there (overwrite is off)`);
      await fsCall(abs, () => unlink(abs));
    }
    await fsCall(abs, () => symlink(linkTarget, abs));
    const seconds = mtimeMs / 1000;
    await fsCall(abs, () => lutimes(abs, seconds, seconds));
  }

  async finishDir(segments: string[], mode: number, mtimeMs: number): Promise<void> {
    const abs = this.abs(segments);
    // O_NOFOLLOW|O_DIRECTORY: the handle can only be the real directory we created.
    const handle = await fsCall(abs, () => open(abs, DIR_FLAGS));
    try {
      await fsCall(abs, () => handle.chmod(mode & 0o7777));
      const seconds = mtimeMs / 1000;
      await fsCall(abs, () => handle.utimes(seconds, seconds));
    } finally {
      await handle.close();
    }
  }

  /** Makes sure every parent of `segments` inside the root is a real directory, creating missing ones. */
  private async ensureParents(segments: string[]): Promise<void> {
    for (let i = 1; i < segments.length; i++) {
      const rel = segments.slice(0, i).join('/');
      if (this.dirs.has(rel)) continue;
      if (this.symlinks.has(rel)) throw unsafe(segments.join('/'), `goes through the symlink ${rel}`);
      const abs = this.abs(segments.slice(0, i));
      const existing = await lstatOrUndefined(abs);
      if (!existing) await this.mkdirFresh(abs);
      else if (existing.isSymbolicLink()) throw unsafe(segments.join('/'), `goes through the symlink ${abs} that exists in the restore directory; remove it or restore elsewhere`);
      else if (!existing.isDirectory()) throw new SourceError('RESTORE_UNWRITABLE', `cannot restore into ${abs}: it exists and is not a directory`);
      this.dirs.add(rel);
    }
  }

  private async mkdirFresh(abs: string): Promise<void> {
    // Owner-only until finishDir sets the snapshot's mode, and never `recursive` (that would follow symlinks).
    await fsCall(abs, () => mkdir(abs, { mode: 0o700 }));
  }

  /**
   * Opens a new file at `abs`. When something is already there (and overwrite is on), the content
   * goes to a temporary name beside it instead and replaces it only once complete (see `replace`),
   * so a restore that fails half-way leaves the old file as it was, not truncated. Blocking calls:
   * a few microseconds each, less than a trip through the thread pool, and restores are mostly
   * small files.
   */
  private openFile(abs: string): { fd: number; temp?: string } {
    try {
      return { fd: openSync(abs, FILE_FLAGS | constants.O_EXCL, 0o600) };
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw toUnwritable(abs, error);
      if (!this.overwrite) throw new SourceError('RESTORE_UNWRITABLE', `cannot restore file ${abs}: something already exists there (overwrite is off)`, { cause: error });
    }
    const temp = `${abs.slice(0, abs.lastIndexOf('/') + 1)}.${abs.slice(abs.lastIndexOf('/') + 1)}.cairn-restore-${randomBytes(6).toString('hex')}`;
    try {
      return { fd: openSync(temp, FILE_FLAGS | constants.O_EXCL, 0o600), temp };
    } catch (error) {
      throw toUnwritable(temp, error);
    }
  }

  /** Renames the finished file over what was there: a file or a symlink (the link itself, never its target), or an empty directory. */
  private async replace(abs: string, temp: string): Promise<void> {
    try {
      await rename(temp, abs);
    } catch (error) {
      try {
        // A non-empty directory where the file belongs fails the rmdir with ENOTEMPTY.
        if (errorCode(error) !== 'EISDIR') throw error;
        await rmdir(abs);
        await rename(temp, abs);
      } catch (failure) {
        removeHalfWritten(temp);
        throw toUnwritable(abs, failure);
      }
    }
  }

}

/** A half-written file must not stay behind looking like a restored one. */
function removeHalfWritten(abs: string): void {
  try {
    unlinkSync(abs);
  } catch {
    // already gone, or not removable: the error being thrown is the one to report
  }
}

async function lstatOrUndefined(abs: string) {
  try {
    return await lstat(abs);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw toUnwritable(abs, error);
  }
}

/** As `fsCall`, for blocking calls. */
function fsSync(abs: string, call: () => void): void {
  try {
    call();
  } catch (error) {
    throw toUnwritable(abs, error);
  }
}

/** Runs a file-system call, turning its failure into a coded restore error naming the path. */
async function fsCall<T>(abs: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toUnwritable(abs, error);
  }
}

function toUnwritable(abs: string, error: unknown): SourceError {
  return new SourceError('RESTORE_UNWRITABLE', `cannot write ${abs} (${errorCode(error)})`, { cause: error });
}

function unsafe(path: string, why: string): SourceError {
  return new SourceError('RESTORE_UNSAFE_PATH', `refusing to restore ${JSON.stringify(path)}: it ${why}`);
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? String(error);
}

function depth(path: string): number {
  let n = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}
