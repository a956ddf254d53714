import { AbortedError, TargetError, isTransientNetworkError, redact } from '@cairn/core';

export interface ErrorScene {
  /** What was being done: `reading data/ab/cd`, `listing snapshots/`. */
  what: string;
  /** `host:port`, as in the location. */
  server: string;
  bucket: string;
  accessKey: string;
}

const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH', 'INVALID_CA', 'CERT_REJECTED',
]);

const OUT_OF_SPACE = new Set(['XMinioStorageFull', 'XMinioAdminBucketQuotaExceeded', 'QuotaExceeded', 'InsufficientStorage', 'StorageFull']);
const PASSING = new Set(['SlowDown', 'InternalError', 'ServiceUnavailable', 'RequestTimeout', 'XMinioServerNotInitialized', 'XMinioReadQuorum', 'XMinioWriteQuorum', 'OperationAborted', 'Throttling']);

/**
 * Turns what the minio client or Node's HTTP stack threw into a coded TargetError that says what
 * to do. Only TARGET_UNAVAILABLE is retried. Messages name the access key id, never the secret.
 */
export function toTargetError(error: unknown, scene: ErrorScene): Error {
  if (error instanceof TargetError || error instanceof AbortedError) return error;
  const e = (error ?? {}) as { name?: string; code?: unknown; message?: string; region?: string; amzBucketRegion?: string; statusCode?: number };
  if (e.name === 'AbortError' || e.code === 'ABORT_ERR') return new AbortedError(undefined, { cause: error });
  const code = typeof e.code === 'string' ? e.code : '';
  const said = redact(oneLine(e.message ?? String(error)));
  const detail = said && code && !said.includes(code) ? `${said}, ${code}` : said || code || 'no details';
  const make = (targetCode: TargetError['code'], message: string) => new TargetError(targetCode, message, { plugin: 's3', cause: error });
  const where = `bucket "${scene.bucket}" on ${scene.server}`;
  const key = `access key id "${scene.accessKey}"`;

  switch (code) {
    case 'NoSuchKey':
    case 'NotFound':
      return make('TARGET_NOT_FOUND', `${scene.what}: no such object in ${where}`);
    case 'NoSuchBucket':
      return make('TARGET_IO', `bucket "${scene.bucket}" does not exist on ${scene.server}: create it first (e.g. \`mc mb ALIAS/${scene.bucket}\` or \`aws s3 mb s3://${scene.bucket}\`); Cairn never creates buckets`);
    case 'InvalidAccessKeyId':
      return make('TARGET_PERMISSION', `${scene.server} does not know ${key}: check AWS_ACCESS_KEY_ID (or the key in the URL)`);
    case 'SignatureDoesNotMatch':
      return make('TARGET_PERMISSION', `${scene.server} rejected the request signature of ${key}: the secret key is wrong; check AWS_SECRET_ACCESS_KEY (or the secret in the URL)`);
    case 'AccessDenied':
    case 'AllAccessDisabled':
    case 'AccountProblem':
      return make('TARGET_PERMISSION', `access denied ${scene.what} in ${where} for ${key}: it needs s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject and s3:AbortMultipartUpload on the bucket`);
    case 'ExpiredToken':
    case 'InvalidToken':
    case 'TokenRefreshRequired':
      return make('TARGET_PERMISSION', `the session token of ${key} is expired or invalid: get new temporary credentials (AWS_SESSION_TOKEN)`);
    case 'RequestTimeTooSkewed':
      return make('TARGET_PERMISSION', `${scene.server} refused the request: this machine's clock is too far off; set it right (NTP)`);
    case 'AuthorizationHeaderMalformed':
    case 'PermanentRedirect':
    case 'MovedPermanently':
    case 'IllegalLocationConstraintException': {
      const region = e.region || e.amzBucketRegion;
      return make('TARGET_IO', region
        ? `bucket "${scene.bucket}" is in region ${region}: add ?region=${region} to the URL (or set the region option)`
        : `${where} wants another region or endpoint (${code}): set ?region= in the URL to the bucket's region`);
    }
    case 'EntityTooLarge':
      return make('TARGET_IO', `${scene.what}: ${where} refused the object as too large (${said}); the bucket quota may be used up: raise it or free space`);
    case 'NoSuchUpload':
      return make('TARGET_IO', `${scene.what}: the multipart upload vanished on the server (aborted by someone else, or by a lifecycle rule); try again`);
    case 'ENOTFOUND':
      return make('TARGET_UNAVAILABLE', `cannot resolve host ${scene.server} (ENOTFOUND): check the endpoint in the URL and the network`);
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_HEADER_TOKEN':
      return make('TARGET_IO', `${scene.server} does not speak the expected protocol (${code}): use s3:// for HTTPS and s3+http:// for plain HTTP`);
  }
  if (TLS_TRUST_CODES.has(code)) {
    return make('TARGET_PERMISSION', `the TLS certificate of ${scene.server} is not trusted (${code}): add its CA to NODE_EXTRA_CA_CERTS or the system store; skipping the check (insecureSkipCertificateCheck) lets others read and change the backup traffic`);
  }
  if (OUT_OF_SPACE.has(code) || e.statusCode === 507) {
    return make('TARGET_IO', `${scene.what}: the server is out of space (${code || '507'}): free space on ${scene.server} or raise the bucket quota`);
  }
  // The minio client reports 408, 429, 5xx answers this way when its own retries are off (we retry).
  const status = /Retryable HTTP status: (\d+)/.exec(said)?.[1];
  if (status || PASSING.has(code)) {
    return make('TARGET_UNAVAILABLE', `${scene.what}: ${scene.server} answered ${status ? `HTTP ${status}` : code}, a passing server problem`);
  }
  if (code === 'ETIMEDOUT' || isTransientNetworkError(error)) {
    return make('TARGET_UNAVAILABLE', `${scene.what}: ${scene.server} is unreachable or stopped answering (${detail})`);
  }
  return make('TARGET_IO', `${scene.what} in ${where} failed: ${detail}`);
}

export function isNotFound(error: unknown): boolean {
  return error instanceof TargetError && error.code === 'TARGET_NOT_FOUND';
}

function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, '; ').trim();
}
