import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { findJob, runJob } from '@cairn/core';
import { configOption, jsonOption, type CommandSpec } from '../command.js';
import { jobRunChoice, jobRunOptions } from './job-options.js';
import { exitCodes } from '../errors.js';
import { backupLine, plural, shortId, toJson } from '../output.js';
import { withProgress } from '../progress.js';
import { abortable } from '../state.js';

export const runCommand: CommandSpec = {
  name: 'run',
  summary: 'run a job of the config now and wait for it',
  usage: 'run JOB [--env E] [--profile P] [--config FILE] [--json]',
  description: 'Backs up the job\'s sources into its repository, tagged `job:JOB` (and `env:E`), then applies the job\'s retention\n'
    + 'to its own snapshots and prunes. Exits with the run\'s status: 0 done, 1 failed, 3 saved but incomplete.',
  examples: ['cairn run docs', 'cairn run site --env production --json'],
  options: {
    ...jobRunOptions,
    ...configOption,
    ...jsonOption,
  },
  positionals: { min: 1, max: 1, names: 'JOB' },
  async run(ctx) {
    const choice = jobRunChoice(ctx);
    const config = await ctx.config();
    const name = ctx.positionals[0]!;
    ctx.noteRepository(config.repositories[findJob(config, name).repository]?.url ?? '?');
    const cairn = await ctx.cairn();
    const bar = ctx.progress('backup');
    const runId = randomUUID();
    if (!ctx.json) ctx.info(`job ${name}: run ${shortId(runId)} (\`cairn abort ${shortId(runId)}\` stops it)`);
    const result = await abortable(await ctx.stateDir(), runId, ctx.signal, (signal) => withProgress(cairn, bar, 'backup', () => runJob(cairn, config, {
      job: name,
      runId,
      requestedBy: `cli:${userName()}`,
      signal,
      ...choice,
    }, ctx.io.env)));
    const { snapshot, warnings } = result.backup;
    for (const warning of warnings) ctx.warn(`${warning.path}: ${warning.message}`);
    for (const failure of result.notificationFailures ?? []) ctx.warn(failure.message);
    if (ctx.json) {
      ctx.print(toJson({
        job: result.job, environment: result.environment ?? null, id: snapshot.id, shortId: shortId(snapshot.id), summary: snapshot.summary, warnings,
        retention: result.retention ? { kept: result.retention.keep.map((k) => k.snapshot.id), removed: result.retention.remove.map((s) => s.id) } : null,
      }).trimEnd());
    } else {
      ctx.info(`job ${result.job}${result.environment ? ` (${result.environment})` : ''}: ${backupLine(snapshot)}`);
      if (result.retention) ctx.info(`retention: kept ${plural(result.retention.keep.length, 'snapshot')}, removed ${result.retention.remove.length}`);
      ctx.print(snapshot.id);
    }
    if (warnings.length > 0) {
      ctx.warn(`${plural(warnings.length, 'entry', 'entries')} could not be read; snapshot ${shortId(snapshot.id)} was saved but is incomplete`);
      return exitCodes.incomplete;
    }
    return exitCodes.ok;
  },
};

function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown'; // no passwd entry for this uid (containers)
  }
}
