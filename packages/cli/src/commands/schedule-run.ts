import { userInfo } from 'node:os';
import { CairnError, ConfigError, Scheduler, jobRunHandler } from '@cairn/core';
import type { JobRunResult } from '@cairn/core';
import { configOption, type CommandSpec } from '../command.js';
import { formatTime, shortId } from '../output.js';
import { openAbortRequests, openScheduleState } from '../state.js';
import { configSchedules } from './pause-resume.js';

export const scheduleRunCommand: CommandSpec = {
  name: 'schedule run',
  summary: 'run the scheduler in the foreground: each job at its scheduled times',
  usage: 'schedule run [--config FILE]',
  description: 'Fires each job\'s schedule once per slot, until SIGINT or SIGTERM. With the local executor (the default) the\n'
    + 'runs happen in this process; with a shared queue (executor: bullmqExecutor(…)) this process only queues them for\n'
    + '`cairn worker` processes. Each slot is queued under its own run id (schedule.JOB.TIME), and schedule state (pauses,\n'
    + 'the last slot fired) is kept in the state folder, so restarting this process, or running one on every machine,\n'
    + 'never runs a slot twice; `cairn pause` reaches it within 30 s. A job still queued or running when its next slot\n'
    + 'comes is not queued again: that slot is skipped, with a line saying so.',
  examples: ['cairn schedule run', 'cairn schedule run --config /etc/cairn/cairn.config.ts'],
  options: { ...configOption },
  positionals: { min: 0, max: 0, names: '' },
  service: true,
  async run(ctx) {
    const config = await ctx.config();
    const schedules = configSchedules(config);
    const names = Object.keys(schedules);
    if (names.length === 0) {
      ctx.info('no job has a schedule: add `schedule: \'daily\'` (or a cron expression) to a job (see docs/operations.md)');
      return 0;
    }
    const cairn = await ctx.cairn();
    const stateDir = await ctx.stateDir();
    const state = openScheduleState(stateDir);
    const queue = cairn.executor.queue;
    if (!queue) throw new ConfigError(`the config's executor (${cairn.executor.plugin}) has no queue, which cairn schedule run needs`);
    const say = (line: string) => ctx.print(`${formatTime(new Date())}  ${line}`);
    const abortRequests = openAbortRequests(stateDir);
    // Runs queued in this process's own queue (the local executor) are run here too.
    const worker = queue.shared ? undefined : await queue.process(jobRunHandler({
      cairn, config, env: ctx.io.env, abortRequests,
      onStart: (request, run) => say(`schedule ${request.job}: run ${shortId(run.id)} started`),
      onEnd(request, run, outcome) {
        say(`schedule ${request.job}: run ${shortId(run.id)} ${describeEnd(outcome)}`);
        if ('result' in outcome) for (const failure of outcome.result.notificationFailures ?? []) ctx.warn(failure.message);
      },
    }), { concurrency: cairn.executor.concurrency });
    const scheduler = new Scheduler({
      schedules,
      state,
      logger: cairn.logger,
      async trigger(name, slot) {
        const runId = `schedule.${name}.${slot.toISOString()}`;
        const { id, deduplicated } = await queue.enqueue({ job: name, requestedBy: `schedule:${name}` }, { runId });
        if (!deduplicated) say(`schedule ${name}: starting the run for ${formatTime(slot)} (run ${shortId(id)}${queue.shared ? ', queued for a worker' : ''})`);
        else if (id === runId) say(`schedule ${name}: the ${formatTime(slot)} slot was already queued by another scheduler`);
        else say(`schedule ${name}: run ${shortId(id)} for an earlier slot is still queued or running; skipping the ${formatTime(slot)} slot`);
      },
    });
    try {
      await scheduler.start();
      for (const info of await scheduler.list()) {
        say(`schedule ${info.name}: ${info.cron}${info.timezone ? ` (${info.timezone})` : ''}, ${info.paused ? 'paused' : `next ${info.next ? formatTime(info.next) : 'never'}`}`);
      }
      say(`scheduler running as ${user()} (pid ${process.pid}, ${queue.shared ? `queueing runs on the ${queue.kind} queue for workers` : 'running jobs in this process'}); stop it with Ctrl-C or SIGTERM`);
      // The scheduler's timers are unref'd and a pending promise holds no process open: this
      // interval keeps it running until the signal (without it, a fresh scheduler exited at once).
      const keepAlive = setInterval(() => {}, 3_600_000);
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      }).finally(() => clearInterval(keepAlive));
    } finally {
      scheduler.stop();
      // Runs in progress here are aborted (the repository stays valid; the next slot reuses what was stored).
      await worker?.close({ abortRunning: true });
      abortRequests.close();
      state.close();
    }
    say('scheduler stopped');
    return 0;
  },
};

function describeEnd(outcome: { result: JobRunResult } | { error: unknown }): string {
  if ('result' in outcome) {
    const { snapshot, warnings } = outcome.result.backup;
    return `saved snapshot ${shortId(snapshot.id)}${warnings.length ? ` (incomplete: ${warnings.length} entries skipped)` : ''}`;
  }
  const { error } = outcome;
  return `failed — ${error instanceof CairnError ? `${error.code}: ` : ''}${error instanceof Error ? error.message : String(error)}`;
}

function user(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
