import { defineTarget } from '@cairn/core';
import { z } from 'zod';
import { ConnectionPool } from './connection-pool.js';
import { ftpStore } from './ftp-store.js';
import { parseFtpUrl } from './ftp-url.js';

/** A restore reads six files at once; with fewer connections their transfers cut each other short (FTP restore 11.5 → 9.0 s). */
const DEFAULT_CONNECTIONS = 6;

export const ftpTargetOptions = z.object({
  host: z.string().min(1).describe('Host name or IP address of the FTP server.'),
  port: z.number().int().min(1).max(65535).default(21).describe('Port of the control connection.'),
  username: z.string().min(1).describe('User to log in as.'),
  password: z.string().optional().describe('Password of that user; in a URL it may be left out and given in CAIRN_TARGET_PASSWORD instead. Never logged.'),
  path: z.string().startsWith('/', 'expected an absolute path on the server, starting with "/"').describe('Absolute directory on the server the repository lives in; created on first write.'),
  secure: z.enum(['none', 'explicit']).default('none').describe('"explicit": FTPS, upgrading the control connection with AUTH TLS and protecting data connections (PROT P); "none": plain FTP, readable by anyone on the network path.'),
  insecureSkipCertificateCheck: z.boolean().default(false).describe('Accept any TLS certificate, even one not signed by a trusted CA or issued for another host. Only for testing: anyone on the network path can then read and change the backup traffic.'),
  connections: z.number().int().min(1).max(64).default(DEFAULT_CONNECTIONS).describe('Connections kept open to the server; FTP carries one transfer per connection, so this is the number of transfers in parallel.'),
  timeoutMs: z.number().int().min(100).default(30_000).describe('How long a connection attempt, a command or a stalled transfer may take before it counts as failed.'),
  retries: z.number().int().min(0).max(20).default(5).describe('How often a failed network operation is tried again (with exponential back-off and jitter) before the error is reported.'),
});

export type FtpTargetOptions = z.input<typeof ftpTargetOptions>;
type ParsedOptions = z.output<typeof ftpTargetOptions>;

/** Stores a repository on an FTP server, over plain FTP or explicit FTPS, in passive mode. */
export const ftpTarget = defineTarget({
  name: 'ftp',
  options: ftpTargetOptions,
  // maxParallel is the default pool size: capabilities are declared per plugin, not per instance.
  capabilities: { rangeReads: true, atomicRename: true, maxParallel: DEFAULT_CONNECTIONS },
  urls: { schemes: ['ftp', 'ftps'], parse: parseFtpUrl },
  location: ftpLocation,
  async connect(options, ctx) {
    const pool = new ConnectionPool(options, ctx.logger);
    return ftpStore(pool, options, ctx.logger);
  },
});

/** `ftps://user@host:port/path`, without the password. */
export function ftpLocation(options: ParsedOptions): string {
  const scheme = options.secure === 'explicit' ? 'ftps' : 'ftp';
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const path = options.path.split('/').map(encodeURIComponent).join('/');
  return `${scheme}://${encodeURIComponent(options.username)}@${host}:${options.port}${path}`;
}
