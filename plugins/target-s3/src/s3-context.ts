import type { IncomingMessage } from 'node:http';
import { finished } from 'node:stream/promises';
import type { Client } from 'minio';
import { TargetError, withRetry } from '@cairn/core';
import type { Logger } from '@cairn/core';
import { inScope } from './http-transport.js';
import { toTargetError } from './s3-errors.js';
import type { ErrorScene } from './s3-errors.js';
import type { S3Settings } from './s3-target.js';

export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** A GET whose body the caller streams (its read deadline is per chunk, see download.ts). */
  streaming?: boolean;
}

/** What the store's parts share: the client, the settings, and how to run a request. */
export interface S3Context {
  readonly client: Client;
  readonly settings: S3Settings;
  /** `host:port`, for messages. */
  readonly server: string;
  /** The object name of a key: the repository prefix and the key. */
  objectName(key: string): string;
  /** The part of the object names every key of the store starts with: `prefix/`, or nothing. */
  readonly base: string;
  /**
   * Runs `operation` (one request, or a unit that is safe to repeat) with the request deadline and
   * the signal, turns failures into TargetErrors, and retries TARGET_UNAVAILABLE with backoff.
   */
  call<T>(what: string, operation: (attempt: number) => Promise<T>, options?: CallOptions): Promise<T>;
  scene(what: string): ErrorScene;
}

export function s3Context(client: Client, settings: S3Settings, server: string, logger: Logger): S3Context {
  const base = settings.prefix ? `${settings.prefix}/` : '';
  const scene = (what: string): ErrorScene => ({ what, server, bucket: settings.bucket, accessKey: settings.accessKey });
  return {
    client,
    settings,
    server,
    base,
    objectName: (key) => base + key,
    scene,
    call(what, operation, options = {}) {
      return withRetry(
        async (attempt) => {
          try {
            return await inScope({ signal: options.signal, streaming: options.streaming ?? false }, () => operation(attempt));
          } catch (error) {
            throw toTargetError(error, scene(what));
          }
        },
        {
          attempts: settings.retries + 1,
          signal: options.signal,
          retryable: isUnavailable,
          onRetry: (error, attempt, delayMs) => logger.debug(`[s3] ${(error as Error).message}; try ${attempt + 1} of ${settings.retries + 1} in ${Math.round(delayMs)} ms`),
        },
      );
    },
  };
}

export function isUnavailable(error: unknown): boolean {
  return error instanceof TargetError && error.code === 'TARGET_UNAVAILABLE';
}

/** Reads a (small) answer body as text. */
export async function readText(response: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of response) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

/** Lets an answer's body go, so its connection returns to the pool. */
export async function drain(response: IncomingMessage): Promise<void> {
  response.resume();
  await finished(response);
}

/** S3's flavour of URI encoding for query values (RFC 3986: `!'()*` too). */
export function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
