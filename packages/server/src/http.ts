import type { IncomingMessage, ServerResponse } from 'node:http';
import { CairnError, redact } from '@cairn/core';
import type { Logger } from '@cairn/core';
import type { z } from 'zod';

/** An answer other than 2xx, with the code and one-line message its JSON body carries. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: { issues?: readonly z.core.$ZodIssue[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
  }
}

/** The HTTP status for a core error code: what the caller can do about it decides it. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  CONFIG_INVALID: 400,
  INVALID_ARGUMENT: 400,
  RESTORE_UNSAFE_PATH: 400,
  NOT_A_DIRECTORY: 400,
  SNAPSHOT_NOT_FOUND: 404,
  PATH_NOT_FOUND: 404,
  REPO_NOT_FOUND: 404,
  QUEUE_UNKNOWN_RUN: 404,
  SNAPSHOT_AMBIGUOUS: 409,
  REPO_LOCKED: 409,
  QUEUE_RUN_STARTED: 409,
  QUEUE_RUN_ENDED: 409,
  QUEUE_RUN_REMOVED: 409,
  REPO_EXISTS: 409,
  TARGET_UNAVAILABLE: 503,
  QUEUE_UNAVAILABLE: 503,
  QUEUE_CLOSED: 503,
  HISTORY_BUSY: 503,
  HISTORY_CLOSED: 503,
};

/** The status, code and message a thrown error answers with; a non-Cairn error says nothing of its insides. */
export function describeError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof CairnError) {
    return new HttpError(STATUS_BY_CODE[error.code] ?? 500, error.code, oneLine(redact(error.message)));
  }
  return new HttpError(500, 'INTERNAL', 'the server failed to answer this request; its log says why');
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').slice(0, 2000);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** Answers with `{ error: { code, message, issues? } }`; a 5xx is logged (message only, never request headers). */
export function sendError(res: ServerResponse, error: unknown, logger: Logger | undefined, what: string): HttpError {
  const http = describeError(error);
  if (http.status >= 500) {
    logger?.error(`api: ${what} failed: ${error instanceof Error ? redact(error.message) : String(error)}`, { code: http.code });
  }
  const body = { error: { code: http.code, message: http.message, ...(http.extra.issues ? { issues: http.extra.issues.map(cleanIssue) } : {}) } };
  sendJson(res, http.status, body, http.extra.headers);
  return http;
}

/** A zod issue as the API returns it: where, what, and the code; never the input itself (it may hold a secret). */
function cleanIssue(issue: z.core.$ZodIssue): { code: string; path: PropertyKey[]; message: string } {
  return { code: issue.code, path: issue.path.map((key) => (typeof key === 'symbol' ? String(key) : key)), message: issue.message };
}

export const DEFAULT_BODY_LIMIT = 64 * 1024;

/**
 * Reads a JSON request body: 415 unless the content type is JSON, 413 past `limit` bytes (from the
 * header or while reading), 400 when it does not parse. An empty body reads as `{}`.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  // A host app's body parser (express.json()) ran first: its result is all there is left to read.
  const parsed = (req as IncomingMessage & { body?: unknown }).body;
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  if (req.readableEnded && parsed !== undefined && isJsonType(type)) return parsed;
  const text = await readBody(req, limit);
  if (text.length === 0 && type === '') return {};
  if (!isJsonType(type)) {
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', `send the body as JSON with content-type: application/json${type ? `, not ${type}` : ''}`);
  }
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'MALFORMED_JSON', 'the request body is not valid JSON');
  }
}

function isJsonType(type: string): boolean {
  return type === 'application/json' || /^application\/[a-z0-9.+-]*\+json$/.test(type);
}

/** Reads and drops a body nobody needs, still refusing one past `limit`. */
export async function skipBody(req: IncomingMessage, limit: number): Promise<void> {
  await readBody(req, limit);
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  if (req.readableEnded) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'PAYLOAD_TOO_LARGE', `the request body is over the limit of ${Math.floor(limit / 1024)} KiB`, { headers: { connection: 'close' } });
}

/** Parses `input` with `schema`, or a 400 carrying the zod issues. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new HttpError(400, 'INVALID_REQUEST', `invalid ${what}: ${result.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ')}`.slice(0, 500), { issues: result.error.issues });
}

/** The client's address (the socket's; a proxy's X-Forwarded-For is not trusted). */
export function clientIp(req: IncomingMessage): string | undefined {
  return req.socket?.remoteAddress ?? undefined;
}
