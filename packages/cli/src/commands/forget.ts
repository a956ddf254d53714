import type { RetentionPolicy } from '@cairn/core';
import { parseDuration, parseInteger } from '../args.js';
import { jsonOption, type CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { plural, snapshotJson, snapshotTable, toJson } from '../output.js';
import { pruneLine } from './prune.js';

const keepCounts = {
  'keep-last': 'keepLast',
  'keep-hourly': 'keepHourly',
  'keep-daily': 'keepDaily',
  'keep-weekly': 'keepWeekly',
  'keep-monthly': 'keepMonthly',
  'keep-yearly': 'keepYearly',
} as const satisfies Record<string, keyof RetentionPolicy>;

export const forgetCommand: CommandSpec = {
  name: 'forget',
  summary: 'remove snapshots that a retention policy does not keep (and with --prune, their data)',
  usage: 'forget --repo R [--keep-last N] [--keep-daily N] … [--keep-within DURATION] [--prune] [--dry-run]',
  description: 'A snapshot is kept when any rule keeps it. --keep-daily N keeps the newest snapshot of each of the last N days that have one (likewise hourly … yearly).\n'
    + 'DURATION is a number and a unit, largest first: 30d, 12h, 2w, 6m (months), 1y, 1y6m.\n'
    + 'Without --prune, the data stays until `cairn prune` runs.',
  examples: [
    'cairn forget --repo /srv/backups --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --prune',
    'cairn forget --repo /srv/backups --keep-within 30d --dry-run',
  ],
  options: {
    'keep-last': { type: 'string', value: 'N', description: 'keep the N newest snapshots' },
    'keep-hourly': { type: 'string', value: 'N', description: 'keep the newest snapshot of each of the last N hours' },
    'keep-daily': { type: 'string', value: 'N', description: 'keep the newest snapshot of each of the last N days' },
    'keep-weekly': { type: 'string', value: 'N', description: 'keep the newest snapshot of each of the last N weeks' },
    'keep-monthly': { type: 'string', value: 'N', description: 'keep the newest snapshot of each of the last N months' },
    'keep-yearly': { type: 'string', value: 'N', description: 'keep the newest snapshot of each of the last N years' },
    'keep-within': { type: 'string', value: 'DURATION', description: 'keep every snapshot newer than DURATION (30d, 12h, 2w, 1y6m)' },
    'keep-tag': { type: 'string', multiple: true, value: 'T', description: 'keep every snapshot tagged T (repeatable)' },
    prune: { type: 'boolean', description: 'also delete the data only removed snapshots used' },
    'dry-run': { type: 'boolean', description: 'show what would be removed, remove nothing' },
    ...jsonOption,
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx) {
    const policy: RetentionPolicy = {};
    for (const [flag, key] of Object.entries(keepCounts)) {
      const raw = ctx.string(flag);
      if (raw !== undefined) policy[key] = parseInteger(flag, raw, { min: 1 });
    }
    const within = ctx.string('keep-within');
    if (within !== undefined) {
      parseDuration('keep-within', within);
      policy.keepWithin = within.trim().toLowerCase();
    }
    const keepTags = ctx.strings('keep-tag');
    if (keepTags.some((tag) => !tag.trim())) throw new UsageError('CLI_BAD_VALUE', '--keep-tag needs a non-empty tag');
    if (keepTags.length) policy.keepTags = keepTags;
    if (Object.keys(policy).length === 0) {
      throw new UsageError('CLI_BAD_ARGUMENTS', 'no retention policy: pass at least one --keep-* option (see `cairn forget --help`)');
    }
    const dryRun = ctx.flag('dry-run');
    const prune = ctx.flag('prune');

    const repository = await ctx.repository();
    const cairn = await ctx.cairn();
    const result = await cairn.forget({ repository, policy, prune, dryRun });
    if (ctx.json) {
      ctx.print(toJson({
        dryRun,
        keep: result.keep.map(({ snapshot, reasons }) => ({ ...snapshotJson(snapshot), reasons })),
        remove: result.remove.map(snapshotJson),
        ...(result.prune ? { prune: result.prune } : {}),
      }).trimEnd());
      return 0;
    }
    const reasons = new Map(result.keep.map(({ snapshot, reasons: why }) => [snapshot.id, why.join(', ')]));
    if (result.keep.length) {
      ctx.print(`keep ${plural(result.keep.length, 'snapshot')}:`);
      ctx.print(snapshotTable(result.keep.map((k) => k.snapshot), { header: 'Reasons', cell: (s) => reasons.get(s.id) ?? '' }));
    }
    if (result.remove.length) {
      ctx.print(`${dryRun ? 'would remove' : 'removed'} ${plural(result.remove.length, 'snapshot')}:`);
      ctx.print(snapshotTable(result.remove));
    } else {
      ctx.print('no snapshots to remove');
    }
    if (result.prune) ctx.print(pruneLine(result.prune));
    else if (result.remove.length && !dryRun) ctx.info('run `cairn prune` (or pass --prune) to free the space they used');
    return 0;
  },
};
