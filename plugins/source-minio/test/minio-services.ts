import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { Client } from 'minio';
import { AssumeRoleProvider } from 'minio/dist/esm/AssumeRoleProvider.mjs';
import { requireEnv } from '@cairn/testkit';
import type { MinioSourceOptions } from '../src/index.js';

/**
 * The MinIO test server (`scripts/services up`), an admin client for it, and helpers to seed a
 * bucket, read its whole state back (bytes, content type, user metadata, tags) and remove it.
 * Listing and tags are read here with plain requests: the minio client's XML parser turns names
 * and values like `007` into numbers.
 */
export const settings = requireEnv('CAIRN_TEST_S3_ENDPOINT', 'CAIRN_TEST_S3_ACCESS_KEY', 'CAIRN_TEST_S3_SECRET_KEY', 'CAIRN_TEST_S3_REGION');
const endpoint = new URL(settings.CAIRN_TEST_S3_ENDPOINT);
export const host = endpoint.hostname;
export const port = Number(endpoint.port || 80);
export const region = settings.CAIRN_TEST_S3_REGION;
export const accessKey = settings.CAIRN_TEST_S3_ACCESS_KEY;
export const secretKey = settings.CAIRN_TEST_S3_SECRET_KEY;

export const admin = new Client({ endPoint: host, port, useSSL: false, accessKey, secretKey, region });

export const unique = (label: string): string => `${label}-${randomBytes(5).toString('hex')}`;

/** Source options for `bucket` (and `prefix`) on the test server, as the admin. */
export function sourceOptions(bucket: string, overrides: Partial<MinioSourceOptions> = {}): MinioSourceOptions {
  return { endpoint: host, port, useSSL: false, bucket, accessKey, secretKey, region, ...overrides };
}

/** `minio+http://host:port/bucket[/prefix]`. */
export function sourceUrl(bucket: string, prefix = '', where = `${host}:${port}`): string {
  return `minio+http://${where}/${bucket}${prefix ? `/${prefix}` : ''}`;
}

/** Buckets made by `freshBucket` in this process and not removed yet; `dropAllBuckets` removes them. */
const made = new Set<string>();

/** A new, empty bucket with a unique name. */
export async function freshBucket(label: string): Promise<string> {
  const name = unique(`cairn-msrc-${label}`).toLowerCase();
  await admin.makeBucket(name, region);
  made.add(name);
  return name;
}

/** Remembers a bucket someone else (a restore) created, so `dropAllBuckets` removes it too. */
export function track(bucket: string): string {
  made.add(bucket);
  return bucket;
}

/** Empties and removes the bucket, if it exists. */
export async function dropBucket(bucket: string): Promise<void> {
  made.delete(bucket);
  if (!(await admin.bucketExists(bucket))) return;
  for await (const upload of admin.listIncompleteUploads(bucket, '', true)) await admin.removeIncompleteUpload(bucket, upload.key);
  const names = await listKeys(bucket);
  for (let i = 0; i < names.length; i += 1000) await admin.removeObjects(bucket, names.slice(i, i + 1000));
  await admin.removeBucket(bucket);
}

export async function dropAllBuckets(): Promise<void> {
  for (const bucket of [...made]) await dropBucket(bucket);
}

async function text(response: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of response) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

const unxml = (s: string) => s.replace(/&#34;|&quot;/g, '"').replace(/&#39;|&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** Every object name under `prefix`, sorted. */
export async function listKeys(bucket: string, prefix = ''): Promise<string[]> {
  const names: string[] = [];
  let token = '';
  do {
    const query = ['encoding-type=url', 'list-type=2', `prefix=${encodeURIComponent(prefix)}`, ...(token ? [`continuation-token=${encodeURIComponent(token)}`] : [])].sort().join('&');
    const xml = await text(await admin.makeRequestAsync({ method: 'GET', bucketName: bucket, query }));
    for (const [, key] of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) names.push(decodeURIComponent(unxml(key!).replace(/\+/g, ' ')));
    token = /<IsTruncated>true<\/IsTruncated>/.test(xml) ? unxml(/<NextContinuationToken>([^<]*)</.exec(xml)?.[1] ?? '') : '';
  } while (token);
  return names.sort();
}

export async function getTags(bucket: string, key: string): Promise<Record<string, string>> {
  const xml = await text(await admin.makeRequestAsync({ method: 'GET', bucketName: bucket, objectName: key, query: 'tagging' }));
  const tags: Record<string, string> = {};
  for (const [, body] of xml.matchAll(/<Tag>([\s\S]*?)<\/Tag>/g)) {
    tags[unxml(/<Key>([^<]*)</.exec(body!)![1]!)] = unxml(/<Value>([^<]*)</.exec(body!)?.[1] ?? '');
  }
  return tags;
}

export interface ObjectState {
  size: number;
  sha256: string;
  contentType: string;
  /** Lower-case names without `x-amz-meta-`. */
  userMetadata: Record<string, string>;
  tags: Record<string, string>;
  /** Cache-Control and Content-Disposition, when set. */
  headers: Record<string, string>;
}

/** What a restore must reproduce, key by key (keys relative to `prefix`). */
export async function bucketState(bucket: string, prefix = ''): Promise<Record<string, ObjectState>> {
  const state: Record<string, ObjectState> = {};
  for (const name of await listKeys(bucket, prefix)) {
    const stat = await admin.statObject(bucket, name);
    const hash = createHash('sha256');
    let size = 0;
    for await (const part of await admin.getObject(bucket, name)) {
      hash.update(part as Buffer);
      size += (part as Buffer).length;
    }
    const userMetadata: Record<string, string> = {};
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(stat.metaData as Record<string, string>)) {
      if (k === 'cache-control' || k === 'content-disposition') headers[k] = v;
      else if (k !== 'content-type') userMetadata[k] = v;
    }
    state[name.slice(prefix.length)] = {
      size, sha256: hash.digest('hex'), contentType: (stat.metaData as Record<string, string>)['content-type'] ?? '', userMetadata, tags: await getTags(bucket, name), headers,
    };
  }
  return state;
}

/** Puts an object with a content type, user metadata (`x-amz-meta-*`), other headers and tags. */
export async function putObject(
  bucket: string, key: string, body: Buffer,
  options: { contentType?: string; meta?: Record<string, string>; headers?: Record<string, string>; tags?: Record<string, string> } = {},
): Promise<void> {
  const metaData: Record<string, string> = { 'Content-Type': options.contentType ?? 'application/octet-stream', ...options.headers };
  for (const [name, value] of Object.entries(options.meta ?? {})) metaData[`X-Amz-Meta-${name}`] = value;
  await admin.putObject(bucket, key, body, body.length, metaData);
  if (options.tags && Object.keys(options.tags).length > 0) await admin.setObjectTagging(bucket, key, options.tags);
}

/** Deterministic bytes for `seed`. */
export function bytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let offset = 0; offset < size; offset += block.length) {
    block.copy(out, offset);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** Real temporary credentials from MinIO's STS that may only read and list, whatever the bucket. */
export async function readOnlyCredentials(): Promise<{ accessKey: string; secretKey: string; sessionToken: string }> {
  const policy = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectTagging', 's3:ListBucket', 's3:GetBucketLocation'], Resource: ['arn:aws:s3:::*'] }],
  };
  const provider = new AssumeRoleProvider({ stsEndpoint: settings.CAIRN_TEST_S3_ENDPOINT, accessKey, secretKey, region, policy: JSON.stringify(policy), durationSeconds: 3600 });
  const credentials = await provider.getCredentials();
  return { accessKey: credentials.accessKey, secretKey: credentials.secretKey, sessionToken: credentials.sessionToken! };
}

/** A server that accepts connections and never says a word: a hung S3 server. */
export async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => void sockets.add(socket.on('error', () => undefined)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
