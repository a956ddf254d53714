import { lstat, mkdir, readdir, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { HttpError } from './http.js';

/**
 * Checks a request's `targetDir`, a path relative to the server's restore folder, and creates
 * nothing: a 400 unless it stays inside `restoreDir`, a 409 when it already holds something (a
 * restore into a folder never touches what exists) or cannot be a folder (a file in the way).
 * An existing empty folder is fine. Run it before anything with side effects (the rate limit),
 * then {@link createRestoreTarget} last.
 *
 * A restore writes files wherever it is pointed, so without this an admin token could write
 * anywhere the server may (`~/.ssh`), over what is there. Symlinks count: one that already exists
 * inside the folder (an earlier restore may have planted it) must not lead out of it.
 */
export async function checkRestoreTarget(restoreDir: string, requested: string): Promise<void> {
  const { root, target } = place(restoreDir, requested);
  const realRoot = await realpath(root).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  // No restore folder yet: nothing is inside it, and createRestoreTarget makes it.
  if (realRoot === undefined) return;
  // The deepest part that exists already decides where the rest would be created.
  const existing = await realpathOfExisting(target, root);
  if (existing === undefined || !isInside(realRoot, existing)) throw outside(root);
  let names: string[];
  try {
    names = await readdir(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw unwritable(target, code);
  }
  // It exists, so `existing` is its own real path: a symlink to the restore folder itself is no folder inside it.
  if (existing === realRoot) throw outside(root);
  if (names.length > 0) throw notEmpty(root, relative(root, target), await freeName(root, relative(root, target)));
}

/**
 * Creates the folder {@link checkRestoreTarget} accepted, checking it all again (something may
 * have changed since), and returns its real path: the absolute folder the restore writes into.
 */
export async function createRestoreTarget(restoreDir: string, requested: string): Promise<string> {
  await checkRestoreTarget(restoreDir, requested);
  const { root, target } = place(restoreDir, requested);
  await mkdir(root, { recursive: true, mode: 0o700 });
  // Created here rather than by the restore, after the repository is open: a symlink planted in
  // between by a concurrent restore would otherwise be followed. A restore never turns a directory
  // into a symlink, so the real path checked here stays the one written into.
  try {
    await mkdir(target, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw unwritable(target, (error as NodeJS.ErrnoException).code);
  }
  const realRoot = await realpath(root);
  const realTarget = await realpath(target);
  if (!isInside(realRoot, realTarget) || realTarget === realRoot) throw outside(root);
  return realTarget;
}

/** The answer when a restore of this server is writing into the folder already (it may be empty still). */
export function folderInUse(restoreDir: string, requested: string, runId: string): HttpError {
  const name = relative(resolve(restoreDir), resolve(restoreDir, requested));
  return new HttpError(409, 'RESTORE_FOLDER_NOT_EMPTY', `the folder ${name} is being restored into by run ${runId}; choose another name`);
}

/** The answer to a restore into a folder when the server was given none. */
export function noRestoreFolder(): HttpError {
  return new HttpError(409, 'NO_RESTORE_FOLDER', 'this server was started without a restore folder (restoreDir), so it restores into live systems (`to`) only; start it with one to restore into a folder');
}

/** The absolute restore folder and the folder asked for inside it; a 400 for a path that leaves it on its face. */
function place(restoreDir: string, requested: string): { root: string; target: string } {
  const root = resolve(restoreDir);
  const target = resolve(root, requested);
  if (isAbsolute(requested) || requested.split('/').includes('..') || !isInside(root, target) || target === root) throw outside(root);
  return { root, target };
}

/** The real path of `path`'s deepest ancestor that exists (`path` itself if it does), up to `root`; undefined for a symlink that does not resolve. */
async function realpathOfExisting(path: string, root: string): Promise<string | undefined> {
  for (let current = path; ; current = dirname(current)) {
    try {
      return await realpath(current);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') return undefined;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || current === root) throw error;
      // Something is there yet does not resolve: a dangling symlink, whose target a mkdir would create.
      if (await lstat(current).then(() => true, () => false)) return undefined;
    }
  }
}

/** `name-2`, `name-3`…: the first that does not exist in the restore folder, to suggest instead of `name`. */
async function freeName(root: string, name: string): Promise<string | undefined> {
  for (let n = 2; n < 100; n++) {
    const candidate = `${name}-${n}`;
    if (!(await lstat(join(root, candidate)).then(() => true, () => false))) return candidate;
  }
  return undefined;
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`));
}

function outside(root: string): HttpError {
  return new HttpError(400, 'RESTORE_OUTSIDE_FOLDER', `targetDir must be a folder inside the restore folder ${root}, as a relative path (like restore-2026-11-22-10-00): not absolute, without ".." segments, not through a symlink leading out`);
}

function notEmpty(root: string, name: string, suggestion: string | undefined): HttpError {
  return new HttpError(409, 'RESTORE_FOLDER_NOT_EMPTY', `the folder ${name} in the restore folder ${root} already holds files, and a restore never writes over what exists: choose another name${suggestion ? `, like ${suggestion}` : ''}`);
}

function unwritable(target: string, code: string | undefined): HttpError {
  return new HttpError(409, 'RESTORE_UNWRITABLE', `cannot create the folder ${target} (${code ?? 'failed'}): something that is not a folder may be in the way; choose another name`);
}
