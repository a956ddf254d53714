import { randomUUID } from 'node:crypto';
import { requireEnv } from '@cairn/testkit';
import type { LabelStudioSourceOptions } from '../src/index.js';

/**
 * Test helpers against the real Label Studio server of `scripts/services`: projects created here
 * are uniquely titled and remembered, so `dropProjects()` removes every one a test file made.
 */

const env = requireEnv('CAIRN_TEST_LABEL_STUDIO_URL', 'CAIRN_TEST_LABEL_STUDIO_TOKEN', 'CAIRN_TEST_LABEL_STUDIO_EMAIL');
export const url = env.CAIRN_TEST_LABEL_STUDIO_URL.replace(/\/+$/, '');
export const token = env.CAIRN_TEST_LABEL_STUDIO_TOKEN;
export const email = env.CAIRN_TEST_LABEL_STUDIO_EMAIL;
export const hostPort = url.replace(/^https?:\/\//, '');

export const LABEL_CONFIG = `<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="positive"/><Choice value="negative"/><Choice value="neutral"/>
  </Choices>
  <Labels name="entities" toName="text"><Label value="PER"/><Label value="ORG"/></Labels>
</View>`;

/** `label-studio+http://host:port[/projects/ID]`. */
export function sourceUrl(project?: number | number[]): string {
  const ids = project === undefined ? [] : Array.isArray(project) ? project : [project];
  return `${url.replace(/^http/, 'label-studio+http')}${ids.length ? `/projects/${ids.join(',')}` : ''}`;
}

export function sourceOptions(projects: number[], extra: Partial<LabelStudioSourceOptions> = {}): LabelStudioSourceOptions {
  return { url, token, projects, timeoutMs: 60_000, ...extra };
}

export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Calls the REST API as the admin; throws on an unexpected status. */
export async function api<T = unknown>(method: string, path: string, body?: unknown, auth = `Token ${token}`): Promise<T> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { Authorization: auth, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

const created = new Set<number>();

/** Remembers a project (made by a restore) for `dropProjects`. */
export function track(id: number): number {
  created.add(id);
  return id;
}

export async function createProject(prefix: string, settings: Record<string, unknown> = {}): Promise<number> {
  const project = await api<{ id: number }>('POST', '/api/projects/', { title: unique(prefix).slice(0, 50), label_config: LABEL_CONFIG, ...settings });
  return track(project.id);
}

/** Deletes every project this file created or was told about. */
export async function dropProjects(): Promise<void> {
  for (const id of created) {
    await fetch(`${url}/api/projects/${id}/`, { method: 'DELETE', headers: { Authorization: `Token ${token}` } });
  }
  created.clear();
}

/** Ids of all projects on the server, newest last. */
export async function projectIds(): Promise<number[]> {
  const ids: number[] = [];
  for (let page = 1; ; page++) {
    const answer = await api<{ results: Array<{ id: number }>; next: string | null }>('GET', `/api/projects/?page=${page}&page_size=100`);
    ids.push(...answer.results.map((p) => p.id));
    if (!answer.next) return ids.sort((a, b) => a - b);
  }
}

export function choice(value: string) {
  return { from_name: 'sentiment', to_name: 'text', type: 'choices', value: { choices: [value] } };
}

export function span(start: number, end: number, label: string, text: string) {
  return { id: randomUUID().slice(0, 10), from_name: 'entities', to_name: 'text', type: 'labels', value: { start, end, text, labels: [label] } };
}

/** Imports `count` tasks numbered from `from`, every third annotated, every fourth with a prediction. */
export async function seedTasks(project: number, count: number, from = 0): Promise<void> {
  const tasks = Array.from({ length: count }, (_, k) => {
    const i = from + k;
    const text = `Task ${i}: Ann from Acme says ${i % 2 ? 'héllo wörld ✓' : 'goodbye "quoted" \\ back'}`;
    return {
      data: { text, n: i, nested: { tags: [`t${i % 5}`], empty: null } },
      ...(i % 7 === 0 ? { meta: { source: 'seed', i } } : {}),
      ...(i % 3 === 0 ? { annotations: [{ result: [choice(i % 2 ? 'positive' : 'negative'), span(0, 4, 'PER', text.slice(0, 4))], lead_time: 1.5 + i }] } : {}),
      ...(i % 4 === 0 ? { predictions: [{ model_version: 'model-a', score: 0.25 + (i % 3) / 10, result: [choice('neutral')] }] } : {}),
    };
  });
  await api('POST', `/api/projects/${project}/import`, tasks);
}

export interface TaskState {
  data: unknown;
  meta: unknown;
  annotations: Array<{ result: unknown; was_cancelled: boolean; ground_truth: boolean; completed_by: string | null }>;
  predictions: Array<{ result: unknown; score: number | null; model_version: string }>;
}

export interface ProjectState {
  settings: Record<string, unknown>;
  tasks: TaskState[];
}

interface RawTask {
  id: number;
  data: unknown;
  meta: unknown;
  annotations: Array<{ result: unknown; was_cancelled: boolean; ground_truth: boolean; completed_by: number }>;
}

const SETTINGS = ['description', 'label_config', 'expert_instruction', 'show_instruction', 'show_skip_button', 'enable_empty_annotation',
  'color', 'maximum_annotations', 'sampling', 'show_collab_predictions', 'model_version', 'overlap_cohort_percentage', 'skip_queue'];

/**
 * Everything a person sees of a project, independent of ids: its settings, and its tasks sorted by
 * data, each with its annotations (result, flags, annotator's email) and predictions.
 */
export async function projectState(id: number): Promise<ProjectState> {
  const project = await api<Record<string, unknown>>('GET', `/api/projects/${id}/`);
  const users = new Map((await api<Array<{ id: number; email: string }>>('GET', '/api/users/')).map((u) => [u.id, u.email]));
  const tasks = await api<RawTask[]>('GET', `/api/projects/${id}/export?exportType=JSON&download_all_tasks=true`);
  const predictions = await api<Array<{ task: number; result: unknown; score: number | null; model_version: string }>>('GET', `/api/predictions/?project=${id}`);
  const byTask = new Map<number, TaskState['predictions']>();
  for (const p of predictions) {
    const list = byTask.get(p.task) ?? [];
    list.push({ result: p.result, score: p.score, model_version: p.model_version });
    byTask.set(p.task, list);
  }
  const sortBy = <T>(list: T[]) => list.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return {
    settings: Object.fromEntries(SETTINGS.map((k) => [k, project[k]])),
    tasks: sortBy(tasks.map((t) => ({
      data: t.data,
      meta: t.meta,
      annotations: sortBy(t.annotations.map((a) => ({ result: a.result, was_cancelled: a.was_cancelled, ground_truth: a.ground_truth, completed_by: users.get(a.completed_by) ?? null }))),
      predictions: sortBy(byTask.get(t.id) ?? []),
    }))),
  };
}

export async function taskIds(project: number): Promise<number[]> {
  const tasks = await api<Array<{ id: number }>>('GET', `/api/projects/${project}/export?exportType=JSON&download_all_tasks=true`);
  return tasks.map((t) => t.id).sort((a, b) => a - b);
}

export async function annotationsOf(task: number): Promise<Array<{ id: number; result: unknown }>> {
  return api('GET', `/api/tasks/${task}/annotations/`);
}

/** Creates an export snapshot and waits until it is completed (OSS runs it at once, but poll anyway). */
export async function createSnapshot(project: number, title: string): Promise<number> {
  const snapshot = await api<{ id: number; status: string }>('POST', `/api/projects/${project}/exports/`, { title });
  for (let i = 0; i < 100; i++) {
    const state = await api<{ status: string }>('GET', `/api/projects/${project}/exports/${snapshot.id}`);
    if (state.status === 'completed') return snapshot.id;
    if (state.status === 'failed') throw new Error(`snapshot ${snapshot.id} failed`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`snapshot ${snapshot.id} did not complete`);
}

