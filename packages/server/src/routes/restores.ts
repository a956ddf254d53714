import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { route } from '../router.js';
import type { AnyRoute } from '../router.js';
import { restoreBody } from '../schemas.js';
import { repositoryRef } from './repositories.js';

export function restoreRoutes(api: ApiContext): AnyRoute[] {
  return [
    route({
      method: 'POST', path: '/api/restores', role: 'admin', tag: 'restores', audit: 'restore', body: restoreBody,
      summary: 'Start a restore in this server: a snapshot or a point in time, into a directory or a live system. Follow it as a run.',
      responses: { 202: { description: 'Started; `runId` is followed like any run (GET /api/runs/:id, its events, abort).', schema: z.object({ runId: z.string() }) } },
      async handle(ctx) {
        const body = ctx.body;
        ctx.audit.target = body.repository;
        const repository = repositoryRef(api, body.repository);
        // A bad destination URL fails here, as a 400, rather than in the background.
        const to = body.to === undefined ? undefined : api.cairn.resolveSource(body.to);
        api.limitTriggers(ctx.principal.subject);
        const runId = api.restores.start({
          repository, repositoryName: body.repository, snapshot: body.snapshot, requestedBy: `api:${ctx.principal.subject}`,
          ...(body.at ? { at: new Date(body.at) } : {}),
          ...(body.targetDir !== undefined ? { targetDir: body.targetDir } : {}),
          ...(to ? { to, mode: body.mode ?? 'new' } : {}),
          ...(body.source ? { source: body.source } : {}),
          ...(body.include ? { include: body.include } : {}),
        });
        ctx.audit.runId = runId;
        return { status: 202, body: { runId } };
      },
    }),
  ];
}
