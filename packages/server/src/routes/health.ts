import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { route } from '../router.js';
import type { AnyRoute } from '../router.js';

const CHECK_TIMEOUT_MS = 3000;

async function check(name: string, probe: () => Promise<unknown>): Promise<{ name: string; ok: boolean; message?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([probe(), new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS);
    })]);
    return { name, ok: true };
  } catch (error) {
    return { name, ok: false, message: error instanceof Error ? error.message.split('\n')[0]! : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

const readiness = z.object({ status: z.enum(['ready', 'unavailable']), checks: z.array(z.object({ name: z.string(), ok: z.boolean(), message: z.string().optional() })) });

export function healthRoutes(api: ApiContext): AnyRoute[] {
  return [
    route({
      method: 'GET', path: '/healthz', role: null, tag: 'health', summary: 'Liveness: the process answers.',
      responses: { 200: { description: 'Alive.', schema: z.object({ status: z.literal('ok') }) } },
      async handle() {
        return { status: 200, body: { status: 'ok' } };
      },
    }),
    route({
      method: 'GET', path: '/readyz', role: null, tag: 'health', summary: 'Readiness: the history can be read and the queue reached.',
      responses: { 200: { description: 'Ready.', schema: readiness }, 503: { description: 'A check failed; `checks` says which.', schema: readiness } },
      async handle() {
        const checks = await Promise.all([
          check('history', () => api.history.listRuns({ limit: 1 })),
          check('queue', () => api.queue.list({ limit: 1 })),
        ]);
        const ok = checks.every((c) => c.ok);
        return { status: ok ? 200 : 503, body: { status: ok ? 'ready' : 'unavailable', checks } };
      },
    }),
  ];
}
