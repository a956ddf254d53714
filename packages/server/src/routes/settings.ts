import type { ApiContext } from '../context.js';
import { route } from '../router.js';
import type { AnyRoute } from '../router.js';
import { apiSettings } from '../schemas.js';

export function settingsRoutes(api: ApiContext): AnyRoute[] {
  return [
    route({
      method: 'GET', path: '/api/settings', role: 'viewer', tag: 'session', summary: 'How this server is set up, as far as a client needs to know: where restores into a folder go.',
      responses: { 200: { description: 'The server\'s settings.', schema: apiSettings } },
      async handle() {
        return { status: 200, body: { restoreDir: api.restoreDir ?? null } };
      },
    }),
  ];
}
