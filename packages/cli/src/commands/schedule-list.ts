import { Scheduler, memoryScheduleState, parseSchedule } from '@cairn/core';
import { configOption, jsonOption, type CommandSpec } from '../command.js';
import { formatTime, table, toJson } from '../output.js';

export const scheduleListCommand: CommandSpec = {
  name: 'schedule list',
  summary: 'list the jobs\' schedules and when each runs next',
  usage: 'schedule list [--config FILE] [--json]',
  description: 'Reads the schedules of the config\'s jobs: the cron expression (shorthands expanded), its time zone,\n'
    + 'what happens to missed runs, and the next time each fires.',
  examples: ['cairn schedule list', 'cairn schedule list --json'],
  options: { ...configOption, ...jsonOption },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx) {
    const config = await ctx.config();
    const schedules = Object.fromEntries(Object.entries(config.jobs)
      .filter(([, job]) => job.schedule !== undefined)
      .map(([name, job]) => [name, parseSchedule(job.schedule!, `jobs.${name}.schedule`)]));
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const scheduler = new Scheduler({ schedules, state: memoryScheduleState(), trigger() {}, logger: quiet });
    const list = await scheduler.list();
    if (ctx.json) {
      ctx.print(toJson(list.map(({ name, cron, timezone, missed, next }) => ({ job: name, cron, timezone: timezone ?? null, missed, next: next?.toISOString() ?? null }))).trimEnd());
    } else if (list.length === 0) {
      ctx.info('no job has a schedule: add `schedule: \'daily\'` (or a cron expression) to a job (see docs/operations.md)');
    } else {
      ctx.print(table(['JOB', 'SCHEDULE', 'TIME ZONE', 'MISSED RUNS', 'NEXT RUN'],
        list.map((s) => [s.name, s.cron, s.timezone ?? 'local', s.missed, s.next ? formatTime(s.next) : 'never'])));
    }
    return 0;
  },
};
