import { userInfo } from 'node:os';
import { CairnError, ConfigError, runJob } from '@cairn/core';
import type { CairnConfig, JobQueue, JobRunResult, JsonValue, ProgressEvent, Snapshot } from '@cairn/core';
import { parseInteger } from '../args.js';
import { configOption, type CommandSpec } from '../command.js';
import { backupLine, formatTime, plural, shortId } from '../output.js';
import { abortable } from '../state.js';

export const workerCommand: CommandSpec = {
  name: 'worker',
  summary: 'take queued job runs off the config\'s shared queue and run them, until SIGINT or SIGTERM',
  usage: 'worker [--concurrency N] [--config FILE]',
  description: 'Runs the jobs that `cairn run --detach`, `cairn run` and schedules put in the queue of the config\'s executor\n'
    + '(e.g. bullmqExecutor on Redis); any number of workers, on any machines with the same config, share the work.\n'
    + 'Progress and results flow back to whoever asked; `cairn abort RUN` and an abort through the queue reach the run.\n'
    + 'A worker killed outright (SIGKILL, a crash) loses its runs to the others once their lock expires. On SIGINT or\n'
    + 'SIGTERM it stops taking runs and aborts those in progress, which go back to the queue for another worker: the\n'
    + 'repository stays valid and the next try reuses what was stored.',
  examples: ['cairn worker', 'cairn worker --concurrency 2 --config /etc/cairn/cairn.config.ts'],
  options: {
    concurrency: { type: 'string', value: 'N', description: 'runs at once in this worker, 1…64 (default 1)' },
    ...configOption,
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx) {
    const raw = ctx.string('concurrency');
    const concurrency = raw === undefined ? 1 : parseInteger('concurrency', raw, { min: 1, max: 64 });
    const config = await ctx.config();
    const queue = sharedQueue(config, 'cairn worker');
    const cairn = await ctx.cairn();
    const stateDir = await ctx.stateDir();
    const say = (line: string) => ctx.print(`${formatTime(new Date())}  ${line}`);
    try {
      const worker = await queue.process(async (request, run) => {
        const label = `run ${shortId(run.id)} (job ${request.job}${request.environment ? `, ${request.environment}` : ''}${run.attempt > 1 ? `, try ${run.attempt}` : ''})`;
        say(`${label}: started${request.requestedBy ? `, requested by ${request.requestedBy}` : ''}`);
        const onProgress = (event: ProgressEvent): void => {
          if (event.runId !== run.id) return;
          run.progress({
            filesDone: event.filesDone, bytesDone: event.bytesDone,
            ...(event.bytesTotal ? { ratio: Math.min(1, event.bytesDone / event.bytesTotal) } : {}),
            ...(event.currentPath !== undefined ? { message: event.currentPath } : {}),
          });
        };
        cairn.events.on('progress', onProgress);
        try {
          // The run's signal (abort through the queue, its timeout, this worker stopping) and `cairn abort RUN`.
          const result = await abortable(stateDir, run.id, run.signal, (signal) => runJob(cairn, config, { ...request, runId: run.id, signal }, ctx.io.env));
          const { snapshot, warnings } = result.backup;
          say(`${label}: ${backupLine(snapshot)}${warnings.length ? ` (incomplete: ${plural(warnings.length, 'entry', 'entries')} skipped)` : ''}`);
          for (const failure of result.notificationFailures ?? []) ctx.warn(failure.message);
          return queuedRunResult(result);
        } catch (error) {
          const code = error instanceof CairnError ? `${error.code}: ` : '';
          say(`${label}: ${run.signal.aborted ? 'stopped' : 'failed'} — ${code}${error instanceof Error ? error.message : String(error)}`);
          throw error;
        } finally {
          cairn.events.off('progress', onProgress);
        }
      }, { concurrency });
      say(`worker running as ${user()} (pid ${process.pid}, ${plural(concurrency, 'run')} at once, ${queue.kind} queue); stop it with Ctrl-C or SIGTERM`);
      let failure: unknown;
      // Until a signal, or until the worker cannot go on (its Redis gone for good).
      await Promise.race([
        new Promise<void>((resolve) => {
          if (ctx.signal.aborted) resolve();
          ctx.signal.addEventListener('abort', () => resolve(), { once: true });
        }),
        worker.stopped.catch((error: unknown) => { failure = error; }),
      ]);
      if (failure === undefined) say('stopping: runs in progress are aborted and go back to the queue');
      await worker.close({ abortRunning: true });
      if (failure !== undefined) throw failure;
    } finally {
      await queue.close();
    }
    say('worker stopped');
    return 0;
  },
};

/** The queue of the config's executor, when other processes share it; a ConfigError naming `command` otherwise. */
export function sharedQueue(config: CairnConfig, command: string): JobQueue {
  const queue = config.executor?.queue;
  if (queue?.shared) return queue;
  throw new ConfigError(`${command} needs a queue shared with other processes, but the config's executor (${config.executor?.plugin ?? 'local, the default'}) runs jobs in-process: set executor: bullmqExecutor({ connection: 'redis://…' }) in the config (see docs/operations.md)`);
}

/** What a queued run of a job returns to whoever asked (plain JSON): enough to print what `cairn run` prints. */
export interface QueuedRunResult {
  job: string;
  environment: string | null;
  snapshot: Snapshot;
  /** The first 100 entries that could not be read, and how many there were. */
  warnings: Array<{ path: string; message: string }>;
  warningCount: number;
  retention: { kept: string[]; removed: string[] } | null;
  notificationFailures: Array<{ notifier: string; message: string }>;
}

function queuedRunResult(result: JobRunResult): JsonValue {
  const { snapshot, warnings } = result.backup;
  const summary: QueuedRunResult = {
    job: result.job,
    environment: result.environment ?? null,
    snapshot,
    warnings: warnings.slice(0, 100).map(({ path, message }) => ({ path, message })),
    warningCount: warnings.length,
    retention: result.retention ? { kept: result.retention.keep.map((k) => k.snapshot.id), removed: result.retention.remove.map((s) => s.id) } : null,
    notificationFailures: (result.notificationFailures ?? []).map(({ notifier, message }) => ({ notifier, message })),
  };
  return JSON.parse(JSON.stringify(summary)) as JsonValue;
}

function user(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
