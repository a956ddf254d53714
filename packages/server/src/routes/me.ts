import { z } from 'zod';
import { ROLES } from '../auth.js';
import { route } from '../router.js';
import type { AnyRoute } from '../router.js';

export function meRoutes(): AnyRoute[] {
  return [
    route({
      method: 'GET', path: '/api/me', role: 'authenticated', tag: 'session', summary: 'Who the token speaks for, and its roles.',
      responses: { 200: { description: 'The token\'s subject and roles.', schema: z.object({ subject: z.string(), roles: z.array(z.enum(ROLES as ['viewer', 'operator', 'admin'])) }) } },
      async handle({ principal }) {
        return { status: 200, body: { subject: principal.subject, roles: principal.roles } };
      },
    }),
  ];
}
