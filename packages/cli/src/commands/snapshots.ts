import { jsonOption, type CommandSpec } from '../command.js';
import { plural, snapshotJson, snapshotTable, toJson } from '../output.js';

export const snapshotsCommand: CommandSpec = {
  name: 'snapshots',
  summary: 'list the snapshots in a repository, oldest first',
  usage: 'snapshots --repo R [--json]',
  examples: ['cairn snapshots --repo /srv/backups', 'cairn snapshots --repo /srv/backups --json'],
  options: { ...jsonOption },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx) {
    const repository = await ctx.repository();
    const cairn = await ctx.cairn();
    const snapshots = await cairn.snapshots({ repository });
    if (ctx.json) {
      ctx.print(toJson(snapshots.map(snapshotJson)).trimEnd());
    } else if (snapshots.length === 0) {
      ctx.info('no snapshots yet: create one with `cairn backup PATH --repo R`');
    } else {
      ctx.print(snapshotTable(snapshots));
      ctx.info(plural(snapshots.length, 'snapshot'));
    }
    return 0;
  },
};
