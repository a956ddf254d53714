import { jsonOption, type CommandSpec } from '../command.js';
import { formatBytes, formatMode, formatTime, table, toJson } from '../output.js';

export const lsCommand: CommandSpec = {
  name: 'ls',
  summary: 'list the files and directories in a snapshot',
  usage: 'ls SNAPSHOT [PATH...] --repo R [--json]',
  description: 'SNAPSHOT is `latest`, an id or a unique id prefix. PATHs (as listed, e.g. `docs/reports`) limit the listing to those subtrees.',
  examples: ['cairn ls latest --repo /srv/backups', 'cairn ls 1a2b3c4d docs/reports --repo /srv/backups --json'],
  options: { ...jsonOption },
  positionals: { min: 1, max: Infinity, names: 'SNAPSHOT [PATH...]' },
  async run(ctx) {
    const [snapshot, ...include] = ctx.positionals as [string, ...string[]];
    const repository = await ctx.repository();
    const cairn = await ctx.cairn();
    const nodes = await cairn.ls({ repository, snapshot, ...(include.length ? { include } : {}) });
    // Only data: a source may have handed over more than the contract promises.
    const plain = nodes.map(({ path, type, mode, mtimeMs, size, linkTarget, metadata }) => ({
      path, type, mode, mtimeMs, size,
      ...(linkTarget !== undefined ? { linkTarget } : {}),
      ...(metadata !== undefined ? { metadata } : {}),
    }));
    if (ctx.json) {
      ctx.print(toJson(plain).trimEnd());
      return 0;
    }
    if (plain.length === 0) {
      ctx.info('nothing to list');
      return 0;
    }
    ctx.print(table(['Mode', 'Size', 'Modified', 'Path'], plain.map((node) => [
      formatMode(node.type, node.mode),
      node.type === 'file' ? formatBytes(node.size) : '',
      formatTime(node.mtimeMs),
      node.type === 'symlink' ? `${node.path} -> ${node.linkTarget ?? ''}` : node.type === 'dir' ? `${node.path}/` : node.path,
    ])).split('\n').slice(1).join('\n'));
    return 0;
  },
};
