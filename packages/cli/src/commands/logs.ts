import { formatTime, shortId, toJson } from '../output.js';
import { configOption, jsonOption, type CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { findRun, withHistory } from './history.js';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

export const logsCommand: CommandSpec = {
  name: 'logs',
  summary: 'print the log of one run',
  usage: 'logs RUN [--level L] [--config FILE] [--json]',
  description: 'Prints the log lines the history kept for a run (an id, or a unique prefix of one, from `cairn history`),\n'
    + 'oldest first, after a line that sums the run up. --level hides the lines below a level.',
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
    const { run, lines } = await withHistory(ctx, async (history) => {
      const found = await findRun(history, ctx.positionals[0]!);
      return { run: found, lines: await history.logs(found.id, level ? { minLevel: level as (typeof LEVELS)[number] } : {}) };
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
