import { withProgress } from '../progress.js';
import { jsonOption, type CommandSpec } from '../command.js';
import { CommandFailed } from '../errors.js';
import { formatBytes, plural, shortId, toJson } from '../output.js';

export const checkCommand: CommandSpec = {
  name: 'check',
  summary: 'verify the repository: structure and references, and with --read-data every stored byte',
  usage: 'check --repo R [--read-data] [--json]',
  description: 'Exit status 1 when a problem is found; each problem lists the snapshots and files it affects.',
  examples: ['cairn check --repo /srv/backups', 'cairn check --repo /srv/backups --read-data --json'],
  options: {
    'read-data': { type: 'boolean', description: 'download, decrypt and re-hash every chunk (slow, thorough)' },
    ...jsonOption,
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx) {
    const readData = ctx.flag('read-data');
    const repository = await ctx.repository();
    const cairn = await ctx.cairn();
    const bar = ctx.progress(readData ? 'check --read-data' : 'check');
    const report = await withProgress(cairn, bar, 'check', () => cairn.check({ repository, readData, signal: ctx.signal }));
    if (ctx.json) ctx.print(toJson(report).trimEnd());
    const counts = `${plural(report.snapshots, 'snapshot')}, ${plural(report.packs, 'pack')}, ${plural(report.blobs, 'blob')}`
      + (readData ? `, ${formatBytes(report.bytesRead)} read and verified` : '');
    if (report.ok && report.problems.length === 0) {
      if (!ctx.json) ctx.info(`no problems found: ${counts}`);
      return 0;
    }
    if (!ctx.json) {
      for (const problem of report.problems) {
        ctx.print(`error: ${problem.message}${problem.key ? ` (${problem.key})` : ''}`);
        for (const affected of problem.affects) {
          ctx.print(`  affects snapshot ${shortId(affected.snapshot)}${affected.path ? `: ${affected.path}` : ''}`);
        }
      }
      ctx.info(`checked ${counts}`);
    }
    const count = Math.max(1, report.problems.length);
    throw new CommandFailed(`check found ${plural(count, 'problem')}${ctx.json ? ' (see the report)' : ' (listed above)'}; the affected snapshots cannot be fully restored`);
  },
};
