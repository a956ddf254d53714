import { defineTarget } from '@cairn/core';
import { z } from 'zod';
import { s3Store } from './s3-store.js';
import { parseS3Url } from './s3-url.js';

/** Bucket names as S3 and MinIO accept them (legacy us-east-1 names may hold capitals and `_`). */
const BUCKET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/;

export const s3TargetOptions = z.object({
  endpoint: z.string().min(1).regex(/^[^\s/:?#@]+$|^\[[0-9a-fA-F:.]+\]$/, 'expected a host name or IP address, without scheme, port or path')
    .describe('Host name or IP address of the S3 server, without scheme or port: `s3.eu-west-1.amazonaws.com`, `minio.lan`, `127.0.0.1`.'),
  port: z.number().int().min(1).max(65535).optional().describe('TCP port of the server; default 443 with `useSSL`, 80 without.'),
  useSSL: z.boolean().default(true).describe('Speak HTTPS (URL scheme `s3`); false for plain HTTP (`s3+http`), only for a server on a private network.'),
  bucket: z.string().regex(BUCKET_NAME, 'expected an S3 bucket name (3 to 63 letters, digits, ".", "-")').describe('Bucket the repository lives in. It must exist: Cairn never creates buckets.'),
  prefix: z.string().default('').transform((p) => p.replace(/^\/+|\/+$/g, ''))
    .describe('Folder inside the bucket the repository lives under (`backups/photos`); empty for the bucket root.'),
  accessKey: z.string().min(1).describe('Access key id (`AWS_ACCESS_KEY_ID`). Named in error messages; the secret never is.'),
  secretKey: z.string().min(1).describe('Secret access key (`AWS_SECRET_ACCESS_KEY`). Never logged, never shown.'),
  sessionToken: z.string().min(1).optional().describe('Session token of temporary credentials (`AWS_SESSION_TOKEN`).'),
  region: z.string().min(1).default('us-east-1').describe('Region the bucket is in (`?region=`, `AWS_REGION`); requests are signed for it.'),
  pathStyle: z.boolean().optional()
    .describe('Path-style requests (`host/bucket/key`) instead of virtual-host style (`bucket.host/key`). Default: virtual-host style for *.amazonaws.com over HTTPS, path style otherwise.'),
  partSizeMiB: z.number().int().min(5).max(5120).default(16)
    .describe('Objects larger than this are sent as a multipart upload in parts of this size (MiB); each part is retried on its own.'),
  connections: z.number().int().min(1).max(64).default(8).describe('Most HTTP connections kept open to the server, and so transfers in flight at once.'),
  timeoutMs: z.number().int().min(100).default(30_000).describe('How long (ms) a request may wait for the server to accept, send or answer anything before it counts as failed.'),
  retries: z.number().int().min(0).max(20).default(5).describe('Retries, with exponential backoff and jitter, of a request that failed on a network error, a timeout or a 5xx answer.'),
  insecureSkipCertificateCheck: z.boolean().default(false)
    .describe('Accept any HTTPS certificate. Dangerous: anyone on the path can read and change the backup traffic. Prefer adding the CA with NODE_EXTRA_CA_CERTS.'),
});

export type S3TargetOptions = z.input<typeof s3TargetOptions>;
export type S3Settings = z.output<typeof s3TargetOptions>;

/** Stores a repository in a bucket of AWS S3, MinIO or any S3-compatible object store. */
export const s3Target = defineTarget({
  name: 's3',
  options: s3TargetOptions,
  // A completed PUT or multipart upload is the store's own atomic write: no rename needed.
  capabilities: { rangeReads: true, atomicRename: false, maxParallel: 8 },
  urls: { schemes: ['s3', 's3+http'], parse: parseS3Url },
  location: s3Location,
  connect: (options, ctx) => s3Store(options, ctx),
});

/** `s3://host[:port]/bucket/prefix`, or `s3+http://…` for plain HTTP; never a credential. */
export function s3Location(options: S3Settings): string {
  const port = options.port ?? (options.useSSL ? 443 : 80);
  const defaultPort = options.useSSL ? 443 : 80;
  const host = options.endpoint.includes(':') && !options.endpoint.startsWith('[') ? `[${options.endpoint}]` : options.endpoint;
  const path = [options.bucket, ...(options.prefix ? [options.prefix] : [])].join('/');
  return `${options.useSSL ? 's3' : 's3+http'}://${host}${port === defaultPort ? '' : `:${port}`}/${path}`;
}
