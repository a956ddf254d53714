import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.jpg': 'image/jpeg', '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.map': 'application/json; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
};

/**
 * Serves a built single-page app: a file of `dir` when the path names one, else `index.html` (the
 * app routes in the browser). Never a file outside `dir`. Returns false when there is no index either.
 */
export async function serveStatic(dir: string, path: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const root = resolve(dir);
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    decoded = '/';
  }
  const candidate = resolve(join(root, decoded));
  const inside = candidate === root || candidate.startsWith(root + sep);
  const file = inside && !decoded.includes('\0') ? await fileAt(candidate) : undefined;
  const chosen = file ?? (await fileAt(join(root, 'index.html')));
  if (!chosen) return false;
  const isIndex = chosen.path === join(root, 'index.html');
  res.writeHead(200, {
    'content-type': TYPES[extname(chosen.path).toLowerCase()] ?? 'application/octet-stream',
    'content-length': chosen.size,
    // Built assets carry a hash in their name; the index must be read again to find new ones.
    'cache-control': isIndex ? 'no-cache' : /[.-][A-Za-z0-9_-]{8,}\.(js|css)$/.test(chosen.path) ? 'public, max-age=31536000, immutable' : 'public, max-age=300',
    'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  createReadStream(chosen.path).on('error', () => res.destroy()).pipe(res);
  return true;
}

async function fileAt(path: string): Promise<{ path: string; size: number } | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? { path, size: info.size } : undefined;
  } catch {
    return undefined;
  }
}
