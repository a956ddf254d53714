import type { BlobInfo, BlobStore, PluginContext } from '@cairn/core';
import { download } from './download.js';
import { httpConnections } from './http-transport.js';
import { checkKey, checkPrefix } from './keys.js';
import { list } from './listing.js';
import { s3Context } from './s3-context.js';
import { isNotFound } from './s3-errors.js';
import type { S3Settings } from './s3-target.js';
import { upload } from './upload.js';

const AWS_HOST = /(^|\.)amazonaws\.com(\.cn)?$/i;

/**
 * Connects to the bucket and returns the blob-store methods over it. The bucket is checked first
 * with one listing request, so wrong keys, missing rights and a missing bucket fail here, clearly,
 * instead of in the middle of a backup (and a missing bucket is never taken for a missing object).
 */
export async function s3Store(settings: S3Settings, ctx: PluginContext): Promise<Omit<BlobStore, 'capabilities' | 'location'>> {
  const port = settings.port ?? (settings.useSSL ? 443 : 80);
  const server = `${settings.endpoint.includes(':') && !settings.endpoint.startsWith('[') ? `[${settings.endpoint}]` : settings.endpoint}:${port}`;
  const connections = httpConnections(settings);
  // Loaded on first use, not with the plugin: a process that never talks to S3 (the CLI's
  // --help, a local backup) does not pay for the client's ~28 MiB.
  const { Client } = await import('minio');
  const client = new Client({
    endPoint: settings.endpoint.replace(/^\[|\]$/g, ''),
    port,
    useSSL: settings.useSSL,
    accessKey: settings.accessKey,
    secretKey: settings.secretKey,
    ...(settings.sessionToken ? { sessionToken: settings.sessionToken } : {}),
    region: settings.region,
    pathStyle: settings.pathStyle ?? !(settings.useSSL && AWS_HOST.test(settings.endpoint)),
    partSize: settings.partSizeMiB * 1024 * 1024,
    transport: connections.transport as never,
    transportAgent: connections.agent,
    retryOptions: { disableRetry: true }, // we retry, with our own backoff and error mapping
  });
  const s3 = s3Context(client, settings, server, ctx.logger);

  try {
    await s3.call('listing the repository', () => client.listObjectsV2Query(settings.bucket, s3.base, '', '', 1, ''), { signal: ctx.signal });
  } catch (error) {
    connections.close();
    throw error;
  }

  return {
    async put(key, body, options = {}) {
      await upload(s3, key, s3.objectName(checkKey(key)), body, options.signal);
    },

    async get(key, options = {}) {
      return download(s3, key, s3.objectName(checkKey(key)), options.range, options.signal);
    },

    list(prefix, options = {}) {
      return list(s3, checkPrefix(prefix), options.signal);
    },

    async delete(key) {
      const name = s3.objectName(checkKey(key));
      await s3.call(`deleting ${key}`, () => client.removeObject(settings.bucket, name)); // S3 deletes missing objects happily
    },

    async stat(key): Promise<BlobInfo | undefined> {
      const name = s3.objectName(checkKey(key));
      try {
        const info = await s3.call(`looking up ${key}`, () => client.statObject(settings.bucket, name));
        return { key, size: info.size };
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },

    async close() {
      connections.close();
    },
  };
}
