export { CairnError, RepositoryError, TargetError, AbortedError, throwIfAborted } from '@cairn/repository';
export type { RepositoryErrorCode, TargetErrorCode } from '@cairn/repository';
import { CairnError } from '@cairn/repository';

/** A config file, plugin options, URL or flag is invalid. `problems` holds one line per mistake. */
export class ConfigError extends CairnError {
  override name = 'ConfigError';
  readonly problems: string[];
  constructor(message: string, options: { problems?: string[]; plugin?: string; cause?: unknown } = {}) {
    super('CONFIG_INVALID', message, options);
    this.problems = options.problems ?? [message];
  }
}

/** A hook refused the run; `reason` is the tap's own words. */
export class VetoError extends CairnError {
  override name = 'VetoError';
  constructor(readonly tap: string, readonly reason: string) {
    super('RUN_VETOED', `run refused by ${tap}: ${reason}`);
  }
}

/** A source or restore problem that is not the repository's (unreadable path, unwritable target). */
export class SourceError extends CairnError {
  override name = 'SourceError';
  constructor(code: 'SOURCE_UNREADABLE' | 'SOURCE_NOT_FOUND' | 'RESTORE_UNWRITABLE' | 'RESTORE_UNSAFE_PATH', message: string, options: { plugin?: string; cause?: unknown } = {}) {
    super(code, message, options);
  }
}
