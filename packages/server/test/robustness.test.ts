import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack } from './helpers.js';
import type { Stack } from './helpers.js';

let stack: Stack;
let admin: string;
beforeAll(async () => {
  // No worker: what is queued stays queued, so the property runs quickly and touches nothing.
  stack = await startStack({ process: false, api: { rateLimit: { triggersPerMinute: 100_000 } } });
  admin = await stack.token(['admin']);
});
afterAll(async () => {
  await stack.close();
});

/** Every endpoint of the OpenAPI document, its path parameters filled with arbitrary text. */
function endpoints(): Array<{ method: string; path: string }> {
  const doc = stack.api.openapi as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })));
}

const jsonValue = fc.jsonValue({ maxDepth: 3 });
const weirdBody = fc.oneof(
  fc.string({ maxLength: 200 }),                                     // malformed JSON, mostly
  jsonValue.map((v) => JSON.stringify(v)),                           // wrong types
  fc.dictionary(fc.constantFrom('job', 'type', 'database_name', 'storage_path', 'environment', 'description', 'profile', 'repository', 'snapshot', 'at', 'targetDir', 'to', 'mode', 'include', 'unknown', '__proto__', 'constructor'),
    fc.oneof(jsonValue, fc.constantFrom('database', 'user_data', 'storage', 'docs', 'main', 'latest', 'new', '../../etc', '/nonexistent-cairn-fuzz'))).map((v) => JSON.stringify(v)),
  fc.constant('x'.repeat(70_000)),                                   // too large
  fc.constant(`{"description":"${'y'.repeat(66_000)}"}`),
);
const segment = fc.oneof(fc.constantFrom('docs', 'main', 'latest', 'nope', '..', '%2e%2e', '%00', '%ZZ'), fc.string({ minLength: 1, maxLength: 20 }).map(encodeURIComponent));
const query = fc.dictionary(fc.constantFrom('job', 'status', 'since', 'until', 'limit', 'path', 'from', 'to', 'tag', 'environment', 'minLevel', 'after', 'actor', 'action'), fc.string({ maxLength: 30 }));
const contentType = fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-8', '');

describe('robustness', () => {
  it('answers every endpoint fed malformed JSON, wrong types, huge bodies and unknown fields with a 2xx or 4xx JSON answer, never a 5xx', async () => {
    const list = endpoints();
    await fc.assert(fc.asyncProperty(fc.constantFrom(...list), fc.array(segment, { minLength: 3, maxLength: 3 }), query, weirdBody, contentType, async (endpoint, segments, params, body, type) => {
      let i = 0;
      const path = endpoint.path.replace(/\{[^}]+\}/g, () => segments[i++]!);
      const search = new URLSearchParams(params).toString();
      const hasBody = endpoint.method === 'POST' || endpoint.method === 'DELETE';
      const response = await fetch(`${stack.url}${path}${search ? `?${search}` : ''}`, {
        method: endpoint.method,
        headers: { authorization: `Bearer ${admin}`, ...(hasBody && type ? { 'content-type': type } : {}) },
        ...(hasBody ? { body } : {}),
        signal: AbortSignal.timeout(10_000),
      });
      const text = endpoint.path.endsWith('/events') && response.status === 200 ? '' : await response.text();
      if (endpoint.path.endsWith('/events') && response.status === 200) await response.body?.cancel();
      expect(response.status, `${endpoint.method} ${path} → ${response.status} ${text.slice(0, 300)}`).toBeLessThan(500);
      if (response.status >= 400) {
        const parsed = JSON.parse(text) as { error: { code: string; message: string } };
        expect(typeof parsed.error.code).toBe('string');
        expect(parsed.error.message).not.toMatch(/\n\s+at /);
      }
    }), { numRuns: 300 });
  });
});
