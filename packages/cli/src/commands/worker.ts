import { userInfo } from 'node:os';
import { CairnError, ConfigError, jobRunHandler } from '@cairn/core';
import type { CairnConfig, JobQueue, QueuedJobRequest, RunContext } from '@cairn/core';
import { parseInteger } from '../args.js';
import { configOption, type CommandSpec } from '../command.js';
import { backupLine, formatTime, plural, shortId } from '../output.js';
import { openAbortRequests } from '../state.js';

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
    concurrency: { type: 'string', value: 'N', description: 'runs at once in this worker, 1…64 (default: the executor\'s concurrency)' },
    ...configOption,
  },
  positionals: { min: 0, max: 0, names: '' },
  service: true,
  async run(ctx) {
    const raw = ctx.string('concurrency');
    const config = await ctx.config();
    const concurrency = raw === undefined ? (config.executor?.concurrency ?? 1) : parseInteger('concurrency', raw, { min: 1, max: 64 });
    const queue = sharedQueue(config, 'cairn worker');
    const cairn = await ctx.cairn();
    const stateDir = await ctx.stateDir();
    const say = (line: string) => ctx.print(`${formatTime(new Date())}  ${line}`);
    const abortRequests = openAbortRequests(stateDir);
    const label = (request: QueuedJobRequest, run: RunContext): string => `run ${shortId(run.id)} (job ${request.job}${request.environment ? `, ${request.environment}` : ''}${run.attempt > 1 ? `, try ${run.attempt}` : ''})`;
    const handler = jobRunHandler({
      cairn, config, env: ctx.io.env, abortRequests,
      onStart(request, run) {
        say(`${label(request, run)}: started${request.requestedBy ? `, requested by ${request.requestedBy}` : ''}`);
      },
      onEnd(request, run, outcome) {
        if ('result' in outcome) {
          const { snapshot, warnings } = outcome.result.backup;
          say(`${label(request, run)}: ${backupLine(snapshot)}${warnings.length ? ` (incomplete: ${plural(warnings.length, 'entry', 'entries')} skipped)` : ''}`);
          for (const failure of outcome.result.notificationFailures ?? []) ctx.warn(failure.message);
          return;
        }
        const { error } = outcome;
        const code = error instanceof CairnError ? `${error.code}: ` : '';
        say(`${label(request, run)}: ${run.signal.aborted ? 'stopped' : 'failed'} — ${code}${error instanceof Error ? error.message : String(error)}`);
      },
    });
    try {
      const worker = await queue.process(handler, { concurrency });
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
      abortRequests.close();
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

function user(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
