import type { LabelStudioClient } from './client.js';

/** A project as `GET /api/projects/{id}/` returns it (the fields this source reads). */
export interface Project extends Record<string, unknown> {
  id: number;
  title: string;
  created_at?: string;
  task_number?: number | null;
  created_by?: { email?: string } | null;
}

/** An export snapshot as `GET /api/projects/{id}/exports/` lists it. */
export interface ExportSnapshot {
  id: number;
  title?: string;
  status?: string;
  created_at?: string;
  finished_at?: string | null;
  md5?: string | null;
  counters?: Record<string, unknown>;
  created_by?: { email?: string } | null;
}

export interface Member {
  id: number;
  email: string;
}

export function projectNotFound(client: LabelStudioClient, id: number): () => string {
  return () => `project ${id} does not exist on ${client.url}, or the token's user cannot see it: check the project id (the number in /projects/ID/)`;
}

export function getProject(client: LabelStudioClient, id: number): Promise<Project> {
  return client.json<Project>('GET', `/api/projects/${id}/`, { what: `reading project ${id}`, notFound: projectNotFound(client, id) });
}

/** Every project the token's user can see, page by page, oldest first. */
export async function listProjectIds(client: LabelStudioClient): Promise<number[]> {
  const ids: number[] = [];
  for (let page = 1; ; page++) {
    const answer = await client.json<{ results?: Array<{ id: number }>; next?: string | null } | Array<{ id: number }>>('GET', '/api/projects/', {
      what: 'listing the projects', query: { page: String(page), page_size: '100', ordering: 'id' },
    });
    const results = Array.isArray(answer) ? answer : answer.results ?? [];
    ids.push(...results.map((p) => p.id));
    if (Array.isArray(answer) || !answer.next || results.length === 0) break;
  }
  return [...new Set(ids)].sort((a, b) => a - b);
}

/** The organization's members (id and email), to map `completed_by` ids onto another server. */
export async function listMembers(client: LabelStudioClient): Promise<Member[]> {
  const users = await client.json<Array<{ id: number; email?: string }>>('GET', '/api/users/', { what: 'listing the users of the organization' });
  return users.filter((u) => typeof u.email === 'string' && u.email !== '').map((u) => ({ id: u.id, email: u.email! }));
}

export function listSnapshots(client: LabelStudioClient, projectId: number): Promise<ExportSnapshot[]> {
  return client.json<ExportSnapshot[]>('GET', `/api/projects/${projectId}/exports/`, {
    what: `listing the export snapshots of project ${projectId}`, notFound: projectNotFound(client, projectId),
  });
}

export function exportPath(projectId: number): string {
  return `/api/projects/${projectId}/export`;
}

/** The full JSON export: every task, not only annotated ones (PEERS.md: without download_all_tasks only finished tasks come). */
export const EXPORT_QUERY = { exportType: 'JSON', download_all_tasks: 'true' };
