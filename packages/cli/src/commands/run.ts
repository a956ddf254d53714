import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { findJob, runJob } from '@cairn/core';
import type { JobProfile, JobQueue, JobProgress, QueuedRunResult, QueueRunStatus } from '@cairn/core';
import { configOption, jsonOption, type CommandContext, type CommandSpec } from '../command.js';
import { jobRunChoice, jobRunOptions } from './job-options.js';
import { UsageError, exitCodes } from '../errors.js';
import { backupLine, plural, shortId, toJson } from '../output.js';
import { withProgress } from '../progress.js';
import { abortable } from '../state.js';

export const runCommand: CommandSpec = {
  name: 'run',
  summary: 'run a job of the config now and wait for it',
  usage: 'run JOB [--env E] [--profile P] [--detach] [--config FILE] [--json]',
  description: 'Backs up the job\'s sources into its repository, tagged `job:JOB` (and `env:E`), then applies the job\'s retention\n'
    + 'to its own snapshots and prunes. Exits with the run\'s status: 0 done, 1 failed, 3 saved but incomplete.\n'
    + 'With a shared queue in the config (executor: bullmqExecutor(…)), the run is queued, ahead of routine runs, for a\n'
    + '`cairn worker` to take; this command follows its progress until it ends (Ctrl-C aborts a run it queued), or with\n'
    + '--detach only queues it and prints its id. The same request already queued or running is not queued twice.',
  examples: ['cairn run docs', 'cairn run site --env production --json', 'cairn run docs --detach'],
  options: {
    ...jobRunOptions,
    detach: { type: 'boolean', description: 'only queue the run for a worker and print its id (needs a shared queue)' },
    ...configOption,
    ...jsonOption,
  },
  positionals: { min: 1, max: 1, names: 'JOB' },
  async run(ctx) {
    const choice = jobRunChoice(ctx);
    const config = await ctx.config();
    const name = ctx.positionals[0]!;
    ctx.noteRepository(config.repositories[findJob(config, name).repository]?.url ?? '?');
    const queue = config.executor?.queue;
    if (queue?.shared) {
      try {
        return await runQueued(ctx, queue, name, choice);
      } finally {
        await queue.close();
      }
    }
    if (ctx.flag('detach')) {
      throw new UsageError('CLI_BAD_ARGUMENTS', `--detach needs a queue shared with workers, but the config's executor (${config.executor?.plugin ?? 'local, the default'}) runs jobs in this process: set executor: bullmqExecutor({ connection: 'redis://…' }) in the config, or leave --detach out`);
    }
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

/** How long `cairn run` waits for a worker to take its run before it says none has. */
const WORKER_HINT_MS = 10_000;

/**
 * The run goes through the config's shared queue: queued (as `high`: someone is waiting for it),
 * then followed from here until it ends, unless `--detach`.
 */
async function runQueued(ctx: CommandContext, queue: JobQueue, name: string, choice: { environment?: string; profile?: JobProfile }): Promise<number> {
  const { id, deduplicated } = await queue.enqueue({ job: name, requestedBy: `cli:${userName()}`, ...choice }, { priority: 'high' });
  const what = `job ${name}${choice.environment ? ` (${choice.environment})` : ''}`;
  if (ctx.flag('detach')) {
    if (ctx.json) ctx.print(toJson({ id, deduplicated }).trimEnd());
    else {
      ctx.info(deduplicated ? `${what}: already queued or running as run ${shortId(id)}` : `${what}: run ${shortId(id)} queued for a worker`);
      ctx.print(id);
    }
    return exitCodes.ok;
  }
  if (!ctx.json) ctx.info(deduplicated ? `${what}: already queued or running as run ${shortId(id)}; following it` : `${what}: run ${shortId(id)} queued for a worker`);
  const bar = ctx.progress('backup');
  const onProgress = (runId: string, progress: JobProgress): void => {
    if (runId !== id) return;
    bar.update({
      ...(progress.filesDone !== undefined ? { filesDone: progress.filesDone } : {}),
      ...(progress.bytesDone !== undefined ? { bytesDone: progress.bytesDone } : {}),
      ...(progress.message !== undefined ? { currentPath: progress.message } : {}),
    });
  };
  let announced = false;
  const onStatus = (runId: string, status: QueueRunStatus): void => {
    if (runId !== id || status !== 'running' || announced || ctx.json) return;
    announced = true;
    bar.done();
    ctx.info(`${what}: run ${shortId(id)} started on a worker`);
  };
  queue.events.on('progress', onProgress);
  queue.events.on('status', onStatus);
  // Nothing happens without a worker: say so, once, rather than wait in silence.
  const hint = setTimeout(() => {
    void queue.get(id).then((info) => {
      if (info?.status === 'queued' && !ctx.json) ctx.info(`${what}: no worker has taken run ${shortId(id)} yet; is \`cairn worker\` running with this config?`);
    }, () => {});
  }, WORKER_HINT_MS);
  let outcome: QueuedRunResult;
  try {
    outcome = (await queue.wait(id, { signal: ctx.signal })) as unknown as QueuedRunResult;
  } catch (error) {
    // Ctrl-C: a run this command queued is aborted (as the in-process run would be); one it only follows goes on.
    if (ctx.signal.aborted && !deduplicated) {
      await queue.abort(id, 'interrupted: cairn run was stopped').catch(() => { /* it ended meanwhile */ });
    }
    throw error;
  } finally {
    clearTimeout(hint);
    bar.done();
    queue.events.off('progress', onProgress);
    queue.events.off('status', onStatus);
  }
  const { snapshot, warnings, warningCount } = outcome;
  for (const warning of warnings) ctx.warn(`${warning.path}: ${warning.message}`);
  for (const failure of outcome.notificationFailures) ctx.warn(failure.message);
  if (ctx.json) {
    ctx.print(toJson({
      run: id, job: outcome.job, environment: outcome.environment, id: snapshot.id, shortId: shortId(snapshot.id), summary: snapshot.summary, warnings,
      retention: outcome.retention,
    }).trimEnd());
  } else {
    ctx.info(`job ${outcome.job}${outcome.environment ? ` (${outcome.environment})` : ''}: ${backupLine(snapshot)}`);
    if (outcome.retention) ctx.info(`retention: kept ${plural(outcome.retention.kept.length, 'snapshot')}, removed ${outcome.retention.removed.length}`);
    ctx.print(snapshot.id);
  }
  if (warningCount > 0) {
    ctx.warn(`${plural(warningCount, 'entry', 'entries')} could not be read; snapshot ${shortId(snapshot.id)} was saved but is incomplete`);
    return exitCodes.incomplete;
  }
  return exitCodes.ok;
}

function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown'; // no passwd entry for this uid (containers)
  }
}
