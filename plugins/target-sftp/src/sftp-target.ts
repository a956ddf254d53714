import { TargetError, defineTarget, withRetry } from '@cairn/core';
import { ConnectionPool } from './connection-pool.js';
import { loadPrivateKey, openConnection } from './connection.js';
import { loadHostKeyPolicy } from './host-key.js';
import { sftpTargetOptions } from './sftp-options.js';
import type { ParsedSftpOptions } from './sftp-options.js';
import { sftpStore } from './sftp-store.js';
import { parseSftpUrl } from './sftp-url.js';

/** Stores a repository in a directory on an SFTP server, reached over SSH. */
export const sftpTarget = defineTarget({
  name: 'sftp',
  options: sftpTargetOptions,
  // maxParallel is the default of `connections`: capabilities are declared per plugin, not per instance.
  capabilities: { rangeReads: true, atomicRename: true, maxParallel: 4 },
  urls: { schemes: ['sftp'], parse: parseSftpUrl },
  location: (options) => `sftp://${encodeURIComponent(options.username)}@${hostForUrl(options.host)}:${options.port}${options.path}`,
  async connect(options, ctx) {
    const server = `${options.username}@${hostForUrl(options.host)}:${options.port}`;
    const [privateKey, hostKey] = await Promise.all([loadPrivateKey(options), loadHostKeyPolicy(options)]);
    const pool = new ConnectionPool(options.connections, () => openConnection({ options, server, privateKey, hostKey }), Math.min(options.timeoutMs, 5_000));
    const store = sftpStore({ options, server, pool, logger: ctx.logger });
    try {
      // One connection now, so a wrong password or host key fails here, before any work starts.
      await firstConnection(pool, options, ctx.signal);
    } catch (error) {
      await pool.close();
      throw error;
    }
    return store;
  },
});

async function firstConnection(pool: ConnectionPool, options: ParsedSftpOptions, signal: AbortSignal): Promise<void> {
  await withRetry(
    async () => {
      const { release } = await pool.acquire();
      release();
    },
    { attempts: options.retries + 1, signal, retryable: (error) => error instanceof TargetError && error.code === 'TARGET_UNAVAILABLE' },
  );
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
