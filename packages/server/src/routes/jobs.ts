import { ConfigError, estimateJob, jobSources, redact } from '@cairn/core';
import type { JobConfig, JsonObject } from '@cairn/core';
import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { HttpError, parseInput } from '../http.js';
import { route } from '../router.js';
import type { AnyRoute } from '../router.js';
import { estimateQuery, jobEstimate, jobList, triggerBody, triggerByJob, triggerByType, triggerResult } from '../schemas.js';

type JobInfo = z.output<typeof jobList>['jobs'][number];

const jobName = { name: 'The job\'s name, as the config names it.' };

function describeJob(name: string, job: JobConfig, config: ApiContext['config']): JobInfo {
  const repository = config.repositories[job.repository];
  return {
    name,
    type: job.type ?? null,
    description: job.description ?? null,
    repository: job.repository,
    repositoryLocation: repository ? redact(repository.url) : null,
    environments: job.environments ?? [],
    schedule: job.schedule ?? null,
    retention: job.retention ?? null,
    // A job whose sources depend on the environment and the run's parameters names them only when it runs.
    sources: Array.isArray(job.sources) ? job.sources.map((source) => source.name) : null,
    profile: job.profile ?? 'with-user-data',
    sizeLimit: job.sizeLimit ?? null,
  };
}

export function requireJob(api: ApiContext, name: string): JobConfig {
  const job = Object.hasOwn(api.config.jobs, name) ? api.config.jobs[name] : undefined;
  if (!job) throw new HttpError(404, 'JOB_NOT_FOUND', `no job named "${name}" (jobs: ${Object.keys(api.config.jobs).join(', ') || 'none'})`);
  return job;
}

/** The job a `type` request means: the one job of that type covering the environment. */
function jobOfType(api: ApiContext, type: string, environment: string | undefined): string {
  const matching = Object.entries(api.config.jobs)
    .filter(([, job]) => job.type === type && (environment === undefined || !job.environments || job.environments.includes(environment)))
    .map(([name]) => name);
  if (matching.length === 0) {
    throw new HttpError(404, 'JOB_NOT_FOUND', `no job of type ${type}${environment ? ` covers environment ${environment}` : ''}: set type: '${type}' on a job of the config, or ask for { "job": NAME }`);
  }
  if (matching.length > 1) {
    throw new HttpError(409, 'JOB_AMBIGUOUS', `several jobs are of type ${type}${environment ? ` in environment ${environment}` : ''} (${matching.join(', ')}): ask for one with { "job": NAME }`);
  }
  return matching[0]!;
}

export function jobRoutes(api: ApiContext): AnyRoute[] {
  return [
    route({
      method: 'GET', path: '/api/jobs', role: 'viewer', tag: 'jobs', summary: 'The config\'s jobs.',
      responses: { 200: { description: 'The jobs, in the config\'s order.', schema: jobList } },
      async handle() {
        return { status: 200, body: { jobs: Object.entries(api.config.jobs).map(([name, job]) => describeJob(name, job, api.config)) } };
      },
    }),
    route({
      method: 'GET', path: '/api/jobs/:name/estimate', role: 'viewer', tag: 'jobs', summary: 'What a run of the job would read now, and how much of it is new.',
      params: jobName, query: estimateQuery,
      responses: { 200: { description: 'The estimate: files, bytes, bytes to read, the size limit and whether a run would be refused.', schema: jobEstimate } },
      async handle({ params, query, principal }) {
        requireJob(api, params.name!);
        const estimate = await estimateJob(api.cairn, api.config, {
          job: params.name!, requestedBy: `api:${principal.subject}`, ...(query.environment ? { environment: query.environment } : {}),
        }, api.env);
        return { status: 200, body: estimate };
      },
    }),
    route({
      method: 'POST', path: '/api/trigger-backup', role: 'operator', tag: 'jobs', audit: 'trigger-backup', rawBody: true,
      summary: 'Queue a backup: of a job by name, or of the job of a type (database, user_data, storage).',
      body: triggerBody,
      responses: { 202: { description: 'Queued (or an identical run was already queued or running: `deduplicated`).', schema: triggerResult } },
      async handle(ctx) {
        const raw = ctx.body;
        const byJob = typeof raw === 'object' && raw !== null && !Array.isArray(raw) && 'job' in raw;
        let job: string;
        let environment: string | undefined;
        let profile: z.output<typeof triggerByJob>['profile'];
        const options: JsonObject = {};
        if (byJob) {
          const body = parseInput(triggerByJob, raw, 'trigger');
          ctx.audit.target = body.job;
          requireJob(api, body.job);
          ({ job, environment, profile } = body);
          if (body.description) options.description = body.description;
        } else {
          const body = parseInput(triggerByType, raw, 'trigger');
          ctx.audit.target = `type:${body.type}`;
          job = jobOfType(api, body.type, body.environment);
          environment = body.environment;
          for (const key of ['description', 'database_name', 'storage_path'] as const) if (body[key] !== undefined) options[key] = body[key];
        }
        ctx.audit.target = job;
        const jobConfig = requireJob(api, job);
        if (environment !== undefined && jobConfig.environments && !jobConfig.environments.includes(environment)) {
          throw new HttpError(400, 'ENVIRONMENT_NOT_COVERED', `job ${job} does not cover environment ${environment} (it covers: ${jobConfig.environments.join(', ')})`);
        }
        // The job's sources for these parameters, made now: a parameter the job refuses (a
        // storage_path outside what it may read, say) is a 400 here, not a failed run later.
        try {
          jobSources(job, jobConfig, environment, profile, options);
        } catch (error) {
          if (error instanceof ConfigError) throw new HttpError(400, 'INVALID_PARAMETERS', error.message);
          throw error;
        }
        api.limitTriggers(ctx.principal.subject);
        const { id, deduplicated } = await api.queue.enqueue({
          job, requestedBy: `api:${ctx.principal.subject}`,
          ...(environment !== undefined ? { environment } : {}), ...(profile ? { profile } : {}),
          ...(Object.keys(options).length ? { options } : {}),
        }, { priority: 'high' });
        ctx.audit.runId = id;
        return { status: 202, body: { runId: id, deduplicated, job } };
      },
    }),
  ];
}
