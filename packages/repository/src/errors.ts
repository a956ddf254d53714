/**
 * The base of every error Cairn throws. It lives in the lowest layer so that all packages share
 * one class; applications import it from `@cairn/core`. Callers branch on `code` or `instanceof`,
 * never on message text, and messages say what to do next.
 */
export class CairnError extends Error {
  override name = 'CairnError';
  readonly code: string;
  /** The short name of the plugin that raised it, when one did (`"sftp"`, `"files"`). */
  readonly plugin: string | undefined;

  constructor(code: string, message: string, options: { cause?: unknown; plugin?: string } = {}) {
    super(options.plugin ? `[${options.plugin}] ${message}` : message, { cause: options.cause });
    this.code = code;
    this.plugin = options.plugin;
  }
}

/** Codes of repository errors; see docs/errors.md. */
export type RepositoryErrorCode =
  | 'REPO_NOT_FOUND'
  | 'REPO_EXISTS'
  | 'REPO_WRONG_PASSWORD'
  | 'REPO_CORRUPT'
  | 'REPO_LOCKED'
  | 'REPO_UNSUPPORTED_VERSION'
  | 'SNAPSHOT_NOT_FOUND'
  | 'SNAPSHOT_AMBIGUOUS'
  | 'PATH_NOT_FOUND'
  | 'NOT_A_DIRECTORY'
  | 'BAD_ENTRY'
  | 'INVALID_ARGUMENT'
  | 'REPO_CLOSED';

export class RepositoryError extends CairnError {
  override name = 'RepositoryError';
  declare readonly code: RepositoryErrorCode;
  constructor(code: RepositoryErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** Codes of storage-target errors. `TARGET_NOT_FOUND` is the one a repository expects and handles. */
export type TargetErrorCode =
  | 'TARGET_NOT_FOUND'
  | 'TARGET_UNAVAILABLE'
  | 'TARGET_PERMISSION'
  | 'TARGET_IO'
  | 'TARGET_INVALID_KEY';

export class TargetError extends CairnError {
  override name = 'TargetError';
  declare readonly code: TargetErrorCode;
  constructor(code: TargetErrorCode, message: string, options: { cause?: unknown; plugin?: string } = {}) {
    super(code, message, options);
  }
}

/** Thrown when a run is cancelled through its AbortSignal. */
export class AbortedError extends CairnError {
  override name = 'AbortedError';
  constructor(message = 'the operation was aborted', options: { cause?: unknown } = {}) {
    super('ABORTED', message, options);
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  // Whoever aborted may have said why (`aborted by cairn abort`): that is the message people see.
  const reason: unknown = signal.reason;
  if (reason instanceof AbortedError) throw reason;
  throw new AbortedError(typeof reason === 'string' && reason ? reason : undefined, { cause: reason });
}
