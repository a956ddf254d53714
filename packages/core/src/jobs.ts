import { randomUUID } from 'node:crypto';
import type { ForgetResult, SizeEstimate } from '@cairn/repository';
import type { BackupResult, Cairn, RepositoryRef } from './api.js';
import type { CairnConfig, JobConfig, JobSourceList } from './config.js';
import { resolvePassword } from './config.js';
import type { SourceInstance } from './contracts.js';
import type { JsonValue } from './job-queue.js';
import { CairnError, ConfigError } from './errors.js';
import { redact } from './redact.js';
import { notifyJobRun } from './notify.js';
import type { NotificationFailure } from './notify.js';
import { formatSize } from './size.js';

/** A request to run one configured job: what a schedule, the CLI or the API enqueues. */
export interface JobRunRequest {
  job: string;
  /** The environment to back up (`production`); must be one of the job's, when it lists some. */
  environment?: string;
  /** Who or what asked: `schedule:nightly`, `cli:ann`, `api:ops-bot`. */
  requestedBy?: string;
  /** The run's id (a queue's); the backup run, its history record and notifications carry it. Default: a new UUID. */
  runId?: string;
  /** Overrides the job's profile for this run: `without-user-data` leaves its `userData` sources out. */
  profile?: JobProfile;
  /**
   * The run's parameters (plain JSON: `{ database_name: 'shop' }`, a description): recorded with the
   * run, and handed to a job whose `sources` is a function, which may narrow what it backs up.
   */
  options?: JobParams;
  signal?: AbortSignal;
}

/** A run's parameters, as plain JSON (they travel through queues). */
export type JobParams = Readonly<Record<string, JsonValue>>;

export interface JobRunResult {
  job: string;
  environment?: string;
  backup: BackupResult;
  /** Present when the job has a retention policy: what it kept and removed, and the prune that followed. */
  retention?: ForgetResult;
  /** Notifiers that could not deliver the run's summary (they never fail the run). */
  notificationFailures?: NotificationFailure[];
}

/** The tags every snapshot of a job carries, so the job's retention and its history find exactly its own. */
export function jobTags(job: string, environment: string | undefined): string[] {
  return [`job:${job}`, ...(environment ? [`env:${environment}`] : [])];
}

/** The job named `name`, or a ConfigError listing the jobs there are. */
export function findJob(config: CairnConfig, name: string): JobConfig {
  const job = config.jobs[name];
  if (job) return job;
  const names = Object.keys(config.jobs);
  throw new ConfigError(`no job named "${name}" in the config (jobs: ${names.length ? names.join(', ') : 'none'})`);
}

/** With user data (the default), or without: a job's `userData` sources are backed up only with the first. */
export type JobProfile = 'with-user-data' | 'without-user-data';
export const JOB_PROFILES: readonly JobProfile[] = ['with-user-data', 'without-user-data'];

/** The sources of a job in an environment (and profile, with the run's parameters), checked. */
export function jobSources(name: string, job: JobConfig, environment: string | undefined, profile: JobProfile = job.profile ?? 'with-user-data', params: JobParams = {}): SourceInstance[] {
  if (environment !== undefined && job.environments && !job.environments.includes(environment)) {
    throw new ConfigError(`job "${name}" does not cover environment "${environment}" (it covers: ${job.environments.join(', ')})`);
  }
  if (!JOB_PROFILES.includes(profile)) throw new ConfigError(`unknown profile "${String(profile)}": use ${JOB_PROFILES.join(' or ')}`);
  const base = instances(name, 'sources', job.sources, environment, params, false);
  const userData = profile === 'with-user-data' && job.userData !== undefined ? instances(name, 'userData', job.userData, environment, params, true) : [];
  return [...base, ...userData];
}

/** A job's list of sources, or what its function returns for the environment, checked. */
function instances(name: string, key: string, given: JobSourceList, environment: string | undefined, params: JobParams, mayBeEmpty: boolean): SourceInstance[] {
  if (Array.isArray(given)) return given;
  let sources: unknown;
  try {
    sources = given(environment, params);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`jobs.${name}.${key}(${JSON.stringify(environment ?? null)}) failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (!Array.isArray(sources) || (!mayBeEmpty && sources.length === 0) || sources.some((s) => (s as SourceInstance | undefined)?.kind !== 'source')) {
    throw new ConfigError(`jobs.${name}.${key}(${JSON.stringify(environment ?? null)}) must return ${mayBeEmpty ? 'an' : 'a non-empty'} array of sources`);
  }
  return sources as SourceInstance[];
}

/** The repository a job writes to, with its password resolved from the environment or a file. */
export function jobRepository(config: CairnConfig, job: JobConfig, env: Readonly<Record<string, string | undefined>>): RepositoryRef {
  const repository = config.repositories[job.repository];
  if (!repository) throw new ConfigError(`unknown repository "${job.repository}"`);
  return { target: repository.url, password: resolvePassword(repository.password, env as NodeJS.ProcessEnv) };
}

export interface JobEstimate {
  job: string;
  environment?: string;
  estimate: SizeEstimate;
  /** The job's size limit in bytes, when it has one. */
  sizeLimit?: number;
  /** True when a run now would be refused for its size. */
  overLimit: boolean;
}

/** What a run of the job would read now, and how much of it is new or changed: `cairn estimate JOB`. */
export async function estimateJob(cairn: Cairn, config: CairnConfig, request: Omit<JobRunRequest, 'requestedBy'> & { requestedBy?: string }, env: Readonly<Record<string, string | undefined>> = process.env): Promise<JobEstimate> {
  const job = findJob(config, request.job);
  const sources = jobSources(request.job, job, request.environment, request.profile ?? job.profile, request.options);
  const repository = jobRepository(config, job, env);
  const estimate = await cairn.estimate({
    repository, sources, job: request.job,
    ...(request.environment ? { environment: request.environment } : {}),
    ...(request.requestedBy ? { requestedBy: request.requestedBy } : {}),
    ...(request.signal ? { signal: request.signal } : {}),
  });
  return {
    job: request.job, ...(request.environment ? { environment: request.environment } : {}), estimate,
    ...(job.sizeLimit !== undefined ? { sizeLimit: job.sizeLimit } : {}),
    overLimit: job.sizeLimit !== undefined && estimate.bytes > job.sizeLimit,
  };
}

/**
 * Runs one configured job to the end: a backup of its sources into its repository, tagged with
 * the job (and environment), then — when the job has a retention policy — forget of the job's own
 * snapshots beyond it, followed by prune. The same function serves every executor: a local one
 * calls it in-process, a queue worker calls it for each request it takes.
 */
export async function runJob(cairn: Cairn, config: CairnConfig, request: JobRunRequest, env: Readonly<Record<string, string | undefined>> = process.env): Promise<JobRunResult> {
  const job = findJob(config, request.job);
  const runId = request.runId ?? randomUUID();
  const startedAt = new Date();
  let result: JobRunResult;
  try {
    result = await runJobSteps(cairn, config, job, { ...request, runId }, env);
  } catch (error) {
    await notifyJobRun(cairn, config, { request, runId, startedAt, error });
    throw error;
  }
  const failures = await notifyJobRun(cairn, config, { request, runId, startedAt, result });
  return failures.length > 0 ? { ...result, notificationFailures: failures } : result;
}

async function runJobSteps(cairn: Cairn, config: CairnConfig, job: JobConfig, request: JobRunRequest & { runId: string }, env: Readonly<Record<string, string | undefined>>): Promise<JobRunResult> {
  const profile = request.profile ?? job.profile;
  const sources = jobSources(request.job, job, request.environment, profile, request.options);
  const repository = jobRepository(config, job, env);
  // A job with user data marks which snapshots hold it, so a restore can tell.
  const tags = [...jobTags(request.job, request.environment), ...(job.tags ?? []), ...(job.userData !== undefined ? [`profile:${profile ?? 'with-user-data'}`] : [])];
  const compressionLevel = job.compressionLevel ?? config.repositories[job.repository]?.compressionLevel;
  cairn.logger.info(`job ${request.job} starting`, {
    job: request.job, ...(request.environment ? { environment: request.environment } : {}), repository: redact(String(repository.target)),
    ...(request.requestedBy ? { requestedBy: request.requestedBy } : {}), run: request.runId,
  });
  // Who asked, for which job and environment: the history and the events record it with the run.
  const meta = {
    job: request.job, ...(request.environment ? { environment: request.environment } : {}), ...(request.requestedBy ? { requestedBy: request.requestedBy } : {}),
    ...(request.options && Object.keys(request.options).length > 0 ? { params: request.options } : {}),
  };
  if (job.sizeLimit !== undefined) {
    const estimate = await cairn.estimate({ ...meta, runId: `${request.runId}.estimate`, repository, sources, ...(request.signal ? { signal: request.signal } : {}) });
    if (estimate.bytes > job.sizeLimit) {
      throw new CairnError('JOB_SIZE_LIMIT', `job ${request.job}${request.environment ? ` (${request.environment})` : ''} would back up ${formatSize(estimate.bytes)} in ${estimate.files} files, over its size limit of ${formatSize(job.sizeLimit)}: raise jobs.${request.job}.sizeLimit or exclude data`);
    }
  }
  const backup = await cairn.backup({
    ...meta, runId: request.runId, repository, sources, tags,
    ...(compressionLevel !== undefined ? { compressionLevel } : {}),
    ...(request.signal ? { signal: request.signal } : {}),
  });
  const result: JobRunResult = { job: request.job, ...(request.environment ? { environment: request.environment } : {}), backup };
  if (job.retention) {
    result.retention = await cairn.forget({ ...meta, runId: `${request.runId}.retention`, repository, policy: job.retention, tags: jobTags(request.job, request.environment), prune: true });
  }
  return result;
}
