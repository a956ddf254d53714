import { RUN_STATUSES } from '@cairn/core';
import type { HistoryStore, JobQueue, RunInfo, RunRecord, RunStatus } from '@cairn/core';
import { configOption, jsonOption, type CommandContext, type CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { formatBytes, formatDuration, formatTime, shortId, table, toJson } from '../output.js';
import { openHistory } from '../state.js';

export const historyCommand: CommandSpec = {
  name: 'history',
  summary: 'list past and running runs, newest first',
  usage: 'history [--job J] [--status S] [--limit N] [--config FILE] [--json]',
  description: 'Reads the run history in the state folder (the config\'s stateDir, default .cairn beside the config file,\n'
    + 'or $CAIRN_STATE_DIR): every run with its status, who asked, when, how long, what it read and added, and its\n'
    + 'snapshot. `cairn logs RUN` prints one run\'s log.',
  examples: ['cairn history', 'cairn history --job docs --status failed', 'cairn history --limit 100 --json'],
  options: {
    ...configOption,
    ...jsonOption,
    job: { type: 'string', value: 'JOB', description: 'only runs of this job' },
    status: { type: 'string', value: 'STATUS', description: `only runs with this status (${RUN_STATUSES.join(', ')})` },
    limit: { type: 'string', value: 'N', description: 'at most N runs (default 20)' },
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx) {
    const status = ctx.string('status');
    if (status !== undefined && !RUN_STATUSES.includes(status as RunStatus)) {
      throw new UsageError('CLI_BAD_VALUE', `--status must be one of ${RUN_STATUSES.join(', ')}, got "${status}"`);
    }
    const limitText = ctx.string('limit') ?? '20';
    if (!/^[1-9]\d{0,5}$/.test(limitText)) throw new UsageError('CLI_BAD_VALUE', `--limit must be a whole number from 1 to 999999, got "${limitText}"`);
    const job = ctx.string('job');
    const runs = await withHistory(ctx, (history) => history.listRuns({
      ...(job !== undefined ? { job } : {}),
      ...(status !== undefined ? { status: status as RunStatus } : {}),
      limit: Number(limitText),
    }));
    if (ctx.json) {
      ctx.print(toJson(runs).trimEnd());
    } else if (runs.length === 0) {
      ctx.info(job || status ? 'no runs match' : 'no runs recorded yet: runs of `cairn run` (and any command given a config) are recorded here');
    } else {
      ctx.print(table(['RUN', 'STARTED', 'OPERATION', 'JOB', 'STATUS', 'DURATION', 'READ', 'ADDED', 'SNAPSHOT', 'REQUESTED BY'], runs.map(row)));
    }
    return 0;
  },
};

function row(run: RunRecord): string[] {
  const status = run.status === 'failed' && run.error ? `failed (${run.error.code})` : run.status;
  return [
    shortId(run.id),
    formatTime(run.startedAt),
    run.operation,
    run.job ? `${run.job}${run.environment ? `@${run.environment}` : ''}` : '-',
    status,
    run.durationMs !== undefined ? formatDuration(run.durationMs) : '-',
    run.bytesRead !== undefined ? formatBytes(run.bytesRead) : '-',
    run.bytesAdded !== undefined ? formatBytes(run.bytesAdded) : '-',
    run.snapshotId ? shortId(run.snapshotId) : '-',
    run.requestedBy ?? '-',
  ];
}

/** Opens the state folder's history for one read, and closes it. */
export async function withHistory<T>(ctx: CommandContext, read: (history: HistoryStore) => Promise<T>): Promise<T> {
  const history = openHistory(await ctx.stateDir());
  try {
    return await read(history);
  } finally {
    await history.close();
  }
}

/** The run an id or unique id prefix names; a usage error (exit 2) for none or several. */
export async function findRun(history: HistoryStore, ref: string): Promise<RunRecord> {
  const exact = await history.getRun(ref);
  if (exact) return exact;
  if (!/^[0-9a-zA-Z-]{4,}$/.test(ref)) throw new UsageError('CLI_BAD_ARGUMENTS', `"${ref}" is not a run id: give at least 4 characters of one from \`cairn history\``);
  const matches = await history.listRuns({ idPrefix: ref, limit: 2 });
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new UsageError('CLI_BAD_ARGUMENTS', `no run ${ref} in the history (see \`cairn history\`)`);
  throw new UsageError('CLI_BAD_ARGUMENTS', `run id ${ref} is ambiguous (several runs start with it): give more characters`);
}

/** The shared queue's run that `ref` names (an id, or a unique prefix of one the queue remembers); undefined when the queue has none. */
export async function findQueuedRun(queue: JobQueue, ref: string): Promise<RunInfo | undefined> {
  const exact = await queue.get(ref);
  if (exact) return exact;
  if (!/^[0-9a-zA-Z-]{4,}$/.test(ref)) return undefined;
  const matches = (await queue.list({ limit: 1000 })).filter((run) => run.id.startsWith(ref));
  if (matches.length > 1) throw new UsageError('CLI_BAD_ARGUMENTS', `run id ${ref} is ambiguous (${matches.length} runs in the queue start with it): give more characters`);
  return matches[0];
}
