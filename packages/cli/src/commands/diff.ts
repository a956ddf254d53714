import { jsonOption, type CommandSpec } from '../command.js';
import { toJson } from '../output.js';

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
    const changes = await cairn.diff({ repository, from, to });
    if (ctx.json) {
      ctx.print(toJson(changes).trimEnd());
      return 0;
    }
    for (const change of changes) ctx.print(`${marks[change.change]}  ${change.path}${change.type === 'dir' ? '/' : ''}`);
    const count = (kind: keyof typeof marks): number => changes.filter((c) => c.change === kind).length;
    ctx.info(changes.length === 0
      ? 'no differences'
      : `${count('added')} added, ${count('removed')} removed, ${count('modified')} modified, ${count('metadata')} with metadata changes`);
    return 0;
  },
};
