import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { Scheduler, runJob } from '@cairn/core';
import { CairnError } from '@cairn/core';
import { configOption, type CommandSpec } from '../command.js';
import { formatTime, shortId } from '../output.js';
import { abortable, openScheduleState } from '../state.js';
import { configSchedules } from './pause-resume.js';

export const scheduleRunCommand: CommandSpec = {
  name: 'schedule run',
  summary: 'run the scheduler in the foreground: each job at its scheduled times',
  usage: 'schedule run [--config FILE]',
  description: 'Fires each job\'s schedule once per slot and runs the job in this process, until SIGINT or SIGTERM.\n'
    + 'Schedule state (pauses, the last slot fired) is kept in the state folder, so restarting this process, or\n'
    + 'running it on two machines sharing that folder, never runs a slot twice; `cairn pause` reaches it within 30 s.\n'
    + 'A job still running when its next slot comes is not started twice: that slot is skipped, with a line saying so.',
  examples: ['cairn schedule run', 'cairn schedule run --config /etc/cairn/cairn.config.ts'],
  options: { ...configOption },
  positionals: { min: 0, max: 0, names: '' },
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
    const running = new Map<string, Promise<void>>();
    const say = (line: string) => ctx.print(`${formatTime(new Date())}  ${line}`);
    const scheduler = new Scheduler({
      schedules,
      state,
      logger: cairn.logger,
      trigger(name, slot) {
        if (running.has(name)) {
          say(`schedule ${name}: the run for an earlier slot is still going; skipping the ${formatTime(slot)} slot`);
          return;
        }
        const run = (async () => {
          const runId = randomUUID();
          say(`schedule ${name}: starting the run for ${formatTime(slot)} (run ${shortId(runId)})`);
          try {
            const result = await abortable(stateDir, runId, ctx.signal, (signal) => runJob(cairn, config, { job: name, runId, requestedBy: `schedule:${name}`, signal }, ctx.io.env));
            const { snapshot, warnings } = result.backup;
            say(`schedule ${name}: snapshot ${shortId(snapshot.id)} saved${warnings.length ? ` (incomplete: ${warnings.length} entries skipped)` : ''}`);
            for (const failure of result.notificationFailures ?? []) ctx.warn(failure.message);
          } catch (error) {
            const code = error instanceof CairnError ? `${error.code}: ` : '';
            say(`schedule ${name}: failed — ${code}${error instanceof Error ? error.message : String(error)}`);
          }
        })().finally(() => running.delete(name));
        running.set(name, run);
      },
    });
    try {
      await scheduler.start();
      for (const info of await scheduler.list()) {
        say(`schedule ${info.name}: ${info.cron}${info.timezone ? ` (${info.timezone})` : ''}, ${info.paused ? 'paused' : `next ${info.next ? formatTime(info.next) : 'never'}`}`);
      }
      say(`scheduler running as ${user()} (pid ${process.pid}); stop it with Ctrl-C or SIGTERM`);
      // The scheduler's timers are unref'd: this wait is what keeps the process alive.
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      scheduler.stop();
      // The signal that stopped us aborts the running jobs too; wait for them to wind down.
      await Promise.allSettled(running.values());
      state.close();
    }
    say('scheduler stopped');
    return 0;
  },
};

function user(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
