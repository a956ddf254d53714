import { estimateJob, findJob } from '@cairn/core';
import { configOption, jsonOption, type CommandSpec } from '../command.js';
import { jobRunChoice, jobRunOptions } from './job-options.js';
import { formatBytes, plural, shortId, toJson } from '../output.js';

export const estimateCommand: CommandSpec = {
  name: 'estimate',
  summary: 'show how much a run of a job would read and add, without running it',
  usage: 'estimate JOB [--env E] [--profile P] [--config FILE] [--json]',
  description: 'Walks the job\'s sources (metadata only: no content is read) and compares them with the job\'s last\n'
    + 'snapshot: how many files and bytes a run would back up, and how many are new or changed — an upper bound of\n'
    + 'the new data, before deduplication and compression. Says whether the job\'s sizeLimit would refuse the run.',
  examples: ['cairn estimate docs', 'cairn estimate site --env production --json'],
  options: {
    ...jobRunOptions,
    ...configOption,
    ...jsonOption,
  },
  positionals: { min: 1, max: 1, names: 'JOB' },
  async run(ctx) {
    const choice = jobRunChoice(ctx);
    const { environment } = choice;
    const config = await ctx.config();
    const name = ctx.positionals[0]!;
    ctx.noteRepository(config.repositories[findJob(config, name).repository]?.url ?? '?');
    const cairn = await ctx.cairn();
    const result = await estimateJob(cairn, config, { job: name, signal: ctx.signal, ...choice }, ctx.io.env);
    const { estimate } = result;
    if (ctx.json) {
      ctx.print(toJson({ ...result, environment: result.environment ?? null, sizeLimit: result.sizeLimit ?? null }).trimEnd());
      return 0;
    }
    const label = `job ${name}${environment ? ` (${environment})` : ''}`;
    ctx.print(`${label}: ${plural(estimate.files, 'file')} in ${plural(estimate.dirs, 'directory', 'directories')}, ${formatBytes(estimate.bytes)} to back up`);
    ctx.print(estimate.parent
      ? `new or changed since snapshot ${shortId(estimate.parent)}: ${plural(estimate.filesToRead, 'file')}, ${formatBytes(estimate.bytesToRead)} (at most this much new data)`
      : `no earlier snapshot of this job: all ${formatBytes(estimate.bytes)} is new (before deduplication and compression)`);
    if (estimate.warnings > 0) ctx.warn(`${plural(estimate.warnings, 'entry', 'entries')} could not be read and would be skipped`);
    if (result.sizeLimit !== undefined) {
      ctx.print(result.overLimit
        ? `over the size limit of ${formatBytes(result.sizeLimit)}: a run would be refused (raise jobs.${name}.sizeLimit or exclude data)`
        : `within the size limit of ${formatBytes(result.sizeLimit)}`);
    }
    return 0;
  },
};
