import type { IncomingMessage, ServerResponse } from 'node:http';
import { isAbsolute, resolve } from 'node:path';
import type { Cairn, CairnConfig, HistoryStore, JobQueue, Logger, Scheduler } from '@cairn/core';
import { parseOptions, redact } from '@cairn/core';
import { z } from 'zod';
import { authOptions, bearerToken, createAuthenticator, hasRole } from './auth.js';
import type { AuthOptions, Principal } from './auth.js';
import type { ApiContext } from './context.js';
import { applyCors } from './cors.js';
import { DEFAULT_BODY_LIMIT, HttpError, clientIp, parseInput, readJsonBody, sendError, sendJson, skipBody } from './http.js';
import { buildOpenApi } from './openapi.js';
import { createRateLimiter } from './rate-limit.js';
import { RestoreRuns } from './restores.js';
import { createRouter } from './router.js';
import type { AnyRoute, RouteContext } from './router.js';
import { auditRoutes } from './routes/audit.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';
import { meRoutes } from './routes/me.js';
import { repositoryRoutes } from './routes/repositories.js';
import { restoreRoutes } from './routes/restores.js';
import { runRoutes } from './routes/runs.js';
import { scheduleRoutes } from './routes/schedules.js';
import { settingsRoutes } from './routes/settings.js';
import { RunFeed } from './run-feed.js';
import { RunsView } from './runs.js';
import { serveStatic } from './static-files.js';

/** Audit records a minute for refused writes without a valid token, per client address. */
const ANONYMOUS_AUDITS_PER_MINUTE = 10;

export interface CairnApiOptions {
  /** The orchestrator, with the history recorder already applied by the caller. */
  cairn: Cairn;
  config: CairnConfig;
  /** Triggers are enqueued here; the caller makes sure something processes it. */
  queue: JobQueue;
  /** Runs, logs and audit records. */
  history: HistoryStore;
  /** Schedules list, pause and resume; without it the schedule endpoints answer 404. */
  scheduler?: Scheduler;
  auth: AuthOptions;
  rateLimit?: { triggersPerMinute?: number };
  /** Origins allowed to call the API from a browser; closed (no CORS headers) unless given. */
  cors?: { origins: string[] };
  /**
   * The folder on the server that restores into a folder go into: a request's `targetDir` is a
   * path inside it. Without it, the API restores into live systems (`to`) only.
   */
  restoreDir?: string;
  /** A built single-page app served at `/` (GET only, no auth), every unknown path answering with its index.html. */
  dashboardDir?: string;
  /** Where repository passwords named by the config are read. Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  logger?: Logger;
  /** Largest request body in bytes (default 64 KiB). */
  bodyLimit?: number;
}

export const cairnApiOptions = z.object({
  rateLimit: z.strictObject({ triggersPerMinute: z.number().int().min(1).max(100_000).default(5).describe('Backups and restores a user (token subject) may start a minute.') }).default({ triggersPerMinute: 5 }),
  cors: z.strictObject({ origins: z.array(z.string().min(1)).describe('Origins allowed to call the API from a browser (`https://ops.example.com`).') }).optional(),
  dashboardDir: z.string().min(1).optional(),
  restoreDir: z.string().min(1).refine(isAbsolute, 'expected an absolute path').optional().describe('The folder restores into a folder go into.'),
  bodyLimit: z.number().int().min(1024).max(16 * 1024 * 1024).default(DEFAULT_BODY_LIMIT),
});

/** A plugin for Fastify: `app.register(api.fastifyPlugin, { prefix: '/backups' })`. Typed loosely so the package needs no Fastify. */
export type FastifyPluginLike = (instance: FastifyInstanceLike, options: unknown, done: (error?: Error) => void) => void;

interface FastifyInstanceLike {
  prefix: string;
  removeAllContentTypeParsers(): void;
  addContentTypeParser(type: string, handler: (request: unknown, payload: unknown, done: (error: Error | null, body?: unknown) => void) => void): void;
  route(options: { method: string[]; url: string; handler: (request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): void }) => void }): void;
}

export interface CairnApi {
  /** A `node:http` request listener; also Express middleware (`app.use('/backups', api.handler)`). */
  handler(req: IncomingMessage, res: ServerResponse): void;
  fastifyPlugin: FastifyPluginLike;
  /** The OpenAPI 3.1 document (also served at /api/openapi.json). */
  openapi: Record<string, unknown>;
  /** Ends event streams and aborts the restores this API started, waiting for them. */
  close(): Promise<void>;
}

const VERSION = '0.1.0';

/** Cairn's HTTP API over a config, a queue and a history store; see docs/api.md. */
export function createCairnApi(options: CairnApiOptions): CairnApi {
  const auth = parseOptions('server', authOptions, options.auth);
  const settings = parseOptions('server', cairnApiOptions, {
    ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}), ...(options.cors ? { cors: options.cors } : {}),
    ...(options.dashboardDir ? { dashboardDir: options.dashboardDir } : {}), ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
    ...(options.restoreDir !== undefined ? { restoreDir: options.restoreDir } : {}),
  });
  const { cairn, config, queue, history, logger } = options;
  const closing = new AbortController();
  const feed = new RunFeed(queue, cairn);
  const restores = new RestoreRuns(cairn, feed, logger);
  const api: ApiContext = {
    cairn, config, queue, history, scheduler: options.scheduler, env: options.env ?? process.env, logger, feed, restores,
    restoreDir: settings.restoreDir === undefined ? undefined : resolve(settings.restoreDir),
    runs: new RunsView(history, queue, feed, restores),
    limitTriggers: createRateLimiter(settings.rateLimit.triggersPerMinute),
    closing: closing.signal,
  };
  const authenticate = createAuthenticator(auth);
  const routes: AnyRoute[] = [
    ...healthRoutes(api), ...meRoutes(), ...settingsRoutes(api), ...jobRoutes(api), ...runRoutes(api), ...scheduleRoutes(api),
    ...repositoryRoutes(api), ...restoreRoutes(api), ...auditRoutes(api),
  ];
  const openapi = buildOpenApi(routes, VERSION);
  const openapiText = JSON.stringify(openapi);
  const find = createRouter(routes);
  const inFlight = new Set<Promise<void>>();

  // Refused writes without a valid token are audited too, but only a few a minute per address:
  // otherwise anyone who can reach the port could fill the history store.
  const limitAnonymousAudits = createRateLimiter(ANONYMOUS_AUDITS_PER_MINUTE);

  async function audit(route: AnyRoute, ctx: Pick<RouteContext, 'audit' | 'ip'> & { principal?: Principal }, status: number, code?: string): Promise<void> {
    if (!ctx.principal) {
      try {
        limitAnonymousAudits(ctx.ip ?? '-');
      } catch {
        return;
      }
    }
    try {
      await history.recordAudit({
        time: new Date().toISOString(), actor: ctx.principal?.subject ?? 'anonymous', action: route.audit!,
        target: ctx.audit.target ?? '-', status, ...(ctx.ip ? { ip: ctx.ip } : {}), ...(code ? { code } : {}),
        ...(ctx.audit.runId ? { runId: ctx.audit.runId } : {}),
      });
    } catch (error) {
      // The write happened; losing its record is logged loudly, not turned into a failed request.
      logger?.error(`api: could not record the audit of ${route.audit}: ${error instanceof Error ? redact(error.message) : String(error)}`);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    if (applyCors(settings.cors?.origins, req, res)) return;
    const method = (req.method ?? 'GET').toUpperCase();
    if (path === '/api/openapi.json' && (method === 'GET' || method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' });
      res.end(method === 'HEAD' ? undefined : openapiText);
      return;
    }
    const match = find(method, path);
    if (!match) {
      const isApi = path === '/api' || path.startsWith('/api/');
      if (!isApi && settings.dashboardDir && (method === 'GET' || method === 'HEAD') && await serveStatic(settings.dashboardDir, url.pathname, req, res)) return;
      throw new HttpError(404, 'NOT_FOUND', `no endpoint ${method} ${path}${isApi ? ': see /api/openapi.json' : ''}`);
    }
    if ('allowed' in match) {
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${path} answers ${[...new Set(match.allowed)].join(', ')}, not ${method}`, { headers: { allow: [...new Set(match.allowed)].join(', ') } });
    }
    const { route, params } = match;
    const ctx: Omit<RouteContext, 'principal'> & { principal?: Principal } = {
      req, res, params, query: undefined, body: undefined, ip: clientIp(req), audit: {},
    };
    try {
      if (route.role !== null) {
        ctx.principal = await authenticate(bearerToken(req, url.searchParams, route.queryToken === true));
        if (route.role !== 'authenticated' && !hasRole(ctx.principal, route.role)) {
          throw new HttpError(403, 'FORBIDDEN', `${method} ${path} needs the ${route.role} role; this token has ${ctx.principal.roles.join(', ') || 'none'}`);
        }
      }
      ctx.query = route.query ? parseInput(route.query, Object.fromEntries(url.searchParams), 'query') : {};
      if (method === 'POST' || method === 'DELETE') {
        if (route.body) {
          const raw = await readJsonBody(req, settings.bodyLimit);
          ctx.body = route.rawBody ? raw : parseInput(route.body, raw, 'body');
        } else {
          await skipBody(req, settings.bodyLimit);
        }
      }
      const reply = await route.handle(ctx as RouteContext);
      if (reply) {
        sendJson(res, reply.status, reply.body, reply.headers);
        if (route.audit) await audit(route, ctx, reply.status);
      }
    } catch (error) {
      const answered = sendError(res, error, logger, `${method} ${path}`);
      if (route.audit) await audit(route, ctx, answered.status, answered.code);
    }
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const done = handle(req, res).catch((error: unknown) => {
      sendError(res, error, logger, `${req.method ?? 'GET'} request`);
    }).finally(() => {
      inFlight.delete(done);
      // A body nobody read (a refused request) is drained, so the client reads the answer rather than a reset.
      if (!req.readableEnded) req.resume();
    });
    inFlight.add(done);
  };

  const fastifyPlugin: FastifyPluginLike = (instance, _options, done) => {
    const prefix = instance.prefix.replace(/\/+$/, '');
    // The API reads its own bodies: Fastify's parsers must leave the stream alone.
    instance.removeAllContentTypeParsers();
    instance.addContentTypeParser('*', (_request, _payload, next) => next(null));
    const forward = (request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): void }): void => {
      reply.hijack();
      const raw = request.raw;
      const url = raw.url ?? '/';
      if (prefix && url.startsWith(prefix)) raw.url = url.slice(prefix.length) || '/';
      handler(raw, reply.raw);
    };
    const methods = ['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS', 'PUT', 'PATCH'];
    instance.route({ method: methods, url: '/', handler: forward });
    instance.route({ method: methods, url: '/*', handler: forward });
    done();
  };
  // Fastify reads these to name the plugin and to leave it encapsulated (its own content-type parsers).
  Object.assign(fastifyPlugin, { [Symbol.for('fastify.display-name')]: 'cairn-api' });

  return {
    handler,
    fastifyPlugin,
    openapi,
    async close() {
      closing.abort();
      await restores.close();
      await Promise.allSettled([...inFlight]);
      feed.close();
    },
  };
}
