import { jsonOption, type CommandSpec } from '../command.js';
import { plural, toJson } from '../output.js';

export const unlockCommand: CommandSpec = {
  name: 'unlock',
  summary: 'remove stale locks left by runs that were killed',
  usage: 'unlock --repo R [--all] [--json]',
  description: 'A lock is stale when its process on this host is gone, or when it was not refreshed for 30 minutes. '
    + 'With --all, every lock is removed: only do that when you are sure nothing else uses the repository.',
  examples: ['cairn unlock --repo /srv/backups'],
  options: {
    all: { type: 'boolean', description: 'remove every lock, not only stale ones' },
    ...jsonOption,
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx) {
    const repository = await ctx.repository();
    const cairn = await ctx.cairn();
    const result = await cairn.unlock({ repository, all: ctx.flag('all') });
    ctx.print(ctx.json ? toJson(result).trimEnd() : `removed ${plural(result.removed, 'lock')}`);
    return 0;
  },
};
