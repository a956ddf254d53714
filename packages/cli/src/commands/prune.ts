import type { PruneResult } from '@cairn/core';
import { jsonOption, type CommandSpec } from '../command.js';
import { formatBytes, plural, toJson } from '../output.js';

export const pruneCommand: CommandSpec = {
  name: 'prune',
  summary: 'delete the data that no snapshot uses any more',
  usage: 'prune --repo R [--dry-run] [--json]',
  description: 'Takes an exclusive lock: no backup can run meanwhile.',
  examples: ['cairn prune --repo /srv/backups --dry-run'],
  options: {
    'dry-run': { type: 'boolean', description: 'show what would be deleted, delete nothing' },
    ...jsonOption,
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx) {
    const dryRun = ctx.flag('dry-run');
    const repository = await ctx.repository();
    const cairn = await ctx.cairn();
    const result = await cairn.prune({ repository, dryRun });
    ctx.print(ctx.json ? toJson(result).trimEnd() : pruneLine(result));
    return 0;
  },
};

export function pruneLine(result: PruneResult): string {
  const verb = result.dryRun ? 'would delete' : 'deleted';
  return `prune: ${verb} ${plural(result.packsDeleted, 'pack')}, ${result.dryRun ? 'would rewrite' : 'rewrote'} ${plural(result.packsRewritten, 'pack')}, `
    + `${result.dryRun ? 'would free' : 'freed'} ${formatBytes(result.bytesFreed)}`;
}
