import { AbortedError, CairnError, SourceError, TargetError, isTransientNetworkError, throwIfAborted, withRetry, withTimeout } from '@cairn/core';
import { createAuth, type Auth } from './auth.js';

export interface ClientSettings {
  /** Base URL of the server, without a trailing `/`: `http://127.0.0.1:8080`. */
  url: string;
  token: string;
  timeoutMs: number;
  retries: number;
}

/** A backup reads a server, a restore writes one: the error codes differ. */
export type Role = 'backup' | 'restore';

export interface RequestOptions {
  /** What is being done, for messages: `reading project 5`. */
  what: string;
  query?: Record<string, string>;
  /** A JSON body (already serialised). */
  body?: string;
  /** Safe to send again after a dropped connection or a timeout (GET, DELETE); default: GET and DELETE only. */
  idempotent?: boolean;
  /** Answers that are not errors besides 2xx (e.g. 404 when probing). */
  accept?: number[];
  /** The error for a 404, when the caller knows what is missing. */
  notFound?: () => string;
  /** Extra headers (`Range`). */
  headers?: Record<string, string>;
}

const PLUGIN = 'label-studio';

/** A failure the server answered with an HTTP status (`status`), e.g. 401 for a wrong token. */
export class LabelStudioHttpError extends SourceError {
  constructor(readonly status: number, code: 'SOURCE_UNREADABLE' | 'SOURCE_NOT_FOUND' | 'RESTORE_UNWRITABLE', message: string, options: { cause?: unknown } = {}) {
    super(code, message, { plugin: PLUGIN, ...options });
  }
}

/**
 * The few REST calls the source makes, over `fetch`: every call has a deadline (`timeoutMs` until
 * the answer's headers, and again for each piece of a body), idempotent calls are retried on a
 * dropped connection, a timeout or a 502/503/504, and each failure becomes a one-line SourceError
 * that names the server and says what to do. The token never appears in a message.
 */
export class LabelStudioClient {
  readonly url: string;
  readonly #settings: ClientSettings;
  readonly #auth: Auth;

  constructor(settings: ClientSettings, readonly role: Role, readonly signal: AbortSignal) {
    this.#settings = settings;
    this.url = settings.url;
    this.#auth = createAuth(settings.token, (refresh) => this.#refresh(refresh));
  }

  /** The request's answer, with a status that is 2xx or in `accept`; its body not yet read. */
  async request(method: string, path: string, options: RequestOptions): Promise<Response> {
    const idempotent = options.idempotent ?? (method === 'GET' || method === 'DELETE' || method === 'HEAD');
    const attempts = this.#settings.retries + 1;
    return withRetry(async () => {
      let response = await this.#send(method, path, options, await this.#auth.header());
      if (response.status === 401 && this.#auth.canRefresh) {
        await response.body?.cancel().catch(() => {});
        response = await this.#send(method, path, options, await this.#auth.header(true));
      }
      if (response.ok || options.accept?.includes(response.status)) return response;
      throw await this.#httpError(response, options);
    }, {
      attempts,
      signal: this.signal,
      retryable: (error) => !(error instanceof AbortedError) && (idempotent ? isTransient(error) : refusedBeforeSending(error)),
    });
  }

  async json<T>(method: string, path: string, options: RequestOptions): Promise<T> {
    const response = await this.request(method, path, options);
    const text = await this.text(response, options.what);
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw this.#fail(`${options.what}: ${this.url} answered something that is not JSON (${oneLine(text).slice(0, 80)}): is this a Label Studio server?`, error);
    }
  }

  /** A response body as text, each read with a deadline. */
  async text(response: Response, what: string): Promise<string> {
    const parts: Uint8Array[] = [];
    for await (const part of this.body(response, what)) parts.push(part);
    return Buffer.concat(parts).toString('utf8');
  }

  /** Streams a response body; a piece that takes longer than `timeoutMs` fails the read. */
  async *body(response: Response, what: string): AsyncGenerator<Uint8Array> {
    if (!response.body) return;
    const reader = response.body.getReader();
    let done = false;
    try {
      for (;;) {
        throwIfAborted(this.signal);
        let next: Awaited<ReturnType<typeof reader.read>>;
        try {
          next = await withTimeout(reader.read(), this.#settings.timeoutMs, `${what}: reading the answer of ${this.url}`, {
            plugin: PLUGIN, onTimeout: () => void reader.cancel().catch(() => {}),
          });
        } catch (error) {
          throw this.#toError(error, what);
        }
        if (next.done) {
          done = true;
          return;
        }
        yield next.value;
      }
    } finally {
      if (!done) await reader.cancel().catch(() => {});
      reader.releaseLock();
    }
  }

  async #send(method: string, path: string, options: RequestOptions, authorization: string): Promise<Response> {
    throwIfAborted(this.signal);
    const target = new URL(`${this.url}${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) target.searchParams.set(key, value);
    const controller = new AbortController();
    const onAbort = () => controller.abort(this.signal.reason);
    this.signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await withTimeout(fetch(target, {
        method,
        headers: {
          ...(authorization ? { Authorization: authorization } : {}),
          Accept: 'application/json',
          ...(options.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
          ...options.headers,
        },
        ...(options.body !== undefined ? { body: options.body } : {}),
        signal: controller.signal,
        redirect: 'manual',
      }), this.#settings.timeoutMs, `${options.what}: ${this.url}`, { plugin: PLUGIN, onTimeout: () => controller.abort() });
    } catch (error) {
      throw this.#toError(error, options.what);
    } finally {
      this.signal.removeEventListener('abort', onAbort);
    }
  }

  /** Exchanges a personal access token (a JWT refresh token) for a short-lived access token. */
  async #refresh(refresh: string): Promise<string> {
    const what = 'exchanging the personal access token';
    const response = await withRetry(async () => {
      const answer = await this.#send('POST', '/api/token/refresh/', { what, body: JSON.stringify({ refresh }) }, '');
      if (answer.ok) return answer;
      throw await this.#httpError(answer, { what });
    }, { attempts: this.#settings.retries + 1, signal: this.signal, retryable: refusedBeforeSending });
    const body = JSON.parse(await this.text(response, what)) as { access?: unknown };
    if (typeof body.access !== 'string') throw this.#fail(`${what}: ${this.url} gave no access token: is this Label Studio 1.17 or later?`);
    return body.access;
  }

  async #httpError(response: Response, options: Pick<RequestOptions, 'what' | 'notFound'>): Promise<Error> {
    const detail = await this.#detail(response, options.what);
    const status = response.status;
    const fallback = this.role === 'backup' ? 'SOURCE_UNREADABLE' : 'RESTORE_UNWRITABLE';
    const fail = (message: string, cause?: unknown, code?: 'SOURCE_NOT_FOUND') => new LabelStudioHttpError(status, code ?? fallback, this.#scrub(message), { cause });
    const said = detail ? `: ${detail}` : '';
    if (status === 401) {
      return fail(`${this.url} rejected the API token (HTTP 401${said}): check LABEL_STUDIO_API_KEY; a legacy token works only when legacy tokens are enabled for the organization`);
    }
    if (status === 403) return fail(`${options.what}: the token's user may not do this on ${this.url} (HTTP 403${said}): use the token of a user with access to the project`);
    if (status === 404 && options.notFound) return fail(options.notFound(), undefined, this.role === 'backup' ? 'SOURCE_NOT_FOUND' : undefined);
    if (status >= 300 && status < 400) {
      return fail(`${options.what}: ${this.url} redirects to ${response.headers.get('location') ?? 'elsewhere'} (HTTP ${status}): use the server's own address in the URL (http or https, the right port and path)`);
    }
    if (status === 502 || status === 503 || status === 504) {
      return fail(`${options.what}: ${this.url} answered HTTP ${status} even after retries, a passing server problem: try again later`, new TargetError('TARGET_UNAVAILABLE', `HTTP ${status}`));
    }
    if (status >= 500) return fail(`${options.what}: ${this.url} failed with HTTP ${status}${said}: see the Label Studio server's log`);
    return fail(`${options.what}: ${this.url} refused it (HTTP ${status}${said})`);
  }

  /** The server's own words about a failure, one line, without the token. */
  async #detail(response: Response, what: string): Promise<string> {
    let text: string;
    try {
      text = await this.text(response, what);
    } catch {
      return '';
    }
    let detail = text;
    try {
      const body = JSON.parse(text) as { detail?: unknown; validation_errors?: unknown };
      detail = body.validation_errors !== undefined ? JSON.stringify(body.validation_errors) : typeof body.detail === 'string' ? body.detail : text;
    } catch {
      if (/<html/i.test(text)) detail = '';
    }
    return this.#scrub(oneLine(detail)).slice(0, 300);
  }

  #toError(error: unknown, what: string): Error {
    if (error instanceof AbortedError || (error instanceof SourceError && error.plugin === PLUGIN)) return error;
    if (this.signal.aborted) return new AbortedError(undefined, { cause: this.signal.reason });
    if (error instanceof TargetError && error.code === 'TARGET_UNAVAILABLE') {
      return this.#fail(`${what}: ${this.url} did not answer within ${this.#settings.timeoutMs / 1000} s: check that the server is up, or raise timeoutMs`, error);
    }
    const code = networkCode(error);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return this.#fail(`cannot resolve the host of ${this.url} (${code}): check the host in the URL`, error);
    if (code && /^(ERR_SSL|EPROTO|ERR_TLS|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO)/.test(code)) {
      return this.#fail(`${what}: TLS with ${this.url} failed (${code}): use label-studio+http:// for plain HTTP, or trust the server's certificate (NODE_EXTRA_CA_CERTS)`, error);
    }
    if (code || isTransientNetworkError(error)) {
      return this.#fail(`cannot reach Label Studio at ${this.url} (${code ?? 'connection failed'}): check the host and port in the URL and that the server is running`, error);
    }
    if (error instanceof CairnError) return error;
    return this.#fail(`${what}: ${this.#scrub(oneLine(error instanceof Error ? error.message : String(error)))}`, error);
  }

  #fail(message: string, cause?: unknown, code?: 'SOURCE_NOT_FOUND'): SourceError {
    const fallback = this.role === 'backup' ? 'SOURCE_UNREADABLE' : 'RESTORE_UNWRITABLE';
    return new SourceError(code ?? fallback, this.#scrub(message), { plugin: PLUGIN, cause });
  }

  #scrub(text: string): string {
    const token = this.#settings.token;
    return token && text.includes(token) ? text.split(token).join('***') : text;
  }
}

/** The code of a network failure (`ECONNREFUSED`), looking through fetch's `cause`. */
function networkCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'SOURCE_UNREADABLE' && code !== 'RESTORE_UNWRITABLE') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function isTransient(error: unknown): boolean {
  return isTransientNetworkError(error);
}

/** A request that cannot have reached the server: safe to send again even when it is not idempotent. */
function refusedBeforeSending(error: unknown): boolean {
  const code = networkCode(error);
  return code === 'ECONNREFUSED' || code === 'EAI_AGAIN';
}

function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, ' ').trim();
}
