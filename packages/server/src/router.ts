import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { Principal, Role } from './auth.js';

export type Method = 'GET' | 'POST' | 'DELETE';

/** What a route answers, unless it writes the response itself (an event stream) and returns nothing. */
export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface RouteContext<Query = unknown, Body = unknown> {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: Query;
  body: Body;
  /** Absent on public routes only. */
  principal: Principal;
  ip: string | undefined;
  /** Set by a write route for its audit record: what it acted on, the run it started. */
  audit: { target?: string; runId?: string };
}

export interface Route<Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  method: Method;
  /** `/api/runs/:id`: `:name` segments become `params`. */
  path: string;
  /** The least role it needs; `authenticated` for any valid token; null for a public route (no token). */
  role: Role | 'authenticated' | null;
  summary: string;
  tag: string;
  query?: Q;
  body?: B;
  /** Path parameters, described for the OpenAPI document. */
  params?: Record<string, string>;
  /** Answers other than errors, by status, for the OpenAPI document: a JSON body's schema, or another content type. */
  responses: Record<number, { description: string; schema: z.ZodType } | { description: string; contentType: string }>;
  /** Error answers with reasons of this route's own, by status: what they mean here (the document adds the common ones). */
  errors?: Record<number, string>;
  /** The handler parses the JSON body itself (`body` then only documents it): a union whose branch depends on the input. */
  rawBody?: boolean;
  /** Writes are audited under this action. */
  audit?: string;
  /** This route also takes its token from `?access_token=` (an EventSource cannot send headers). */
  queryToken?: boolean;
  handle(ctx: RouteContext<z.output<Q>, z.output<B>>): Promise<Reply | void>;
}

/** A route with its types erased, as the table holds it. */
export type AnyRoute = Route<z.ZodType, z.ZodType>;

/** Declares a route, keeping the types of its query and body schemas for its handler. */
export function route<Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType>(spec: Route<Q, B>): AnyRoute {
  return spec as unknown as AnyRoute;
}

interface Compiled {
  route: AnyRoute;
  pattern: RegExp;
  names: string[];
}

export interface Match {
  route: AnyRoute;
  params: Record<string, string>;
}

/** Finds the route for a method and path; `allowed` lists the methods a known path takes (for 405). */
export function createRouter(routes: readonly AnyRoute[]): (method: string, path: string) => Match | { allowed: Method[] } | undefined {
  const compiled: Compiled[] = routes.map((route) => {
    const names: string[] = [];
    const source = route.path.split('/').map((segment) => {
      if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(segment.slice(1));
      return '([^/]+)';
    }).join('/');
    return { route, pattern: new RegExp(`^${source}$`), names };
  });
  return (method, path) => {
    const allowed: Method[] = [];
    for (const { route, pattern, names } of compiled) {
      const match = pattern.exec(path);
      if (!match) continue;
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      let ok = true;
      names.forEach((name, i) => {
        try {
          params[name] = decodeURIComponent(match[i + 1]!);
        } catch {
          ok = false;
        }
      });
      if (ok) return { route, params };
    }
    return allowed.length ? { allowed } : undefined;
  };
}
