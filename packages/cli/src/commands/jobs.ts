import { parseSchedule, redact } from '@cairn/core';
import type { Schedule } from '@cairn/core';
import type { CairnConfig, JobConfig } from '@cairn/core';
import { configOption, jsonOption, type CommandSpec } from '../command.js';
import { table, toJson } from '../output.js';

export const jobsCommand: CommandSpec = {
  name: 'jobs',
  summary: 'list the jobs a config defines',
  usage: 'jobs [--config FILE] [--json]',
  description: 'Shows each job\'s type, repository, schedule, retention, environments and sources, as the config defines them.',
  examples: ['cairn jobs', 'cairn jobs --config /etc/cairn/cairn.config.ts --json'],
  options: { ...configOption, ...jsonOption },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx) {
    const config = await ctx.config();
    const jobs = Object.entries(config.jobs).map(([name, job]) => describeJob(config, name, job));
    if (ctx.json) {
      ctx.print(toJson(jobs).trimEnd());
    } else if (jobs.length === 0) {
      ctx.info('the config defines no jobs: add some under `jobs` (see docs/operations.md)');
    } else {
      ctx.print(table(
        ['JOB', 'TYPE', 'REPOSITORY', 'SCHEDULE', 'RETENTION', 'ENVIRONMENTS', 'SOURCES'],
        jobs.map((j) => [j.name, j.type ?? '-', j.repository, j.schedule ?? '-', j.retention ?? '-', j.environments?.join(',') ?? 'all', j.sources]),
      ));
    }
    return 0;
  },
};

interface JobListing {
  name: string;
  type?: string;
  description?: string;
  repository: string;
  repositoryUrl: string;
  schedule?: string;
  retention?: string;
  environments?: string[];
  sources: string;
  tags: string[];
}

function describeJob(config: CairnConfig, name: string, job: JobConfig): JobListing {
  const url = config.repositories[job.repository]?.url ?? '?';
  return {
    name,
    ...(job.type ? { type: job.type } : {}),
    ...(job.description ? { description: job.description } : {}),
    repository: job.repository,
    repositoryUrl: redact(url),
    ...(job.schedule ? { schedule: describeSchedule(parseSchedule(job.schedule, `jobs.${name}.schedule`)) } : {}),
    ...(job.retention ? { retention: Object.entries(job.retention).map(([rule, value]) => `${rule}=${String(value)}`).join(' ') } : {}),
    ...(job.environments ? { environments: job.environments } : {}),
    // Per-environment sources are built only when a run names its environment.
    sources: Array.isArray(job.sources) ? job.sources.map((s) => `${s.plugin}:${s.description}`).join(', ') : 'per environment',
    tags: job.tags ?? [],
  };
}

function describeSchedule(schedule: Schedule): string {
  return `${schedule.cron}${schedule.timezone ? ` ${schedule.timezone}` : ''}${schedule.missed === 'skip' ? ' (skip missed)' : ''}`;
}
