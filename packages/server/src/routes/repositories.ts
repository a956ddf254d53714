import { redact, resolvePassword } from '@cairn/core';
import type { RepositoryRef } from '@cairn/core';
import type { z } from 'zod';
import type { ApiContext } from '../context.js';
import { HttpError } from '../http.js';
import { route } from '../router.js';
import type { AnyRoute } from '../router.js';
import { diffQuery, repositoryList, snapshotDiff, snapshotList, snapshotsQuery, treeLevel, treeQuery } from '../schemas.js';

/** A configured repository by name, its password read from the environment or its file. */
export function repositoryRef(api: ApiContext, name: string): RepositoryRef {
  const repository = Object.hasOwn(api.config.repositories, name) ? api.config.repositories[name] : undefined;
  if (!repository) throw new HttpError(404, 'REPOSITORY_NOT_FOUND', `no repository named "${name}" (repositories: ${Object.keys(api.config.repositories).join(', ') || 'none'})`);
  return { target: repository.url, password: resolvePassword(repository.password, api.env as NodeJS.ProcessEnv) };
}

const repo = { repo: 'The repository\'s name, as the config names it.' };

export function repositoryRoutes(api: ApiContext): AnyRoute[] {
  return [
    route({
      method: 'GET', path: '/api/repositories', role: 'viewer', tag: 'snapshots', summary: 'The config\'s repositories (names and secret-free locations).',
      responses: { 200: { description: 'The repositories, in the config\'s order.', schema: repositoryList } },
      async handle() {
        const repositories = Object.entries(api.config.repositories).map(([name, repository]) => ({
          name, location: redact(repository.url),
          jobs: Object.entries(api.config.jobs).filter(([, job]) => job.repository === name).map(([job]) => job),
        }));
        return { status: 200, body: { repositories } };
      },
    }),
    route({
      method: 'GET', path: '/api/repositories/:repo/snapshots', role: 'viewer', tag: 'snapshots', params: repo, query: snapshotsQuery,
      summary: 'Snapshots of a repository, newest first, optionally of one job or with one tag.',
      responses: { 200: { description: 'The snapshots, newest first, as the repository stores them.', schema: snapshotList } },
      async handle({ params, query, principal }) {
        const repository = repositoryRef(api, params.repo!);
        const all = await api.cairn.snapshots({ repository, requestedBy: `api:${principal.subject}` });
        const snapshots = all
          .filter((s) => (query.job === undefined || s.tags.includes(`job:${query.job}`)) && (query.tag === undefined || s.tags.includes(query.tag)))
          .sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
        return { status: 200, body: { snapshots } };
      },
    }),
    route({
      method: 'GET', path: '/api/repositories/:repo/snapshots/:id/tree', role: 'viewer', tag: 'snapshots',
      params: { ...repo, id: 'A snapshot id, a unique prefix, or `latest`.' }, query: treeQuery,
      summary: 'One directory level of a snapshot: name, type, size (a directory\'s is what it holds), mtime. Reads the trees on the way to it, and those below it for the sizes, one at a time.',
      responses: { 200: { description: 'The directory\'s entries.', schema: treeLevel } },
      errors: {
        400: 'Invalid request: `path` has a `..` segment (`INVALID_REQUEST`), or names a file or a symlink rather than a directory (`NOT_A_DIRECTORY`).',
        404: 'No such repository or snapshot, or `path` is not in the snapshot (`PATH_NOT_FOUND`).',
      },
      async handle({ params, query, principal }) {
        const repository = repositoryRef(api, params.repo!);
        const path = query.path.split('/').filter((part) => part !== '' && part !== '.').join('/');
        if (path.split('/').includes('..')) throw new HttpError(400, 'INVALID_REQUEST', 'path: ".." is not a snapshot path');
        const listed = await api.cairn.listDirectory({ repository, snapshot: params.id!, path, sizes: true, requestedBy: `api:${principal.subject}` });
        const entries: Array<z.output<typeof treeLevel>['entries'][number]> = listed.map((entry) => ({
          name: entry.name, path: entry.path, type: entry.type, size: entry.size,
          mtime: Number.isFinite(entry.mtimeMs) ? new Date(entry.mtimeMs).toISOString() : null,
          ...(entry.linkTarget !== undefined ? { linkTarget: entry.linkTarget } : {}),
        }));
        entries.sort((a, b) => (a.type === 'dir') !== (b.type === 'dir') ? (a.type === 'dir' ? -1 : 1) : a.name.localeCompare(b.name));
        return { status: 200, body: { path, entries } };
      },
    }),
    route({
      method: 'GET', path: '/api/repositories/:repo/diff', role: 'viewer', tag: 'snapshots', params: repo, query: diffQuery,
      summary: 'What changed between two snapshots.',
      responses: { 200: { description: 'The changes, by path.', schema: snapshotDiff } },
      async handle({ params, query, principal }) {
        const repository = repositoryRef(api, params.repo!);
        const changes = await api.cairn.diff({ repository, from: query.from, to: query.to, requestedBy: `api:${principal.subject}` });
        return { status: 200, body: { from: query.from, to: query.to, changes } };
      },
    }),
  ];
}
