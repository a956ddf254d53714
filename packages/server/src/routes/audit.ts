import type { ApiContext } from '../context.js';
import { route } from '../router.js';
import type { AnyRoute } from '../router.js';
import { auditList, auditQuery } from '../schemas.js';

export function auditRoutes(api: ApiContext): AnyRoute[] {
  return [
    route({
      method: 'GET', path: '/api/audit', role: 'admin', tag: 'audit', query: auditQuery,
      summary: 'The audit trail of writes, newest first: who, what, from where, and the result.',
      responses: { 200: { description: 'The audit records, newest first.', schema: auditList } },
      async handle({ query }) {
        const records = await api.history.listAudit({
          limit: query.limit, ...(query.actor ? { actor: query.actor } : {}), ...(query.action ? { action: query.action } : {}),
          ...(query.since ? { since: new Date(query.since) } : {}), ...(query.until ? { until: new Date(query.until) } : {}),
        });
        return { status: 200, body: { records } };
      },
    }),
  ];
}
