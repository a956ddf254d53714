import { jsonOption, type CommandSpec } from '../command.js';
import { jsonArrayPrinter } from '../output.js';

const marks = { added: '+', removed: '-', modified: 'M', metadata: 'U' } as const;

export const diffCommand: CommandSpec = {
  name: 'diff',
  summary: 'show what changed between two snapshots',
  usage: 'diff SNAPSHOT1 SNAPSHOT2 --repo R [--json]',
  description: 'Each line starts with + (added), - (removed), M (content modified) or U (only metadata: mode, mtime).',
  examples: ['cairn diff 1a2b3c4d latest --repo /srv/backups'],
  options: { ...jsonOption },
  positionals: { min: 2, max: 2, names: 'SNAPSHOT1 SNAPSHOT2' },
  async run(ctx) {
    const [from, to] = ctx.positionals as [string, string];
    const repository = await ctx.repository();
    const cairn = await ctx.cairn();
    // Printed as the snapshots are compared, never gathered first.
    const json = jsonArrayPrinter(ctx.print);
    const counts = { added: 0, removed: 0, modified: 0, metadata: 0 };
    await cairn.diff({
      repository, from, to,
      each: (change) => {
        counts[change.change]++;
        if (ctx.json) json.add(change);
        else ctx.print(`${marks[change.change]}  ${change.path}${change.type === 'dir' ? '/' : ''}`);
      },
    });
    if (ctx.json) {
      json.end();
      return 0;
    }
    ctx.info(counts.added + counts.removed + counts.modified + counts.metadata === 0
      ? 'no differences'
      : `${counts.added} added, ${counts.removed} removed, ${counts.modified} modified, ${counts.metadata} with metadata changes`);
    return 0;
  },
};
