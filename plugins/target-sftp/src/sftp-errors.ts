import { AbortedError, TargetError, isTransientNetworkError } from '@cairn/core';

/** SFTP status codes (draft-ietf-secsh-filexfer-02), as ssh2 puts them in `error.code`. */
export const SFTP_STATUS = {
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;

/** What an operation was doing, for a message a person can act on. */
export interface Doing {
  /** `writing`, `reading`, `listing`… */
  action: string;
  /** The path on the server. */
  path: string;
  /** `user@host:port`, never with a password. */
  server: string;
  /** True when the connection the operation ran on has broken: whatever failed, it was the connection. */
  connectionBroken?: boolean;
}

/** `error.code` of an SFTP status error (a number), or of a socket error (a string). */
export function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | undefined)?.code;
}

export function isNoSuchFile(error: unknown): boolean {
  const code = codeOf(error);
  return code === SFTP_STATUS.NO_SUCH_FILE || code === 'ENOENT';
}

/**
 * Turns what ssh2 or ssh2-sftp-client threw into a coded TargetError. Requests still pending
 * when a connection dies fail with "No response from server" and no code; those, and any failure
 * on a connection known to be broken, are TARGET_UNAVAILABLE, so the caller may retry them.
 */
export function toTargetError(error: unknown, doing: Doing): Error {
  if (error instanceof TargetError || error instanceof AbortedError) return error;
  if ((error as Error | undefined)?.name === 'AbortError') return new AbortedError(undefined, { cause: error });
  const code = codeOf(error);
  const detail = describe(error);
  if (doing.connectionBroken || isLostConnection(error)) {
    return new TargetError('TARGET_UNAVAILABLE', `lost the connection to ${doing.server} while ${doing.action} ${doing.path} (${detail})`, { plugin: 'sftp', cause: error });
  }
  switch (code) {
    case SFTP_STATUS.NO_SUCH_FILE:
    case 'ENOENT':
      return new TargetError('TARGET_NOT_FOUND', `not found on ${doing.server}: ${doing.path}`, { plugin: 'sftp', cause: error });
    case SFTP_STATUS.PERMISSION_DENIED:
    case 'EACCES':
      return new TargetError('TARGET_PERMISSION', `permission denied ${doing.action} ${doing.path} on ${doing.server}: check that the user may write to the repository directory (its owner and mode)`, { plugin: 'sftp', cause: error });
    case SFTP_STATUS.OP_UNSUPPORTED:
      return new TargetError('TARGET_IO', `the server at ${doing.server} does not support ${doing.action} ${doing.path} (SFTP: operation unsupported)`, { plugin: 'sftp', cause: error });
    default:
      return new TargetError('TARGET_IO', `the server at ${doing.server} failed ${doing.action} ${doing.path} (${detail})`, { plugin: 'sftp', cause: error });
  }
}

/** True for errors that mean the connection, not the request, failed. */
export function isLostConnection(error: unknown): boolean {
  const code = codeOf(error);
  if (code === SFTP_STATUS.NO_CONNECTION || code === SFTP_STATUS.CONNECTION_LOST) return true;
  if (code === 'ERR_NOT_CONNECTED' || code === 'ERR_GENERIC_CLIENT') return true;
  const message = (error as Error | undefined)?.message ?? '';
  if (/No response from server|No SFTP connection|Unexpected (end|close) event|Not connected|channel (closed|open failure)|Connection lost/i.test(message)) return true;
  return isTransientNetworkError(error);
}

/** The SFTP status name or socket code and the server's words, without any path noise from the client library. */
function describe(error: unknown): string {
  const code = codeOf(error);
  const message = ((error as Error | undefined)?.message ?? String(error)).replace(/^[\w>-]+: /, '');
  const name = typeof code === 'number' ? Object.entries(SFTP_STATUS).find(([, value]) => value === code)?.[0] : typeof code === 'string' ? code : undefined;
  return name ? `${name}: ${message}` : message;
}
