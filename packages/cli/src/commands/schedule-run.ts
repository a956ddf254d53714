import { userInfo } from 'node:os';
import { configOption, type CommandSpec } from '../command.js';
import { formatTime } from '../output.js';
import { startJobService, untilStopped } from '../job-service.js';
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
    const say = (line: string) => ctx.print(`${formatTime(new Date())}  ${line}`);
    const service = await startJobService(ctx, cairn, config, stateDir, say);
    try {
      for (const info of await service.scheduler!.list()) {
        say(`schedule ${info.name}: ${info.cron}${info.timezone ? ` (${info.timezone})` : ''}, ${info.paused ? 'paused' : `next ${info.next ? formatTime(info.next) : 'never'}`}`);
      }
      say(`scheduler running as ${user()} (pid ${process.pid}, ${service.queue.shared ? `queueing runs on the ${service.queue.kind} queue for workers` : 'running jobs in this process'}); stop it with Ctrl-C or SIGTERM`);
      await untilStopped(ctx.signal);
    } finally {
      await service.stop();
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
