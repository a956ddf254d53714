import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * CORS for the listed origins only; without a list, no CORS headers at all (a browser then lets
 * only pages of the server's own origin call it). Returns true when it answered a preflight.
 */
export function applyCors(origins: readonly string[] | undefined, req: IncomingMessage, res: ServerResponse): boolean {
  const origin = req.headers.origin;
  const allowed = origins !== undefined && origin !== undefined && (origins.includes(origin) || origins.includes('*'));
  if (allowed) {
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('vary', 'Origin');
  }
  if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined) return false;
  if (allowed) {
    res.setHeader('access-control-allow-methods', 'GET, POST, DELETE');
    res.setHeader('access-control-allow-headers', 'authorization, content-type');
    res.setHeader('access-control-max-age', '600');
  }
  res.writeHead(204);
  res.end();
  return true;
}
