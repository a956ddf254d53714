import { defineSource } from '@cairn/core';
import { z } from 'zod';
import { backupEntries } from './backup.js';
import { parseMinioUrl } from './minio-url.js';
import { restoreEntries } from './restore.js';

/** Bucket names as S3 and MinIO accept them (legacy us-east-1 names may hold capitals and `_`). */
const BUCKET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/;

export const minioSourceOptions = z.object({
  endpoint: z.string().min(1).regex(/^[^\s/:?#@]+$|^\[[0-9a-fA-F:.]+\]$/, 'expected a host name or IP address, without scheme, port or path')
    .describe('Host name or IP address of the MinIO (or other S3) server, without scheme or port: `minio.lan`, `127.0.0.1`.'),
  port: z.number().int().min(1).max(65535).optional().describe('TCP port of the server; default 443 with `useSSL`, 80 without.'),
  useSSL: z.boolean().default(true).describe('Speak HTTPS (URL scheme `minio+https`); false for plain HTTP (`minio+http`), only on a private network.'),
  bucket: z.string().regex(BUCKET_NAME, 'expected an S3 bucket name (3 to 63 letters, digits, ".", "-")')
    .describe('Bucket to back up, or to restore into (created when missing).'),
  prefix: z.string().default('').transform((p) => p.replace(/^\/+|\/+$/g, ''))
    .describe('Back up only the objects under this folder of the bucket (`photos/2024`); entries are named relative to it. Empty: the whole bucket.'),
  accessKey: z.string().min(1).describe('Access key id (`AWS_ACCESS_KEY_ID`). Named in error messages; the secret never is.'),
  secretKey: z.string().min(1).describe('Secret access key (`AWS_SECRET_ACCESS_KEY`). Never logged, never shown.'),
  sessionToken: z.string().min(1).optional().describe('Session token of temporary credentials (`AWS_SESSION_TOKEN`).'),
  region: z.string().min(1).default('us-east-1').describe('Region requests are signed for (`?region=`, `AWS_REGION`), and that a missing bucket is created in.'),
  name: z.string().min(1).regex(/^[^/\0]+$/, 'a single name without "/"').refine((n) => n !== '.' && n !== '..', 'not "." or ".."').optional()
    .describe('Top-level directory of this source in a snapshot; default `minio-<bucket>`.'),
  concurrency: z.number().int().min(1).max(256).default(16)
    .describe('Objects downloaded (backup) or uploaded (restore) at once, and metadata requests in flight when the server does not list metadata.'),
  timeoutMs: z.number().int().min(100).default(30_000).describe('How long (ms) a request may wait for the server to accept, send or answer anything before it counts as failed.'),
  retries: z.number().int().min(0).max(20).default(4).describe('Retries, with exponential backoff and jitter, of a request that failed on a network error, a timeout or a passing server error.'),
  insecureSkipCertificateCheck: z.boolean().default(false)
    .describe('Accept any HTTPS certificate. Dangerous: anyone on the path can read and change the traffic. Prefer adding the CA with NODE_EXTRA_CA_CERTS.'),
  listMetadata: z.boolean().default(true)
    .describe('Ask for content types, user metadata and tags with the listing (a MinIO extension, one request per 1000 objects); false, or a server without it, fetches them per object (HEAD and GetObjectTagging).'),
});

export type MinioSourceOptions = z.input<typeof minioSourceOptions>;
export type MinioSettings = z.output<typeof minioSourceOptions>;

/** Backs up the objects of a MinIO (or S3) bucket with their metadata and tags, and restores them into a bucket. */
export const minioSource = defineSource({
  name: 'minio',
  options: minioSourceOptions,
  capabilities: { incremental: true, restoreModes: ['directory', 'origin'] },
  urls: { schemes: ['minio+http', 'minio+https'], parse: parseMinioUrl },
  create(options) {
    return {
      name: options.name ?? `minio-${options.bucket}`,
      description: minioLocation(options),
      entries: (ctx) => backupEntries(options, ctx),
      restore: (entries, ctx) => restoreEntries(options, entries, ctx),
    };
  },
});

/** `minio+http://host:port/bucket/prefix`, never a credential. */
export function minioLocation(options: Pick<MinioSettings, 'endpoint' | 'port' | 'useSSL' | 'bucket' | 'prefix'>): string {
  const defaultPort = options.useSSL ? 443 : 80;
  const port = options.port ?? defaultPort;
  const host = options.endpoint.includes(':') && !options.endpoint.startsWith('[') ? `[${options.endpoint}]` : options.endpoint;
  const path = [options.bucket, ...(options.prefix ? [options.prefix] : [])].join('/');
  return `${options.useSSL ? 'minio+https' : 'minio+http'}://${host}${port === defaultPort ? '' : `:${port}`}/${path}`;
}
