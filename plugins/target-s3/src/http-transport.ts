import { AsyncLocalStorage } from 'node:async_hooks';
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import { createRequire } from 'node:module';
import { getCACertificates } from 'node:tls';

// Required rather than imported: an ESM import of node:http loads undici, ~50 ms of every
// command's start-up, including the many that never make an HTTP request.
const require = createRequire(import.meta.url);
const http = require('node:http') as typeof Http;
const https = require('node:https') as typeof Https;

/** What the request being made belongs to: set around each call with `inScope`. */
export interface RequestScope {
  signal?: AbortSignal | undefined;
  /** A GET whose body the caller reads at its own pace: its deadline moves to the reader. */
  streaming?: boolean;
}

const scopes = new AsyncLocalStorage<RequestScope>();

/**
 * Runs `operation` so that every HTTP request it makes through the minio client is cancelled by
 * `scope.signal`. The client takes no AbortSignal, so the transport finds it here instead.
 */
export function inScope<T>(scope: RequestScope, operation: () => Promise<T>): Promise<T> {
  return scopes.run(scope, operation);
}

export interface Transport {
  request(options: Http.RequestOptions, callback: (response: Http.IncomingMessage) => void): Http.ClientRequest;
}

export interface HttpConnections {
  agent: Http.Agent;
  transport: Transport;
  /** Ends every connection, busy or idle. */
  close(): void;
}

/** Answers the minio client drops unread (it retries them itself, which we turn off). */
const DROPPED_UNREAD = new Set([408, 429, 499, 500, 502, 503, 504, 520]);

/**
 * A keep-alive pool of at most `connections` sockets, and a transport that gives every request a
 * deadline (`timeoutMs` without progress: connecting, sending or waiting for the answer) and the
 * caller's AbortSignal. A socket that fails is destroyed, so the pool replaces it.
 */
export function httpConnections(options: { useSSL: boolean; connections: number; timeoutMs: number; insecureSkipCertificateCheck: boolean }): HttpConnections {
  const pool = { keepAlive: true, maxSockets: options.connections, maxFreeSockets: options.connections, scheduling: 'lifo' as const };
  const agent = options.useSSL
    ? new https.Agent({ ...pool, ca: trustedCertificates(), rejectUnauthorized: !options.insecureSkipCertificateCheck })
    : new http.Agent(pool);
  const base = options.useSSL ? https : http;
  const seconds = options.timeoutMs % 1000 === 0 ? `${options.timeoutMs / 1000} s` : `${(options.timeoutMs / 1000).toFixed(1)} s`;

  const transport: Transport = {
    request(requestOptions, callback) {
      const scope = scopes.getStore();
      const request = base.request({ ...requestOptions, timeout: options.timeoutMs, ...(scope?.signal ? { signal: scope.signal } : {}) }, (response: Http.IncomingMessage) => {
        const status = response.statusCode ?? 0;
        if (scope?.streaming && status >= 200 && status < 300) request.setTimeout(0);
        if (DROPPED_UNREAD.has(status)) response.resume(); // else the socket would stay busy for good
        callback(response);
      });
      request.on('timeout', () => {
        request.destroy(Object.assign(new Error(`no answer within ${seconds}`), { code: 'ETIMEDOUT' }));
      });
      return request;
    },
  };
  return { agent, transport, close: () => agent.destroy() };
}

let trusted: string[] | undefined;

/** Node's bundled CAs, NODE_EXTRA_CA_CERTS and the system's store, as the issue asks. */
function trustedCertificates(): string[] {
  trusted ??= [...new Set([...getCACertificates('default'), ...getCACertificates('system')])];
  return trusted;
}
