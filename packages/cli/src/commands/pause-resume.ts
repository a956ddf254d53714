import { parseSchedule } from '@cairn/core';
import type { CairnConfig, Schedule } from '@cairn/core';
import { configOption, type CommandContext, type CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { openScheduleState } from '../state.js';

export const pauseCommand: CommandSpec = {
  name: 'pause',
  summary: 'pause one schedule, or all of them (a maintenance switch)',
  usage: 'pause [SCHEDULE] [--config FILE]',
  description: 'Stops a job\'s schedule (or every schedule) from firing until `cairn resume`. The state is kept in the\n'
    + 'state folder, so a running scheduler sees it within 30 seconds. What a pause makes a schedule miss is run\n'
    + 'once on resume (`missed: \'catch-up\'`, the default) or not at all (`missed: \'skip\'`).',
  examples: ['cairn pause', 'cairn pause docs'],
  options: { ...configOption },
  positionals: { min: 0, max: 1, names: '[SCHEDULE]' },
  run: (ctx) => setPaused(ctx, true),
};

export const resumeCommand: CommandSpec = {
  name: 'resume',
  summary: 'resume one paused schedule, or all of them',
  usage: 'resume [SCHEDULE] [--config FILE]',
  description: 'Lets a paused schedule (or every schedule) fire again. Runs it missed while paused are caught up once\n'
    + '(`missed: \'catch-up\'`) or skipped (`missed: \'skip\'`), as each job\'s schedule says.',
  examples: ['cairn resume', 'cairn resume docs'],
  options: { ...configOption },
  positionals: { min: 0, max: 1, names: '[SCHEDULE]' },
  run: (ctx) => setPaused(ctx, false),
};

/** The config's schedules by job name, checked. */
export function configSchedules(config: CairnConfig): Record<string, Schedule> {
  return Object.fromEntries(Object.entries(config.jobs)
    .filter(([, job]) => job.schedule !== undefined)
    .map(([name, job]) => [name, parseSchedule(job.schedule!, `jobs.${name}.schedule`)]));
}

async function setPaused(ctx: CommandContext, paused: boolean): Promise<number> {
  const config = await ctx.config();
  const schedules = configSchedules(config);
  const name = ctx.positionals[0];
  const names = Object.keys(schedules);
  if (name !== undefined && !(name in schedules)) {
    throw new UsageError('CLI_BAD_ARGUMENTS', `no schedule named "${name}" (jobs with a schedule: ${names.length ? names.join(', ') : 'none'})`);
  }
  if (names.length === 0) {
    ctx.info('no job has a schedule: nothing to ' + (paused ? 'pause' : 'resume'));
    return 0;
  }
  const state = openScheduleState(await ctx.stateDir());
  try {
    // Only the shared state changes here: the scheduler process notices it and fires (or catches up) the runs.
    for (const each of name === undefined ? names : [name]) await state.setPaused(each, paused);
  } finally {
    state.close();
  }
  const which = name === undefined ? `all ${names.length} schedule${names.length === 1 ? '' : 's'} (${names.join(', ')})` : `schedule ${name}`;
  if (paused) ctx.info(`paused ${which}: ${name === undefined ? 'they fire' : 'it fires'} again after \`cairn resume${name ? ` ${name}` : ''}\``);
  else {
    const policies = (name === undefined ? names : [name]).map((each) => `${each}: ${schedules[each]!.missed === 'skip' ? 'missed runs skipped' : 'missed runs caught up once'}`);
    ctx.info(`resumed ${which} (${policies.join('; ')})`);
  }
  return 0;
}
