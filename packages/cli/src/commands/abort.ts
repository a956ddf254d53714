import { CairnError, FINAL_QUEUE_RUN_STATUSES } from '@cairn/core';
import type { JobQueue, RunInfo } from '@cairn/core';
import { configOption, type CommandContext, type CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { formatTime, shortId } from '../output.js';
import { openAbortRequests } from '../state.js';
import { findQueuedRun, findRun, withHistory } from './history.js';

/** How long `cairn abort` waits to see the run end before it leaves it to the running process. */
const WAIT_MS = 15_000;

export const abortCommand: CommandSpec = {
  name: 'abort',
  summary: 'abort a queued or running job run, wherever it runs',
  usage: 'abort RUN [--config FILE]',
  description: 'Aborts RUN (an id or a unique prefix from `cairn history`, `cairn run --detach` or `cairn schedule run`).\n'
    + 'With a shared queue in the config (executor: bullmqExecutor(…)), the abort goes through the queue and reaches the\n'
    + 'worker running it on any machine within seconds; a run still queued is taken off at once. Otherwise the process\n'
    + 'running it on this machine (`cairn run`, `cairn schedule run`) checks the state folder at least every second.\n'
    + 'Either way the run is aborted through its sources and targets; the repository stays valid and the next backup\n'
    + 'reuses what was stored. Waits up to 15 s to report that the run ended.',
  examples: ['cairn abort 3f9a2c1e'],
  options: { ...configOption },
  positionals: { min: 1, max: 1, names: 'RUN' },
  async run(ctx) {
    const ref = ctx.positionals[0]!;
    const reason = `aborted by cairn abort (${process.env.USER ?? 'a user'})`;
    // With CAIRN_STATE_DIR, a config is needed only for a shared queue.
    const config = await ctx.config().catch((error: unknown) => {
      if (error instanceof UsageError && error.code === 'CLI_MISSING_CONFIG' && ctx.io.env.CAIRN_STATE_DIR) return undefined;
      throw error;
    });
    const queue = config?.executor?.queue;
    if (queue?.shared) {
      try {
        const queued = await findQueuedRun(queue, ref);
        if (queued) return await abortQueued(ctx, queue, queued, reason);
      } finally {
        await queue.close();
      }
    }
    const stateDir = await ctx.stateDir();
    const run = await withHistory(ctx, (history) => findRun(history, ref));
    if (run.status !== 'running' && run.status !== 'queued') {
      throw new UsageError('CLI_BAD_ARGUMENTS', `run ${shortId(run.id)} is not running: it ${run.status}${run.endedAt ? ` (ended ${formatTime(run.endedAt)})` : ''}`);
    }
    const requests = openAbortRequests(stateDir);
    try {
      await requests.request(run.id, reason);
    } finally {
      requests.close();
    }
    const deadline = Date.now() + WAIT_MS;
    while (Date.now() < deadline) {
      const now = await withHistory(ctx, (history) => history.getRun(run.id));
      if (now && now.status !== 'running' && now.status !== 'queued') {
        ctx.info(`run ${shortId(run.id)}${run.job ? ` (job ${run.job})` : ''}: ${now.status}${now.error ? ` — ${now.error.code}` : ''}`);
        return 0;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    ctx.info(`run ${shortId(run.id)}: abort requested; it has not ended yet (the process running it may be busy or gone): see \`cairn history\``);
    return 0;
  },
};

async function abortQueued(ctx: CommandContext, queue: JobQueue, run: RunInfo, reason: string): Promise<number> {
  const what = `run ${shortId(run.id)} (job ${run.request.job})`;
  if (FINAL_QUEUE_RUN_STATUSES.includes(run.status)) {
    throw new UsageError('CLI_BAD_ARGUMENTS', `${what} is not running: it ${run.status}${run.endedAt ? ` (ended ${formatTime(run.endedAt)})` : ''}`);
  }
  await queue.abort(run.id, reason);
  const ended = await Promise.race([
    queue.wait(run.id).then(() => 'succeeded', (error: unknown) => (error instanceof CairnError ? (error.code === 'ABORTED' ? 'aborted' : `failed — ${error.code}`) : 'failed')),
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), WAIT_MS).unref()),
  ]);
  ctx.info(ended ? `${what}: ${ended}` : `${what}: abort requested; it has not ended yet (its worker may be busy or gone): see \`cairn history\``);
  return 0;
}
