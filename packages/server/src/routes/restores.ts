import type { ApiContext } from '../context.js';
import { checkRestoreTarget, createRestoreTarget, folderInUse, noRestoreFolder } from '../restore-folder.js';
import { route } from '../router.js';
import type { AnyRoute } from '../router.js';
import { restoreBody, restoreStarted } from '../schemas.js';
import { repositoryRef } from './repositories.js';

export function restoreRoutes(api: ApiContext): AnyRoute[] {
  return [
    route({
      method: 'POST', path: '/api/restores', role: 'admin', tag: 'restores', audit: 'restore', body: restoreBody,
      summary: 'Start a restore in this server: a snapshot or a point in time, into a new (or empty) folder inside the server\'s restore folder or into a live system. Follow it as a run.',
      responses: { 202: { description: 'Started; `runId` is followed like any run (GET /api/runs/:id, its events, abort); `targetDir` is the absolute folder it writes into.', schema: restoreStarted } },
      errors: {
        400: 'Invalid request: the body does not match (`issues` says where), the JSON is malformed, `to` is a URL no source serves, or `targetDir` is absolute, has `..` segments or leads out of the restore folder, through a symlink too (`RESTORE_OUTSIDE_FOLDER`).',
        409: '`targetDir` names a folder that already holds files, or that a restore is writing into (`RESTORE_FOLDER_NOT_EMPTY`: nothing that exists is touched; choose another name, an empty folder is fine), or that cannot be created (`RESTORE_UNWRITABLE`: a file in the way); or the server has no restore folder (`NO_RESTORE_FOLDER`).',
      },
      async handle(ctx) {
        const body = ctx.body;
        ctx.audit.target = body.repository;
        // Everything that can refuse the request without changing anything comes first, so a
        // refusal (the rate limit's too) leaves no folder behind; the folder is created last.
        const repository = repositoryRef(api, body.repository);
        // A bad destination URL fails here, as a 400, rather than in the background.
        const to = body.to === undefined ? undefined : api.cairn.resolveSource(body.to);
        const { targetDir: requested } = body;
        const { restoreDir } = api;
        if (requested !== undefined) {
          if (restoreDir === undefined) throw noRestoreFolder();
          await checkRestoreTarget(restoreDir, requested);
        }
        api.limitTriggers(ctx.principal.subject);
        let targetDir: string | undefined;
        if (requested !== undefined && restoreDir !== undefined) {
          targetDir = await createRestoreTarget(restoreDir, requested);
          // Checked here and claimed by start() with no await in between: two requests for one new folder cannot both get it.
          const writing = api.restores.writingInto(targetDir);
          if (writing !== undefined) throw folderInUse(restoreDir, requested, writing);
        }
        const runId = api.restores.start({
          repository, repositoryName: body.repository, snapshot: body.snapshot, requestedBy: `api:${ctx.principal.subject}`,
          ...(body.at ? { at: new Date(body.at) } : {}),
          ...(targetDir !== undefined ? { targetDir } : {}),
          ...(to ? { to, mode: body.mode ?? 'new' } : {}),
          ...(body.source ? { source: body.source } : {}),
          ...(body.include ? { include: body.include } : {}),
        });
        ctx.audit.runId = runId;
        return { status: 202, body: { runId, ...(targetDir !== undefined ? { targetDir } : {}) } };
      },
    }),
  ];
}
