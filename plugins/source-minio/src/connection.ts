import type { IncomingMessage } from 'node:http';
import type { Client } from 'minio';
import { withRetry } from '@cairn/core';
import type { Logger } from '@cairn/core';
import { toSourceError, isTransient } from './errors.js';
import type { ErrorScene } from './errors.js';
import { httpConnections, inScope } from './http-transport.js';
import type { MinioSettings } from './minio-source.js';

export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** A GET whose body the caller streams (its read deadline is per chunk, see download.ts). */
  streaming?: boolean;
}

/** One client and its connection pool, with how to run a request against the bucket. */
export interface Connection {
  readonly client: Client;
  readonly settings: MinioSettings;
  /** `host:port`, for messages. */
  readonly server: string;
  /**
   * Runs `operation` (one request, or a unit that is safe to repeat) under the request deadline
   * and `signal`, retries passing failures with backoff, and turns the last failure into a
   * one-line SourceError.
   */
  call<T>(what: string, operation: (attempt: number) => Promise<T>, options?: CallOptions): Promise<T>;
  scene(what: string): ErrorScene;
  /** Ends idle connections; requests still running finish. */
  release(): void;
  /** Ends every connection. */
  close(): void;
}

export async function connect(settings: MinioSettings, role: ErrorScene['role'], logger: Logger): Promise<Connection> {
  const port = settings.port ?? (settings.useSSL ? 443 : 80);
  const host = settings.endpoint.replace(/^\[|\]$/g, '');
  const server = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  // Downloads or uploads in flight, plus listing and metadata requests beside them.
  const connections = httpConnections({ ...settings, connections: settings.concurrency + 4 });
  // Loaded on first use, not with the plugin: a process that never talks to MinIO (the CLI's
  // --help, a local backup) does not pay for the client's ~28 MiB.
  const { Client } = await import('minio');
  const client = new Client({
    endPoint: host,
    port,
    useSSL: settings.useSSL,
    accessKey: settings.accessKey,
    secretKey: settings.secretKey,
    ...(settings.sessionToken ? { sessionToken: settings.sessionToken } : {}),
    region: settings.region,
    pathStyle: true,
    transport: connections.transport as never,
    transportAgent: connections.agent,
    retryOptions: { disableRetry: true }, // we retry, with our own backoff and error mapping
  });
  const scene = (what: string): ErrorScene => ({ what, server, bucket: settings.bucket, accessKey: settings.accessKey, role });
  return {
    client,
    settings,
    server,
    scene,
    async call(what, operation, options = {}) {
      try {
        return await withRetry(
          (attempt) => inScope({ signal: options.signal, streaming: options.streaming ?? false }, () => operation(attempt)),
          {
            attempts: settings.retries + 1,
            signal: options.signal,
            retryable: isTransient,
            onRetry: (error, attempt, delayMs) => logger.debug(`[minio] ${what}: ${(error as Error).message}; try ${attempt + 1} of ${settings.retries + 1} in ${Math.round(delayMs)} ms`),
          },
        );
      } catch (error) {
        throw toSourceError(error, scene(what));
      }
    },
    release: () => connections.closeIdle(),
    close: () => connections.close(),
  };
}

/** Reads a (small) answer body as text. */
export async function readText(response: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of response) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

/** S3's flavour of URI encoding for query values (RFC 3986: `!'()*` too). */
export function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Undoes the five XML entities and numeric character references. */
export function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-f]+);/gi, (_entity, name: string) => {
    switch (name.toLowerCase()) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'quot': return '"';
      case 'apos': return "'";
      case 'amp': return '&';
      default: return String.fromCodePoint(name[1]!.toLowerCase() === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10));
    }
  });
}
