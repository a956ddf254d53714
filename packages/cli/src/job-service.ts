import { CairnError, ConfigError, Scheduler, jobRunHandler } from '@cairn/core';
import type { Cairn, CairnConfig, JobQueue, JobRunResult, QueueWorker } from '@cairn/core';
import type { CommandContext } from './command.js';
import { configSchedules } from './commands/pause-resume.js';
import { formatTime, shortId } from './output.js';
import { openAbortRequests, openScheduleState } from './state.js';

/*
 * What a long-running process of the config does with its jobs, the same for `cairn schedule run`
 * and `cairn serve`: fire the schedules into the queue, once per slot, and — when the queue is this
 * process's own (the local executor) — run what is queued, as a worker would.
 */

export interface JobService {
  queue: JobQueue;
  /** Present when the config has schedules. */
  scheduler: Scheduler | undefined;
  /** Stops the scheduler and aborts runs in progress here (the repository stays valid). */
  stop(): Promise<void>;
}

export async function startJobService(ctx: CommandContext, cairn: Cairn, config: CairnConfig, stateDir: string, say: (line: string) => void): Promise<JobService> {
  const queue = cairn.executor.queue;
  if (!queue) throw new ConfigError(`the config's executor (${cairn.executor.plugin}) has no queue, which a scheduler needs`);
  const abortRequests = openAbortRequests(stateDir);
  let worker: QueueWorker | undefined;
  const state = openScheduleState(stateDir);
  const schedules = configSchedules(config);
  const scheduler = Object.keys(schedules).length === 0 ? undefined : new Scheduler({
    schedules,
    state,
    logger: cairn.logger,
    async trigger(name, slot) {
      // One id per slot: the queue queues it once, whichever scheduler fires it, restarts included.
      const runId = `schedule.${name}.${slot.toISOString()}`;
      const { id, deduplicated } = await queue.enqueue({ job: name, requestedBy: `schedule:${name}` }, { runId });
      if (!deduplicated) say(`schedule ${name}: starting the run for ${formatTime(slot)} (run ${shortId(id)}${queue.shared ? ', queued for a worker' : ''})`);
      else if (id === runId) say(`schedule ${name}: the ${formatTime(slot)} slot was already queued by another scheduler`);
      else say(`schedule ${name}: run ${shortId(id)} for an earlier slot is still queued or running; skipping the ${formatTime(slot)} slot`);
    },
  });
  try {
    // Runs queued in this process's own queue (the local executor) are run here too.
    worker = queue.shared ? undefined : await queue.process(jobRunHandler({
      cairn, config, env: ctx.io.env, abortRequests,
      onStart: (request, run) => say(`job ${request.job}: run ${shortId(run.id)} started${request.requestedBy ? `, requested by ${request.requestedBy}` : ''}`),
      onEnd(request, run, outcome) {
        say(`job ${request.job}: run ${shortId(run.id)} ${describeEnd(outcome)}`);
        if ('result' in outcome) for (const failure of outcome.result.notificationFailures ?? []) ctx.warn(failure.message);
      },
    }), { concurrency: cairn.executor.concurrency });
    await scheduler?.start();
  } catch (error) {
    scheduler?.stop();
    await worker?.close({ abortRunning: true });
    abortRequests.close();
    state.close();
    throw error;
  }
  return {
    queue,
    scheduler,
    async stop() {
      scheduler?.stop();
      await worker?.close({ abortRunning: true });
      abortRequests.close();
      state.close();
    },
  };
}

/**
 * Resolves on the command's signal. Timers of the scheduler are unref'd and a pending promise holds
 * no process open: the interval keeps the process running until then.
 */
export async function untilStopped(signal: AbortSignal): Promise<void> {
  const keepAlive = setInterval(() => {}, 3_600_000);
  try {
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    clearInterval(keepAlive);
  }
}

function describeEnd(outcome: { result: JobRunResult } | { error: unknown }): string {
  if ('result' in outcome) {
    const { snapshot, warnings } = outcome.result.backup;
    return `saved snapshot ${shortId(snapshot.id)}${warnings.length ? ` (incomplete: ${warnings.length} entries skipped)` : ''}`;
  }
  const { error } = outcome;
  return `failed — ${error instanceof CairnError ? `${error.code}: ` : ''}${error instanceof Error ? error.message : String(error)}`;
}
