import { AbortedError, CairnError, TargetError } from '@cairn/core';
import { FTPError } from 'basic-ftp';

/** What a command was doing, which decides what a reply such as 550 means. */
export type FtpAction = 'read' | 'write' | 'list' | 'delete' | 'mkdir';

export interface ErrorScene {
  action: FtpAction;
  /** The server path concerned. */
  path: string;
  /** `host:port`, for messages. */
  server: string;
  username: string;
}

/** Node's codes for a certificate that does not verify (untrusted, expired, wrong host…). */
const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE', 'CERT_CHAIN_TOO_LONG', 'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_CERT_ALTNAME_FORMAT',
]);

export function isCertificateError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && CERTIFICATE_CODES.has(code);
}

/** The TLS certificate of the server did not verify: permanent, and the user must decide what to trust. */
export function certificateError(error: unknown, server: string): TargetError {
  const why = firstClause((error as Error).message);
  return new TargetError(
    'TARGET_PERMISSION',
    `certificate of ${server} is not trusted (${why}): add the CA that issued it to NODE_EXTRA_CA_CERTS, or connect by the name it was issued for; ` +
      'only if you accept that anyone on the network path can read and alter the backup, opt out with ?insecure_skip_certificate_check=1 (insecureSkipCertificateCheck: true)',
    { plugin: 'ftp', cause: error },
  );
}

/** The server refused the user name or password (530). The password itself is never part of a message. */
export function loginError(error: unknown, username: string, server: string): TargetError {
  return new TargetError(
    'TARGET_PERMISSION',
    `login incorrect for user "${username}" on ${server} (${reply(error)}): check the user name and the password (in the URL or CAIRN_TARGET_PASSWORD)`,
    { plugin: 'ftp', cause: error },
  );
}

/**
 * Turns whatever a basic-ftp call threw into a coded error. An FTP reply is judged by its code and
 * by what the command was doing; anything else (reset, refused, closed, timed out) is the
 * connection's failure, which is transient.
 */
export function toTargetError(error: unknown, scene: ErrorScene): Error {
  if (error instanceof CairnError) return error;
  if ((error as Error | undefined)?.name === 'AbortError') return new AbortedError(undefined, { cause: error });
  if (isCertificateError(error)) return certificateError(error, scene.server);
  if (error instanceof FTPError) return replyError(error, scene);
  const code = (error as { code?: unknown } | undefined)?.code;
  const detail = firstClause((error as Error | undefined)?.message ?? String(error)) || String(code ?? 'unknown error');
  return new TargetError(
    'TARGET_UNAVAILABLE',
    `lost the connection to the FTP server ${scene.server} (${detail}): check that the server runs and is reachable`,
    { plugin: 'ftp', cause: error },
  );
}

function replyError(error: FTPError, scene: ErrorScene): TargetError {
  const { action, path, server } = scene;
  const opts = { plugin: 'ftp', cause: error };
  switch (error.code) {
    case 421:
    case 425:
    case 426:
    case 450:
      return new TargetError('TARGET_UNAVAILABLE', `the FTP server ${server} could not serve ${path} now (${reply(error)}); try again later`, opts);
    case 530:
      return loginError(error, scene.username, server);
    case 451:
      // vsftpd answers 451 "Failure writing to local file" when its disk is full.
      if (action === 'write') return noSpace(error, scene);
      return new TargetError('TARGET_IO', `the FTP server ${server} failed on ${path} (${reply(error)}): see the server's log`, opts);
    case 452:
    case 552:
      return noSpace(error, scene);
    case 550:
    case 553:
      if (action === 'read' || action === 'list') return new TargetError('TARGET_NOT_FOUND', `not found on ${server}: ${path} (${reply(error)})`, opts);
      return new TargetError(
        'TARGET_PERMISSION',
        `permission denied on ${server}: cannot ${verbs[action]} ${path} (${reply(error)}); check that user "${scene.username}" may write there`,
        opts,
      );
    default:
      return new TargetError('TARGET_IO', `the FTP server ${server} refused to ${verbs[action]} ${path} (${reply(error)})`, opts);
  }
}

const verbs: Record<FtpAction, string> = { read: 'read', write: 'write', list: 'list', delete: 'delete', mkdir: 'create the directory' };

function noSpace(error: FTPError, scene: ErrorScene): TargetError {
  return new TargetError(
    'TARGET_IO',
    `no space left on the server ${scene.server} writing ${scene.path} (${reply(error)}): free space on the server or raise the quota of user "${scene.username}"`,
    { plugin: 'ftp', cause: error },
  );
}

/** `550 Permission denied.` from an FTPError, on one line. */
function reply(error: unknown): string {
  const message = (error as Error | undefined)?.message ?? String(error);
  return message.replace(/\s*\r?\n\s*/g, ' ').trim();
}

/** Node's messages add advice after a `;` that does not apply here. */
function firstClause(message: string): string {
  return message.split(/;|\n/)[0]!.trim();
}
