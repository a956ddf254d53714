import { AbortedError, CairnError, SourceError, TargetError, isTransientNetworkError, redact } from '@cairn/core';

/** Where a failure happened, for a message a person can act on. */
export interface ErrorScene {
  /** What was being done: `listing "photos/"`, `reading photos/a.jpg`, `writing a.jpg`. */
  what: string;
  /** `host:port`. */
  server: string;
  bucket: string;
  accessKey: string;
  /** A backup reads the bucket, a restore writes it: the error codes and the rights named differ. */
  role: 'backup' | 'restore';
}

const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH', 'INVALID_CA', 'CERT_REJECTED',
]);
const OUT_OF_SPACE = new Set(['XMinioStorageFull', 'XMinioAdminBucketQuotaExceeded', 'QuotaExceeded', 'InsufficientStorage', 'StorageFull']);
/** Server answers that pass: worth another try. */
const PASSING = new Set(['SlowDown', 'InternalError', 'ServiceUnavailable', 'RequestTimeout', 'XMinioServerNotInitialized', 'XMinioReadQuorum', 'XMinioWriteQuorum', 'OperationAborted', 'Throttling']);

/** True for a failure that may pass when tried again: a dropped or refused connection, a timeout, a busy server. */
export function isTransient(error: unknown): boolean {
  if (error instanceof AbortedError) return false;
  const e = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof e.code === 'string' && PASSING.has(e.code)) return true;
  // The minio client reports 408, 429 and 5xx answers this way when its own retries are off (we retry).
  if (typeof e.message === 'string' && /Retryable HTTP status: \d+/.test(e.message)) return true;
  return isTransientNetworkError(error);
}

/**
 * Turns what the minio client or Node's HTTP stack threw into a one-line SourceError that says
 * what to do: SOURCE_NOT_FOUND for a missing bucket or object while backing up, SOURCE_UNREADABLE
 * for the other backup failures, RESTORE_UNWRITABLE for every restore failure. Messages name the
 * access key id, never the secret key or the session token.
 */
export function toSourceError(error: unknown, scene: ErrorScene): Error {
  if (error instanceof AbortedError || error instanceof SourceError) return error;
  const e = (error ?? {}) as { name?: string; code?: unknown; message?: string; region?: string; amzBucketRegion?: string; statusCode?: number };
  if (e.name === 'AbortError' || e.code === 'ABORT_ERR') return new AbortedError(undefined, { cause: error });
  const code = typeof e.code === 'string' ? e.code : '';
  const said = redact(oneLine(e.message ?? String(error)));
  const detail = said && code && !said.includes(code) ? `${said}, ${code}` : said || code || 'no details';
  const fail = scene.role === 'backup' ? 'SOURCE_UNREADABLE' : 'RESTORE_UNWRITABLE';
  const make = (message: string, sourceCode: 'SOURCE_UNREADABLE' | 'SOURCE_NOT_FOUND' | 'RESTORE_UNWRITABLE' = fail) =>
    new SourceError(sourceCode, message, { plugin: 'minio', cause: error });
  const where = `bucket "${scene.bucket}" on ${scene.server}`;
  const key = `access key id "${scene.accessKey}"`;
  const rights = scene.role === 'backup'
    ? 's3:ListBucket, s3:GetObject and s3:GetObjectTagging'
    : 's3:ListBucket, s3:PutObject, s3:PutObjectTagging, s3:DeleteObject (mode replace) and s3:CreateBucket (a missing bucket)';

  switch (code) {
    case 'NoSuchBucket':
      return scene.role === 'backup'
        ? make(`bucket "${scene.bucket}" does not exist on ${scene.server}: check the bucket name in the URL`, 'SOURCE_NOT_FOUND')
        : make(`${scene.what}: bucket "${scene.bucket}" vanished from ${scene.server} during the restore; run the restore again`);
    case 'NoSuchKey':
    case 'NotFound':
      return make(`${scene.what}: the object was deleted from ${where} during the backup; the next backup will no longer list it`, scene.role === 'backup' ? 'SOURCE_NOT_FOUND' : fail);
    case 'PreconditionFailed':
      return make(`${scene.what}: the object changed in ${where} while it was backed up; the next backup will take the new version`);
    case 'InvalidAccessKeyId':
      return make(`${scene.server} does not know ${key}: check AWS_ACCESS_KEY_ID`);
    case 'SignatureDoesNotMatch':
      return make(`${scene.server} rejected the request signature of ${key}: the secret key is wrong; check AWS_SECRET_ACCESS_KEY`);
    case 'AccessDenied':
    case 'AllAccessDisabled':
    case 'AccountProblem':
      return make(`access denied ${scene.what} ${scene.what.includes(`"${scene.bucket}"`) ? `on ${scene.server}` : `in ${where}`} for ${key}: it needs ${rights}`);
    case 'ExpiredToken':
    case 'InvalidToken':
    case 'TokenRefreshRequired':
      return make(`the session token of ${key} is expired or invalid: get new temporary credentials (AWS_SESSION_TOKEN)`);
    case 'RequestTimeTooSkewed':
      return make(`${scene.server} refused the request: this machine's clock is too far off; set it right (NTP)`);
    case 'AuthorizationHeaderMalformed':
    case 'PermanentRedirect':
    case 'MovedPermanently':
    case 'IllegalLocationConstraintException': {
      const region = e.region || e.amzBucketRegion;
      return make(region
        ? `bucket "${scene.bucket}" is in region ${region}: add ?region=${region} to the URL (or set AWS_REGION)`
        : `${where} wants another region or endpoint (${code}): set ?region= in the URL to the bucket's region`);
    }
    case 'InvalidBucketName':
      return make(`"${scene.bucket}" is not a bucket name ${scene.server} accepts: use 3 to 63 lower-case letters, digits, "." and "-"`);
    case 'XMinioInvalidObjectName':
    case 'XMinioInvalidResourceName':
    case 'KeyTooLongError':
      return make(`${scene.what}: ${scene.server} does not accept this object name (${code})`);
    case 'ENOTFOUND':
      return make(`cannot resolve host ${scene.server} (ENOTFOUND): check the host in the URL and the network`);
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_HEADER_TOKEN':
      return make(`${scene.server} does not speak the expected protocol (${code}): use minio+https:// for HTTPS and minio+http:// for plain HTTP`);
  }
  if (TLS_TRUST_CODES.has(code)) {
    return make(`the TLS certificate of ${scene.server} is not trusted (${code}): add its CA to NODE_EXTRA_CA_CERTS or the system store; skipping the check (insecureSkipCertificateCheck) lets others read and change the traffic`);
  }
  if (OUT_OF_SPACE.has(code) || e.statusCode === 507) {
    return make(`${scene.what}: ${scene.server} is out of space (${code || '507'}): free space or raise the bucket quota`);
  }
  if (error instanceof TargetError && error.code === 'TARGET_UNAVAILABLE') {
    return make(`${scene.what}: ${scene.server} stopped answering (${error.message.replace(/^\[[^\]]+\] /, '')}): check that the server is up`);
  }
  const status = /Retryable HTTP status: (\d+)/.exec(said)?.[1];
  if (status || PASSING.has(code)) {
    return make(`${scene.what}: ${scene.server} answered ${status ? `HTTP ${status}` : code} even after retries, a passing server problem: try again later`);
  }
  if (isTransient(error)) {
    return make(`${scene.what}: ${scene.server} is unreachable or stopped answering (${detail}): check the host and port in the URL and that the server is running`);
  }
  if (error instanceof CairnError) return error;
  return make(`${scene.what} in ${where} failed: ${detail}`);
}

function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, '; ').trim();
}
