import { formatTime, shortId, toJson } from '../output.js';
import { configOption, jsonOption, type CommandContext, type CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { findQueuedRun, findRun, withHistory } from './history.js';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

export const logsCommand: CommandSpec = {
  name: 'logs',
  summary: 'print the log of one run',
  usage: 'logs RUN [--level L] [--config FILE] [--json]',
  description: 'Prints the log lines the history kept for a run (an id, or a unique prefix of one, from `cairn history`),\n'
    + 'oldest first, after a line that sums the run up. --level hides the lines below a level. With a shared queue, a run\n'
    + 'that a worker on another machine ran is read from the queue (its info lines and above).',
  examples: ['cairn logs 3f9a2c1e', 'cairn logs 3f9a2c1e --level warn', 'cairn logs 3f9a2c1e --json'],
  options: {
    ...configOption,
    ...jsonOption,
    level: { type: 'string', value: 'LEVEL', description: `lowest level shown (${LEVELS.join(', ')}; default debug)` },
  },
  positionals: { min: 1, max: 1, names: 'RUN' },
  async run(ctx) {
    const level = ctx.string('level');
    if (level !== undefined && !(LEVELS as readonly string[]).includes(level)) throw new UsageError('CLI_BAD_VALUE', `--level must be one of ${LEVELS.join(', ')}, got "${level}"`);
    const minLevel = level as (typeof LEVELS)[number] | undefined;
    const queued = await queuedRunLogs(ctx, ctx.positionals[0]!, minLevel);
    if (queued !== undefined) return queued;
    const { run, lines } = await withHistory(ctx, async (history) => {
      const found = await findRun(history, ctx.positionals[0]!);
      return { run: found, lines: await history.logs(found.id, minLevel ? { minLevel } : {}) };
    });
    if (ctx.json) {
      ctx.print(toJson({ run, lines }).trimEnd());
      return 0;
    }
    const what = run.job ? `job ${run.job}${run.environment ? ` (${run.environment})` : ''}` : run.operation;
    const error = run.error ? `: ${run.error.code} ${run.error.message}` : '';
    ctx.info(`run ${shortId(run.id)}: ${what}, ${run.status}${error}, started ${formatTime(run.startedAt)}${run.requestedBy ? ` by ${run.requestedBy}` : ''}`);
    if (lines.length === 0) ctx.info('(no log lines kept for this run)');
    for (const line of lines) ctx.print(`${formatTime(line.time)}  ${line.level.toUpperCase().padEnd(5)}  ${line.message}`);
    return 0;
  },
};

/**
 * With a shared queue, a run this machine did not run is known to the queue, with the lines its
 * worker sent: printed when the local history does not have the run. Undefined otherwise.
 */
async function queuedRunLogs(ctx: CommandContext, ref: string, minLevel: (typeof LEVELS)[number] | undefined): Promise<number | undefined> {
  if (ctx.io.env.CAIRN_STATE_DIR && ctx.string('config') === undefined) return undefined;
  const queue = (await ctx.config()).executor?.queue;
  if (!queue?.shared) return undefined;
  try {
    if (await withHistory(ctx, async (history) => findRun(history, ref).then(() => true, () => false))) return undefined;
    const run = await findQueuedRun(queue, ref);
    if (!run) return undefined;
    const lines = (await queue.logs(run.id)).filter((line) => LEVELS.indexOf(line.level) >= LEVELS.indexOf(minLevel ?? 'debug'));
    if (ctx.json) {
      ctx.print(toJson({ run, lines }).trimEnd());
      return 0;
    }
    const what = `job ${run.request.job}${run.request.environment ? ` (${run.request.environment})` : ''}`;
    const error = run.error ? `: ${run.error.code} ${run.error.message}` : '';
    ctx.info(`run ${shortId(run.id)}: ${what}, ${run.status}${error}, queued ${formatTime(run.enqueuedAt)}${run.request.requestedBy ? ` by ${run.request.requestedBy}` : ''} (from the queue)`);
    if (lines.length === 0) ctx.info('(no log lines kept for this run)');
    for (const line of lines) ctx.print(`${formatTime(line.time)}  ${line.level.toUpperCase().padEnd(5)}  ${line.message}`);
    return 0;
  } finally {
    await queue.close();
  }
}
