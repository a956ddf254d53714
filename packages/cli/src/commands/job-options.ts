import { JOB_PROFILES } from '@cairn/core';
import type { JobProfile } from '@cairn/core';
import type { CommandContext } from '../command.js';
import type { OptionSpecs } from '../args.js';
import { UsageError } from '../errors.js';

/** The options that choose what a run of a job covers: `cairn run` and `cairn estimate` share them. */
export const jobRunOptions = {
  env: { type: 'string', value: 'E', description: 'the environment, one of the job\'s' },
  profile: { type: 'string', value: 'P', description: 'with-user-data (the default) or without-user-data: whether the job\'s userData sources are included' },
} satisfies OptionSpecs;

/** `--env` and `--profile`, checked, as the fields of a job run request. */
export function jobRunChoice(ctx: CommandContext): { environment?: string; profile?: JobProfile } {
  const environment = ctx.string('env');
  if (environment !== undefined && !environment.trim()) throw new UsageError('CLI_BAD_VALUE', '--env needs an environment name');
  const profile = ctx.string('profile');
  if (profile !== undefined && !(JOB_PROFILES as readonly string[]).includes(profile)) {
    throw new UsageError('CLI_BAD_VALUE', `--profile must be ${JOB_PROFILES.join(' or ')}, got "${profile}"`);
  }
  return { ...(environment !== undefined ? { environment } : {}), ...(profile !== undefined ? { profile: profile as JobProfile } : {}) };
}
