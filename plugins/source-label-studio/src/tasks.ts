import { createHash } from 'node:crypto';

/** A task as the JSON export writes it (the fields a restore reads). */
export interface ExportedTask {
  id: number;
  data: unknown;
  meta?: unknown;
  allow_skip?: boolean;
  annotations?: ExportedAnnotation[];
  drafts?: Array<Record<string, unknown>>;
  predictions?: unknown[];
}

export interface ExportedAnnotation {
  id?: number;
  completed_by?: unknown;
  result?: unknown;
  was_cancelled?: boolean;
  ground_truth?: boolean;
  lead_time?: number | null;
}

/** A prediction as `GET /api/predictions/?project=ID` lists it. */
export interface ListedPrediction {
  task: number;
  result?: unknown;
  score?: number | null;
  model_version?: string;
}

/**
 * What `POST /api/projects/{id}/import` takes back from an exported task: its data, meta, skip
 * setting, annotations and drafts; not ids, counters or timestamps, which the server assigns.
 * Annotation ids stay: the server keeps them as `import_id` and links drafts to annotations by them.
 * `completed_by` is a user id on the backed-up server: it becomes `{email}` when that user is a
 * member here, and is left out otherwise (the server then credits the importing user).
 */
export function importableTask(task: ExportedTask, annotator: (completedBy: unknown) => { email: string } | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { data: task.data };
  if (task.meta !== undefined && task.meta !== null) out.meta = task.meta;
  if (typeof task.allow_skip === 'boolean') out.allow_skip = task.allow_skip;
  out.annotations = (task.annotations ?? []).map((annotation) => {
    const copy: Record<string, unknown> = {
      result: annotation.result ?? [],
      was_cancelled: annotation.was_cancelled ?? false,
      ground_truth: annotation.ground_truth ?? false,
      lead_time: annotation.lead_time ?? null,
    };
    if (typeof annotation.id === 'number') copy.id = annotation.id;
    const who = annotator(annotation.completed_by);
    if (who) copy.completed_by = who;
    return copy;
  });
  const drafts = (task.drafts ?? []).filter((d) => typeof d === 'object' && d !== null);
  if (drafts.length) {
    out.drafts = drafts.map((draft) => pick(draft, ['id', 'user', 'result', 'lead_time', 'was_postponed', 'annotation']));
  }
  return out;
}

export function importablePrediction(prediction: ListedPrediction, task: number): Record<string, unknown> {
  return {
    task,
    result: prediction.result ?? [],
    ...(prediction.score !== undefined && prediction.score !== null ? { score: prediction.score } : {}),
    ...(prediction.model_version !== undefined ? { model_version: prediction.model_version } : {}),
  };
}

/**
 * What must be equal between a backed-up task and its restored copy: data, meta and each
 * annotation's result, cancelled and ground-truth flags (ids, users and times are the server's).
 */
export function taskFingerprint(task: ExportedTask): string {
  const annotations = (task.annotations ?? [])
    .map((a) => canonical({ result: a.result ?? [], was_cancelled: a.was_cancelled ?? false, ground_truth: a.ground_truth ?? false }))
    .sort();
  return canonical({ data: task.data ?? null, meta: task.meta ?? {}, annotations });
}

const MODULUS = 1n << 256n;

/**
 * An order-independent digest of a multiset of tasks: the sum of their SHA-256 fingerprints modulo
 * 2^256. Sums subtract, so the tasks a merge added can be checked against a project that already
 * had some; duplicates count, unlike with XOR.
 */
export class TaskDigest {
  tasks = 0;
  predictions = 0;
  sum = 0n;

  add(task: ExportedTask): void {
    this.tasks++;
    this.predictions += Array.isArray(task.predictions) ? task.predictions.length : 0;
    this.sum = (this.sum + BigInt(`0x${createHash('sha256').update(taskFingerprint(task)).digest('hex')}`)) % MODULUS;
  }

  plus(other: TaskDigest): TaskDigest {
    const result = new TaskDigest();
    result.tasks = this.tasks + other.tasks;
    result.predictions = this.predictions + other.predictions;
    result.sum = (this.sum + other.sum) % MODULUS;
    return result;
  }
}

/** JSON with object keys sorted, so equal values give equal text. */
export function canonical(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
  }
  return value;
}

function pick(object: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => k in object).map((k) => [k, object[k]]));
}
