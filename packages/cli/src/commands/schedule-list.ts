import { Scheduler } from '@cairn/core';
import { configOption, jsonOption, type CommandSpec } from '../command.js';
import { formatTime, table, toJson } from '../output.js';
import { openScheduleState } from '../state.js';
import { configSchedules } from './pause-resume.js';

export const scheduleListCommand: CommandSpec = {
  name: 'schedule list',
  summary: 'list the jobs\' schedules and when each runs next',
  usage: 'schedule list [--config FILE] [--json]',
  description: 'Reads the schedules of the config\'s jobs: the cron expression (shorthands expanded), its time zone,\n'
    + 'what happens to missed runs, whether it is paused (`cairn pause`), the last time it fired and the next.',
  examples: ['cairn schedule list', 'cairn schedule list --json'],
  options: { ...configOption, ...jsonOption },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx) {
    const schedules = configSchedules(await ctx.config());
    if (Object.keys(schedules).length === 0) {
      if (ctx.json) ctx.print('[]');
      else ctx.info('no job has a schedule: add `schedule: \'daily\'` (or a cron expression) to a job (see docs/operations.md)');
      return 0;
    }
    const state = openScheduleState(await ctx.stateDir());
    let list;
    try {
      const quiet = { debug() {}, info() {}, warn() {}, error() {} };
      list = await new Scheduler({ schedules, state, trigger() {}, logger: quiet }).list();
    } finally {
      state.close();
    }
    if (ctx.json) {
      ctx.print(toJson(list.map(({ name, cron, timezone, missed, paused, lastSlot, next }) => ({
        job: name, cron, timezone: timezone ?? null, missed, paused, lastRun: lastSlot ?? null, next: paused ? null : next?.toISOString() ?? null,
      }))).trimEnd());
    } else {
      ctx.print(table(['JOB', 'SCHEDULE', 'TIME ZONE', 'MISSED RUNS', 'STATE', 'LAST RUN', 'NEXT RUN'],
        list.map((s) => [s.name, s.cron, s.timezone ?? 'local', s.missed, s.paused ? 'paused' : 'active', s.lastSlot ? formatTime(s.lastSlot) : '-',
          s.paused ? '(paused)' : s.next ? formatTime(s.next) : 'never'])));
    }
    return 0;
  },
};
