import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect as netConnect, createServer as createNetServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { createServer as createTlsServer, getCACertificates } from 'node:tls';
import { Client } from 'minio';
import { AssumeRoleProvider } from 'minio/dist/esm/AssumeRoleProvider.mjs';
import { requireEnv } from '@cairn/testkit';
import type { S3TargetOptions } from '../src/index.js';

/** The MinIO test server (`scripts/services up`), an admin client for it, and tidy-up helpers. */
export const settings = requireEnv('CAIRN_TEST_S3_ENDPOINT', 'CAIRN_TEST_S3_ACCESS_KEY', 'CAIRN_TEST_S3_SECRET_KEY', 'CAIRN_TEST_S3_REGION');
const url = new URL(settings.CAIRN_TEST_S3_ENDPOINT);
export const host = url.hostname;
export const port = Number(url.port || 80);
export const region = settings.CAIRN_TEST_S3_REGION;
export const accessKey = settings.CAIRN_TEST_S3_ACCESS_KEY;
export const secretKey = settings.CAIRN_TEST_S3_SECRET_KEY;

export const admin = new Client({ endPoint: host, port, useSSL: false, accessKey, secretKey, region });

export const unique = (label: string): string => `${label}-${randomBytes(5).toString('hex')}`;

/** Target options for `bucket`/`prefix` on the test server, as the admin. */
export function s3Options(bucket: string, prefix: string, overrides: Partial<S3TargetOptions> = {}): S3TargetOptions {
  return { endpoint: host, port, useSSL: false, bucket, prefix, accessKey, secretKey, region, ...overrides };
}

export async function objectNames(bucket: string, prefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const item of admin.listObjectsV2(bucket, prefix, true)) if (item.name) names.push(item.name);
  return names.sort();
}

export async function incompleteUploads(bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const upload of admin.listIncompleteUploads(bucket, prefix, true)) keys.push(upload.key);
  return keys;
}

/** Removes every object and unfinished upload under `prefix`. */
export async function removePrefix(bucket: string, prefix: string): Promise<void> {
  for (const key of await incompleteUploads(bucket, prefix)) await admin.removeIncompleteUpload(bucket, key);
  const names = await objectNames(bucket, prefix);
  for (let i = 0; i < names.length; i += 1000) await admin.removeObjects(bucket, names.slice(i, i + 1000));
}

/** A fresh bucket, created once per test file on first use; `drop` empties and removes it. */
export function testBucket(label: string): { name: string; ready: () => Promise<string>; drop: () => Promise<void> } {
  const name = unique(`cairn-${label}`);
  let made: Promise<void> | undefined;
  return {
    name,
    ready: async () => {
      made ??= admin.makeBucket(name, region);
      await made;
      return name;
    },
    drop: async () => {
      if (!made) return;
      await made.catch(() => undefined);
      await removePrefix(name, '');
      await admin.removeBucket(name);
    },
  };
}

/** Real temporary credentials from MinIO's STS that may only read and list, whatever the bucket. */
export async function readOnlyCredentials(): Promise<{ accessKey: string; secretKey: string; sessionToken: string }> {
  const policy = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:ListBucket', 's3:GetBucketLocation'], Resource: ['arn:aws:s3:::*'] }],
  };
  const provider = new AssumeRoleProvider({ stsEndpoint: settings.CAIRN_TEST_S3_ENDPOINT, accessKey, secretKey, region, policy: JSON.stringify(policy), durationSeconds: 3600 });
  const credentials = await provider.getCredentials();
  return { accessKey: credentials.accessKey, secretKey: credentials.secretKey, sessionToken: credentials.sessionToken! };
}

/** A server that accepts connections and never says a word: a hung S3 server. */
export async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => void sockets.add(socket.on('error', () => undefined)));
  return listening(server, sockets);
}

/**
 * HTTPS in front of the MinIO server, with the certificate the FTP test server uses (issued for
 * 127.0.0.1, trusted by the test workers through NODE_EXTRA_CA_CERTS).
 */
export async function tlsFrontend(): Promise<{ port: number; close: () => Promise<void> }> {
  const certFile = requireEnv('CAIRN_TEST_FTP_CA').CAIRN_TEST_FTP_CA;
  const [cert, key] = await Promise.all([readFile(certFile), readFile(join(dirname(certFile), 'key.pem'))]);
  if (!getCACertificates('extra').some((trusted) => trusted.trim() === cert.toString('utf8').trim())) {
    throw new Error(`NODE_EXTRA_CA_CERTS is ${process.env.NODE_EXTRA_CA_CERTS ?? 'unset'}, not the test CA ${certFile}: it was set before the test servers' settings were loaded`);
  }
  const sockets = new Set<Socket>();
  const server = createTlsServer({ cert, key }, (socket) => {
    const upstream = netConnect(port, host);
    sockets.add(socket).add(upstream);
    const drop = () => {
      socket.destroy();
      upstream.destroy();
    };
    socket.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    socket.pipe(upstream).pipe(socket);
  });
  server.on('tlsClientError', () => undefined);
  return listening(server, sockets);
}

async function listening(server: Server, sockets: Set<Socket>): Promise<{ port: number; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A fresh bucket on the second test MinIO, whose data lives on a 32 MiB tmpfs, so large writes
 * get the server's real "storage full" answer; `drop` empties and removes it.
 */
export async function fullServerBucket(): Promise<{ host: string; bucket: string; drop: () => Promise<void> }> {
  const full = new URL(requireEnv('CAIRN_TEST_S3_FULL_ENDPOINT').CAIRN_TEST_S3_FULL_ENDPOINT);
  const client = new Client({ endPoint: full.hostname, port: Number(full.port), useSSL: false, accessKey, secretKey, region });
  const bucket = unique('cairn-full');
  await client.makeBucket(bucket, region);
  return {
    host: full.host,
    bucket,
    drop: async () => {
      for await (const upload of client.listIncompleteUploads(bucket, '', true)) await client.removeIncompleteUpload(bucket, upload.key);
      const names: string[] = [];
      for await (const item of client.listObjectsV2(bucket, '', true)) if (item.name) names.push(item.name);
      if (names.length > 0) await client.removeObjects(bucket, names);
      await client.removeBucket(bucket);
    },
  };
}
