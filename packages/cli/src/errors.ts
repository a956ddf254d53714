import { CairnError } from '@cairn/core';

/** Exit statuses; documented in the README. */
export const exitCodes = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** Backup saved a snapshot, but some entries could not be read. */
  incomplete: 3,
  sigint: 130,
  sigterm: 143,
} as const;

export type UsageErrorCode =
  | 'CLI_UNKNOWN_COMMAND'
  | 'CLI_UNKNOWN_OPTION'
  | 'CLI_BAD_ARGUMENTS'
  | 'CLI_BAD_VALUE'
  | 'CLI_BAD_NUMBER'
  | 'CLI_BAD_DURATION'
  | 'CLI_BAD_TIME'
  | 'CLI_MISSING_REPOSITORY'
  | 'CLI_MISSING_CONFIG'
  | 'CLI_MISSING_PASSWORD'
  | 'CLI_PASSWORD_FILE';

/** The command line itself is wrong: exit 2. */
export class UsageError extends CairnError {
  override name = 'UsageError';
  declare readonly code: UsageErrorCode;
  constructor(code: UsageErrorCode, message: string) {
    super(code, message);
  }
}

/** A command ran and found a problem it has already reported (a failed check): exit 1 with this line. */
export class CommandFailed extends CairnError {
  override name = 'CommandFailed';
  constructor(message: string, readonly exitCode: number = exitCodes.failure) {
    super('CLI_COMMAND_FAILED', message);
  }
}

export interface ErrorContext {
  /** The repository as the user wrote it, for messages. */
  repo?: string;
  /** Which signal aborted the run, if one did. */
  signal?: 'SIGINT' | 'SIGTERM';
}

export interface DescribedError {
  /** One line, without the `cairn: ` prefix. */
  message: string;
  exitCode: number;
}

/** Turns any thrown value into the one line the user sees and the exit status. */
export function describeError(error: unknown, context: ErrorContext = {}): DescribedError {
  const repo = context.repo ?? 'the repository';
  if (error instanceof UsageError) return { message: error.message, exitCode: exitCodes.usage };
  if (error instanceof CommandFailed) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof CairnError) {
    const message = oneLine(error.message);
    switch (error.code) {
      case 'CONFIG_INVALID': {
        const problems = (error as CairnError & { problems?: string[] }).problems;
        return { message: `invalid configuration: ${problems?.length ? problems.map(oneLine).join('; ') : message}`, exitCode: exitCodes.usage };
      }
      case 'REPO_WRONG_PASSWORD':
        return { message: `wrong password for repository ${repo}: check CAIRN_PASSWORD or --password-file`, exitCode: exitCodes.failure };
      case 'REPO_NOT_FOUND':
        return { message: `no repository at ${repo}: run \`cairn init --repo ${repo}\` first`, exitCode: exitCodes.failure };
      case 'REPO_EXISTS':
        return { message: `a repository already exists at ${repo}: use it, or pick another --repo`, exitCode: exitCodes.failure };
      case 'REPO_CORRUPT':
        return { message: `repository ${repo} is damaged: ${message}; run \`cairn check --repo ${repo} --read-data\` to see what is affected`, exitCode: exitCodes.failure };
      case 'REPO_LOCKED':
        return { message: `repository ${repo} is locked by another operation: ${message}`, exitCode: exitCodes.failure };
      case 'SNAPSHOT_NOT_FOUND':
      case 'SNAPSHOT_AMBIGUOUS':
        return { message: `${message}; list snapshots with \`cairn snapshots --repo ${repo}\``, exitCode: exitCodes.failure };
      case 'INVALID_ARGUMENT':
        return { message, exitCode: exitCodes.usage };
      case 'PATH_NOT_FOUND':
        return { message: `${message}; see what a snapshot holds with \`cairn ls SNAPSHOT --repo ${repo}\``, exitCode: exitCodes.failure };
      case 'ABORTED':
        // Ctrl-C or SIGTERM here; otherwise `cairn abort` from elsewhere, whose reason the message carries.
        if (!context.signal) return { message, exitCode: exitCodes.failure };
        return { message: 'interrupted', exitCode: context.signal === 'SIGTERM' ? exitCodes.sigterm : exitCodes.sigint };
      default:
        return { message, exitCode: exitCodes.failure };
    }
  }
  if (error instanceof Error) {
    if (error.name === 'AbortError' && context.signal) {
      return { message: 'interrupted', exitCode: context.signal === 'SIGTERM' ? exitCodes.sigterm : exitCodes.sigint };
    }
    return { message: oneLine(error.message) || error.name, exitCode: exitCodes.failure };
  }
  return { message: oneLine(String(error)), exitCode: exitCodes.failure };
}

/** The stack trace and the chain of causes, for `--debug`. */
export function debugDetails(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    if (current instanceof Error) {
      const code = (current as { code?: unknown }).code;
      parts.push(`${depth ? 'caused by: ' : ''}${code ? `[${String(code)}] ` : ''}${current.stack ?? current.message}`);
      current = current.cause;
    } else {
      parts.push(`${depth ? 'caused by: ' : ''}${String(current)}`);
      break;
    }
  }
  return parts.join('\n');
}

function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, '; ').trim();
}
