import { AbortedError, TargetError } from '@cairn/core';

/** Turns a Node file-system error into a coded TargetError naming the path. */
export function toTargetError(error: unknown, path: string): Error {
  if (error instanceof TargetError || error instanceof AbortedError) return error;
  if ((error as Error | undefined)?.name === 'AbortError') return new AbortedError(undefined, { cause: error });
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return new TargetError('TARGET_NOT_FOUND', `not found: ${path}`, { plugin: 'local', cause: error });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new TargetError('TARGET_PERMISSION', `permission denied on ${path} (${code}): check the owner and mode of the repository directory`, { plugin: 'local', cause: error });
    case 'ENOTDIR':
      return new TargetError('TARGET_IO', `a parent of ${path} is not a directory: the repository directory is damaged or mistyped`, { plugin: 'local', cause: error });
    case 'ENOSPC':
    case 'EDQUOT':
      return new TargetError('TARGET_IO', `no space left writing ${path} (${code}): free some space or use another disk`, { plugin: 'local', cause: error });
    default:
      return new TargetError('TARGET_IO', `file-system error on ${path} (${code ?? (error as Error | undefined)?.message ?? String(error)})`, { plugin: 'local', cause: error });
  }
}

export function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
