import type { Readable } from 'node:stream';
import { readFile } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import type { Socket } from 'node:net';
import { TargetError, withTimeout } from '@cairn/core';
import type { ConnectConfig, SFTPWrapper } from 'ssh2';
import type { HostKeyPolicy } from './host-key.js';
import { expandHome } from './host-key.js';
import type { ParsedSftpOptions } from './sftp-options.js';

/**
 * The part of ssh2-sftp-client v12 this plugin uses. Its @types package describes v9 and leaves
 * out the live `sftp` session and the ssh2 `client` (both plain properties in src/index.js).
 */
interface SftpClientV12 {
  connect(config: ConnectConfig): Promise<SFTPWrapper>;
  /** Adds a listener on the underlying ssh2 Client (prepended). */
  on(event: 'error', listener: (error: Error & { level?: string; code?: string }) => void): void;
  on(event: 'close' | 'end', listener: () => void): void;
  end(): Promise<boolean>;
  list(path: string): Promise<Array<{ type: string; name: string; size: number; modifyTime: number }>>;
  stat(path: string): Promise<{ size: number; isFile: boolean; isDirectory: boolean }>;
  delete(path: string, notFoundOK?: boolean): Promise<string>;
  rename(from: string, to: string): Promise<string>;
  posixRename(from: string, to: string): Promise<string>;
  createReadStream(path: string, options: { start?: number; end?: number; highWaterMark?: number }): Readable;
  client: { destroy(): void };
}

/** ssh2's SFTP session with the two internals it fills in from the server's hello. */
export type RawSftp = SFTPWrapper & { _extensions?: Record<string, string>; _maxWriteLen?: number; _maxReadLen?: number };

/** Everything a connection needs, read once per store: the key file and the host-key check. */
export interface ConnectionSettings {
  options: ParsedSftpOptions;
  /** `user@host:port`, for messages. */
  server: string;
  privateKey: Buffer | undefined;
  hostKey: HostKeyPolicy;
}

/** One SSH connection with its SFTP session. */
export class SftpConnection {
  /** Operations using this connection now, for spreading work over the pool. */
  active = 0;
  broken = false;
  private readonly onBroken = new Set<() => void>();

  constructor(
    readonly client: SftpClientV12,
    readonly sftp: RawSftp,
  ) {
    const broke = () => {
      if (this.broken) return;
      this.broken = true;
      for (const listener of this.onBroken) listener();
    };
    client.on('error', broke);
    client.on('close', broke);
    client.on('end', broke);
  }

  /** Whether the server offered an SFTP extension (`posix-rename@openssh.com`, `fsync@openssh.com`…). */
  supports(extension: string): boolean {
    return this.sftp._extensions?.[extension] !== undefined;
  }

  /** The largest READ the server answers in full (OpenSSH tells through limits@openssh.com). */
  get maxReadLength(): number {
    return this.sftp._maxReadLen ?? 32 * 1024;
  }

  /** The largest WRITE the server accepts (OpenSSH tells through limits@openssh.com). */
  get maxWriteLength(): number {
    return this.sftp._maxWriteLen ?? 32 * 1024;
  }

  whenBroken(listener: () => void): () => void {
    this.onBroken.add(listener);
    return () => this.onBroken.delete(listener);
  }

  /** Drops the socket at once: requests still pending fail, and the connection is never used again. */
  destroy(): void {
    this.broken = true;
    this.client.client.destroy();
  }

  /** Ends the session politely, within `ms`, then makes sure the socket is gone. */
  async end(ms: number): Promise<void> {
    this.broken = true;
    await withTimeout(this.client.end(), ms, 'closing the connection').catch(() => undefined);
    this.client.client.destroy();
  }
}

/** Reads the private key (once per store) and checks that it can be used, before any connection. */
export async function loadPrivateKey(options: ParsedSftpOptions): Promise<Buffer | undefined> {
  if (options.privateKey === undefined) return undefined;
  const path = expandHome(options.privateKey);
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new TargetError('TARGET_PERMISSION', `cannot read the private key file ${path} (${code}): check the path given as key=`, { plugin: 'sftp', cause: error });
  }
  const ssh2 = await commonJs<typeof import('ssh2')>(import('ssh2'));
  const parsed = ssh2.utils.parseKey(data, options.passphrase);
  if (parsed instanceof Error) {
    const why = /no passphrase given/i.test(parsed.message)
      ? 'it is encrypted and no passphrase was given: set CAIRN_TARGET_KEY_PASSPHRASE'
      : /bad passphrase|integrity check failed|decrypt/i.test(parsed.message)
        ? 'the passphrase is wrong: check CAIRN_TARGET_KEY_PASSPHRASE'
        : `it is not a private key this client can read (${parsed.message})`;
    throw new TargetError('TARGET_PERMISSION', `cannot use the private key ${path}: ${why}`, { plugin: 'sftp' });
  }
  return data;
}

/**
 * Opens one connection. Fails with TARGET_PERMISSION (never worth retrying) for a refused login
 * or host key, and with TARGET_UNAVAILABLE for a server that cannot be reached or stops answering.
 */
export async function openConnection(settings: ConnectionSettings): Promise<SftpConnection> {
  const { options, server } = settings;
  const where = `${options.host}:${options.port}`;
  let rejectedHostKey: TargetError | undefined;
  let lastError: (Error & { level?: string; code?: string }) | undefined;
  const ignore = () => undefined;
  // Loaded on first use, not with the plugin: a process that never talks to an SSH server (the CLI's
  // --help, a local backup) does not pay for the client's ~11 MiB.
  const SftpClient = await commonJs<typeof import('ssh2-sftp-client')>(import('ssh2-sftp-client'));
  // The library's default global listeners print to the console; the connection's own listeners report instead.
  const client = new SftpClient('cairn', { error: ignore, end: ignore, close: ignore }) as unknown as SftpClientV12;
  client.on('error', (error) => {
    lastError = error;
  });
  const socket = openSocket(options.host, options.port);
  const config: ConnectConfig = {
    host: options.host,
    port: options.port,
    sock: socket,
    username: options.username,
    readyTimeout: options.timeoutMs,
    hostVerifier: (key: Buffer) => {
      rejectedHostKey = settings.hostKey.verify(key);
      return rejectedHostKey === undefined;
    },
    ...(options.password !== undefined ? { password: options.password } : {}),
    ...(settings.privateKey !== undefined ? { privateKey: settings.privateKey } : {}),
    ...(options.passphrase !== undefined ? { passphrase: options.passphrase } : {}),
    ...(settings.hostKey.algorithms ? { algorithms: { serverHostKey: settings.hostKey.algorithms as never } } : {}),
  };
  try {
    const sftp = await withTimeout(client.connect(config), options.timeoutMs, `connecting to ${server}`, { plugin: 'sftp', onTimeout: () => client.client.destroy() });
    return new SftpConnection(client, sftp as RawSftp);
  } catch (error) {
    client.client.destroy();
    socket.destroy();
    if (rejectedHostKey) throw rejectedHostKey;
    throw connectError(error, lastError, options, where, settings.privateKey !== undefined);
  }
}

/**
 * The TCP connection of one SSH session. ssh2 writes each SSH packet in three or four pieces
 * (length, ciphertext, tag), one write each. Under Nagle's algorithm a request's later pieces wait
 * for the server to acknowledge the first, which its delayed ACK holds back for up to 40 ms: every
 * request would cost that. So Nagle is off, and what is written in one tick goes out as one
 * `writev` when the tick ends: full segments, and one system call instead of dozens.
 */
function openSocket(host: string, port: number): Socket {
  const socket = connectTcp({ host, port, noDelay: true });
  // On top of the instance's own `write`, which connect() has just set (so a subclass cannot override it).
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let batching = false;
  socket.write = ((...args: unknown[]) => {
    if (!batching) {
      batching = true;
      socket.cork();
      process.nextTick(() => {
        batching = false;
        socket.uncork();
      });
    }
    return write(...args);
  }) as Socket['write'];
  return socket;
}

function connectError(error: unknown, raw: (Error & { level?: string; code?: string }) | undefined, options: ParsedSftpOptions, where: string, withKey: boolean): TargetError {
  if (error instanceof TargetError) return error;
  const cause = raw ?? error;
  const level = raw?.level;
  const code = raw?.code ?? (error as { code?: unknown }).code;
  const message = (raw ?? (error as Error)).message ?? String(error);
  if (level === 'client-authentication' || /authentication methods failed/i.test(message)) {
    const fix = withKey
      ? `check that the key${options.password !== undefined ? ' or the password' : ''} is accepted for "${options.username}" (its ~/.ssh/authorized_keys)`
      : 'check the password (in the URL or CAIRN_TARGET_PASSWORD)';
    return new TargetError('TARGET_PERMISSION', `authentication as "${options.username}" on ${where} failed: ${fix}`, { plugin: 'sftp', cause });
  }
  if (level === 'client-timeout' || /timed out/i.test(message)) {
    return new TargetError('TARGET_UNAVAILABLE', `no answer from the SSH server at ${where} within ${options.timeoutMs / 1000} s: is it running and reachable?`, { plugin: 'sftp', cause });
  }
  if (code === 'ECONNREFUSED') {
    return new TargetError('TARGET_UNAVAILABLE', `cannot connect to ${where} (connection refused): is the SSH server running, and is the port right?`, { plugin: 'sftp', cause });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new TargetError('TARGET_UNAVAILABLE', `cannot resolve the host name ${options.host} (${code}): check the host in the repository URL`, { plugin: 'sftp', cause });
  }
  if (level === 'client-socket' || typeof code === 'string' || /Unexpected (end|close)|No response|reset/i.test(message)) {
    return new TargetError('TARGET_UNAVAILABLE', `the connection to ${where} failed (${typeof code === 'string' ? `${code}: ` : ''}${message.replace(/^\w+: /, '')})`, { plugin: 'sftp', cause });
  }
  // A handshake the two sides cannot agree on, or a server without the SFTP subsystem: retrying will not help.
  return new TargetError('TARGET_IO', `cannot open an SFTP session on ${where} (${message.replace(/^\w+: /, '')})`, { plugin: 'sftp', cause });
}

/** A CommonJS module's `module.exports` from a dynamic import (their types leave out `default`). */
async function commonJs<T>(loading: Promise<unknown>): Promise<T> {
  return ((await loading) as { default: T }).default;
}
