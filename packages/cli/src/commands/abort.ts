import { configOption, type CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { formatTime, shortId } from '../output.js';
import { openAbortRequests } from '../state.js';
import { findRun, withHistory } from './history.js';

/** How long `cairn abort` waits to see the run end before it leaves it to the running process. */
const WAIT_MS = 15_000;

export const abortCommand: CommandSpec = {
  name: 'abort',
  summary: 'abort a running job run (from any terminal on this machine)',
  usage: 'abort RUN [--config FILE]',
  description: 'Asks the process running RUN (`cairn run`, `cairn schedule run`; an id or a unique prefix from\n'
    + '`cairn history`) to abort it. That process checks at least every second and aborts the run through its\n'
    + 'sources and targets; the repository stays valid and the next backup reuses what was stored. Waits up to\n'
    + '15 s to report that the run ended.',
  examples: ['cairn abort 3f9a2c1e'],
  options: { ...configOption },
  positionals: { min: 1, max: 1, names: 'RUN' },
  async run(ctx) {
    const stateDir = await ctx.stateDir();
    const run = await withHistory(ctx, (history) => findRun(history, ctx.positionals[0]!));
    if (run.status !== 'running' && run.status !== 'queued') {
      throw new UsageError('CLI_BAD_ARGUMENTS', `run ${shortId(run.id)} is not running: it ${run.status}${run.endedAt ? ` (ended ${formatTime(run.endedAt)})` : ''}`);
    }
    const requests = openAbortRequests(stateDir);
    try {
      await requests.request(run.id, `aborted by cairn abort (${process.env.USER ?? 'a user'})`);
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
