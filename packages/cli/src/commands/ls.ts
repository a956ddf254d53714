import { jsonOption, type CommandSpec } from '../command.js';
import { formatBytes, formatMode, formatTime, jsonArrayPrinter } from '../output.js';

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
    // Printed as the snapshot is read, never gathered first: a snapshot may hold millions of files.
    const json = jsonArrayPrinter(ctx.print);
    let count = 0;
    await cairn.ls({
      repository, snapshot, ...(include.length ? { include } : {}),
      each: (node) => {
        // Only data: a source may have handed over more than the contract promises.
        const plain = {
          path: node.path, type: node.type, mode: node.mode, mtimeMs: node.mtimeMs, size: node.size,
          ...(node.linkTarget !== undefined ? { linkTarget: node.linkTarget } : {}),
          ...(node.metadata !== undefined ? { metadata: node.metadata } : {}),
        };
        if (ctx.json) json.add(plain);
        else ctx.print(listingLine(plain));
        count++;
      },
    });
    if (ctx.json) json.end();
    else if (count === 0) ctx.info('nothing to list');
    return 0;
  },
};

/** One line of the listing, in columns of fixed width so that each prints before the next is read. */
function listingLine(node: { path: string; type: 'file' | 'dir' | 'symlink'; mode: number; mtimeMs: number; size: number; linkTarget?: string }): string {
  const size = node.type === 'file' ? formatBytes(node.size) : '';
  const path = node.type === 'symlink' ? `${node.path} -> ${node.linkTarget ?? ''}` : node.type === 'dir' ? `${node.path}/` : node.path;
  return `${formatMode(node.type, node.mode)}  ${size.padStart(10)}  ${formatTime(node.mtimeMs)}  ${path}`;
}
