// A small project manager whose "delete project" is guarded by Cairn: the project's folder is
// backed up first, deleted only when that backup is complete, and kept in a recycle bin (snapshots
// tagged with the project's id, expired by their own retention) from which it can be restored.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { CairnError, createCairn } from '@cairn/core';
import type { Cairn, RepositoryRef, RetentionPolicy } from '@cairn/core';
import { filesSource } from '@cairn/source-files';
import { localTarget } from '@cairn/target-local';

export interface ProjectsAppOptions {
  /** Where the projects live: `<dataDir>/projects/<id>/`. */
  dataDir: string;
  /** The repository that holds the recycle bin; initialised by `main.ts` if missing. */
  repository: RepositoryRef;
  /** How long deleted projects stay restorable. Default: the last 50 deletions, and all of the last 30 days. */
  recycleBin?: RetentionPolicy;
  /** Where the app's log lines go. */
  log?: (line: string) => void;
}

export interface ProjectsApp {
  app: express.Express;
  cairn: Cairn;
  close(): Promise<void>;
}

const ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
const KIND = 'project';

/** An error that becomes a JSON answer with its status. */
class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export function createProjectsApp(options: ProjectsAppOptions): ProjectsApp {
  const log = options.log ?? ((line: string) => console.log(line));
  const projectsDir = join(options.dataDir, 'projects');
  const projectDir = (id: string) => join(projectsDir, id);
  const recycleBin = options.recycleBin ?? { keepLast: 50, keepWithin: '30d' };
  const cairn = createCairn({ targets: [localTarget] });

  // Told once how a project is backed up; every guarded delete of a project uses it.
  cairn.hooks.beforeDelete.for(KIND).tapPromise('projects-app', async (plan) => ({
    ...plan,
    sources: [...plan.sources, filesSource({ path: projectDir(plan.id), name: KIND })],
  }));

  const app = express();
  app.use(express.json({ limit: '1mb' }));

  const checkId = (id: string | undefined): string => {
    if (!id || !ID.test(id)) throw new HttpError(400, 'a project id is 1 to 64 lower-case letters, digits and "-"');
    return id;
  };
  const mustExist = (id: string): void => {
    if (!existsSync(projectDir(id))) throw new HttpError(404, `no project "${id}"`);
  };

  app.get('/projects', async (_req, res) => {
    const ids = existsSync(projectsDir) ? (await readdir(projectsDir)).filter((name) => ID.test(name)).sort() : [];
    res.json(await Promise.all(ids.map(async (id) => ({ id, ...(await readMeta(projectDir(id))) }))));
  });

  app.post('/projects', async (req, res) => {
    const body = req.body as { id?: unknown; name?: unknown; files?: unknown } | undefined;
    const id = checkId(typeof body?.id === 'string' ? body.id : undefined);
    if (typeof body?.name !== 'string' || body.name === '') throw new HttpError(400, 'a project needs a name');
    const files = body.files ?? {};
    if (typeof files !== 'object' || files === null || Object.values(files).some((v) => typeof v !== 'string')) {
      throw new HttpError(400, 'files must map relative paths to text');
    }
    if (existsSync(projectDir(id))) throw new HttpError(409, `project "${id}" exists`);
    // Written beside the projects and renamed in: a half-written project is never listed.
    const staging = join(projectsDir, `.new-${id}-${randomBytes(4).toString('hex')}`);
    for (const [path, text] of Object.entries(files as Record<string, string>)) {
      const parts = path.split('/');
      if (parts.some((part) => part === '' || part === '.' || part === '..') || path === 'project.json') throw new HttpError(400, `invalid file path "${path}"`);
      await mkdir(dirname(join(staging, ...parts)), { recursive: true });
      await writeFile(join(staging, ...parts), text);
    }
    await mkdir(staging, { recursive: true });
    await writeFile(join(staging, 'project.json'), JSON.stringify({ name: body.name }));
    await rename(staging, projectDir(id));
    res.status(201).json({ id, name: body.name });
  });

  app.get('/projects/:id', async (req, res) => {
    const id = checkId(req.params.id);
    mustExist(id);
    res.json({ id, ...(await readMeta(projectDir(id))), files: await readFiles(projectDir(id)) });
  });

  // The guarded delete: back up, then delete only if the backup is complete.
  app.delete('/projects/:id', async (req, res) => {
    const id = checkId(req.params.id);
    mustExist(id);
    const user = req.get('x-user') ?? 'anonymous';
    try {
      const { snapshot } = await cairn.guardDelete(
        { kind: KIND, id, repository: options.repository, retention: recycleBin, requestedBy: `app:${user}` },
        () => rm(projectDir(id), { recursive: true }),
      );
      log(`project ${id} deleted by ${user}; snapshot ${snapshot.id.slice(0, 8)} keeps it`);
      res.json({ deleted: id, snapshot: snapshot.id, restore: `POST /recycle-bin/${id}/restore` });
    } catch (error) {
      if (error instanceof CairnError && error.code === 'DELETE_NOT_GUARDED') throw new HttpError(503, error.message);
      throw error;
    }
  });

  app.get('/recycle-bin', async (_req, res) => {
    const snapshots = await cairn.findDeleted({ repository: options.repository, kind: KIND });
    const prefix = `deleted:${KIND}:`;
    res.json(snapshots.map((s) => ({ id: s.tags.find((t) => t.startsWith(prefix))!.slice(prefix.length), deletedAt: s.time, snapshot: s.id })));
  });

  app.post('/recycle-bin/:id/restore', async (req, res) => {
    const id = checkId(req.params.id);
    if (existsSync(projectDir(id))) throw new HttpError(409, `project "${id}" exists; delete or rename it before restoring the old one`);
    const [latest] = await cairn.findDeleted({ repository: options.repository, kind: KIND, id });
    if (!latest) throw new HttpError(404, `project "${id}" is not in the recycle bin`);
    // Restored beside the projects and renamed in, so a failed restore leaves no half project.
    const staging = join(projectsDir, `.restore-${id}-${randomBytes(4).toString('hex')}`);
    try {
      const restored = await cairn.restore({ repository: options.repository, snapshot: latest.id, targetDir: staging, requestedBy: `app:${req.get('x-user') ?? 'anonymous'}` });
      await rename(join(staging, KIND), projectDir(id));
      log(`project ${id} restored from snapshot ${latest.id.slice(0, 8)}`);
      res.json({ restored: id, snapshot: latest.id, files: restored.files });
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  });

  // Express 5 passes a rejected handler's error here: known ones become their status, the rest a 500 without internals.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof HttpError) {
      res.status(error.status).json({ error: error.message });
      return;
    }
    if (error instanceof SyntaxError && 'body' in error) {
      res.status(400).json({ error: 'the request body is not valid JSON' });
      return;
    }
    log(`error: ${error instanceof Error ? error.message : String(error)}`);
    res.status(500).json({ error: 'internal error; see the server log' });
  });

  return { app, cairn, close: () => cairn.close() };
}

async function readMeta(dir: string): Promise<{ name: string }> {
  return JSON.parse(await readFile(join(dir, 'project.json'), 'utf8')) as { name: string };
}

/** Every file but project.json, by relative path. */
async function readFiles(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name).slice(dir.length + 1).split('\\').join('/');
    if (path !== 'project.json') files[path] = await readFile(join(dir, path), 'utf8');
  }
  return files;
}
