import { z } from 'zod';
import type { AnyRoute } from './router.js';
import { errorBody } from './schemas.js';

const ERRORS: Record<number, string> = {
  400: 'Invalid request: the body or query does not match (`issues` says where), or the JSON is malformed.',
  401: 'Missing, malformed, expired or badly signed token, or one for another audience or issuer.',
  403: 'The token lacks the role this endpoint needs.',
  404: 'Not found.',
  409: 'Conflict (an ambiguous type, a run that already ended).',
  413: 'Body over 64 KiB.',
  415: 'Body not sent as application/json.',
  429: 'Too many triggers: wait `Retry-After` seconds.',
};

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

/** The OpenAPI 3.1 document, from the same zod schemas that validate the requests, and those of the answers. */
export function buildOpenApi(routes: readonly AnyRoute[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: unknown[] = Object.entries(route.params ?? {}).map(([name, description]) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } }));
    if (route.query) {
      const query = schemaOf(route.query, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
      for (const [name, schema] of Object.entries(query.properties ?? {})) {
        const { description, ...rest } = schema;
        parameters.push({ name, in: 'query', required: query.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: rest });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(route.responses)) {
      responses[status] = {
        description: response.description,
        content: 'schema' in response
          ? { 'application/json': { schema: schemaOf(response.schema, 'output') } }
          : { [response.contentType]: { schema: { type: 'string' } } },
      };
    }
    const errors = route.role === null ? [] : [401, 403, 404, ...(route.query || route.body ? [400] : []), ...(route.body ? [413, 415] : []), ...(route.audit === 'trigger-backup' || route.audit === 'restore' ? [429] : []), ...(route.audit === 'trigger-backup' ? [409] : [])];
    for (const status of errors) responses[status] = { $ref: `#/components/responses/E${status}` };
    for (const [status, description] of Object.entries(route.errors ?? {})) {
      responses[status] = { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    (paths[path] ??= {})[route.method.toLowerCase()] = {
      summary: route.summary,
      tags: [route.tag],
      operationId: `${route.method.toLowerCase()}${path.replace(/[{}]/g, '').split(/[/-]/).map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('')}`,
      ...(route.role === null ? { security: [] } : { 'x-required-role': route.role }),
      ...(parameters.length ? { parameters } : {}),
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(route.body, 'input') } } } } : {}),
      responses,
    };
  }
  const error = schemaOf(errorBody, 'output');
  return {
    openapi: '3.1.0',
    info: {
      title: 'Cairn HTTP API',
      version,
      description: 'Trigger, watch and restore backups. Bearer JWTs carry roles: viewer reads, operator also triggers and aborts, admin also restores, pauses schedules and reads the audit trail.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Error: error },
      responses: Object.fromEntries(Object.entries(ERRORS).map(([status, description]) => [`E${status}`, { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }])),
    },
  };
}
