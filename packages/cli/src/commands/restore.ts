import { resolve } from 'node:path';
import { parseTime } from '../args.js';
import { jsonOption, type CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { formatBytes, formatTime, plural, shortId, toJson } from '../output.js';
import { withProgress } from '../progress.js';

export const restoreCommand: CommandSpec = {
  name: 'restore',
  summary: 'restore a snapshot, or the state at a point in time, into a directory',
  usage: 'restore SNAPSHOT|latest --repo R --target DIR [--at TIME] [--include PATH]...',
  description: 'SNAPSHOT is `latest`, an id or a unique id prefix. With --at, the newest snapshot taken at or before TIME is restored\n'
    + '(SNAPSHOT may then be left out). TIME is ISO-8601: 2024-05-01T13:45:00Z, 2024-05-01T15:45+02:00, or local time 2024-05-01 13:45 or 2024-05-01 (00:00).\n'
    + 'Restore never writes outside DIR, whatever the snapshot holds.',
  examples: [
    'cairn restore latest --repo /srv/backups --target /tmp/restored',
    'cairn restore --at 2024-05-01T12:00:00Z --repo /srv/backups --target /tmp/may1 --include documents/reports',
  ],
  options: {
    target: { type: 'string', value: 'DIR', description: 'directory to restore into (required)' },
    at: { type: 'string', value: 'TIME', description: 'restore the newest snapshot taken at or before TIME' },
    include: { type: 'string', multiple: true, value: 'PATH', description: 'restore only PATH and what is under it, as `cairn ls` shows it (repeatable)' },
    ...jsonOption,
  },
  positionals: { min: 0, max: 1, names: 'SNAPSHOT' },
  async run(ctx) {
    const rawAt = ctx.string('at');
    const at = rawAt === undefined ? undefined : parseTime('at', rawAt);
    const snapshot = ctx.positionals[0] ?? (at ? 'latest' : undefined);
    if (snapshot === undefined) {
      throw new UsageError('CLI_BAD_ARGUMENTS', 'which snapshot? give an id, `latest`, or --at TIME; see `cairn restore --help`');
    }
    if (at && snapshot !== 'latest') {
      throw new UsageError('CLI_BAD_ARGUMENTS', `--at picks the snapshot by time: use it with \`latest\` (or no SNAPSHOT), not with ${snapshot}`);
    }
    const target = ctx.string('target');
    if (target === undefined || !target.trim()) {
      throw new UsageError('CLI_BAD_ARGUMENTS', 'no target directory: pass --target DIR');
    }
    const include = ctx.strings('include');
    for (const path of include) if (!path.trim()) throw new UsageError('CLI_BAD_VALUE', '--include needs a non-empty path');
    const targetDir = resolve(ctx.io.cwd, target);

    const repository = await ctx.repository();
    const cairn = await ctx.cairn();
    const bar = ctx.progress('restore');
    const outcome = await withProgress(cairn, bar, 'restore', () => cairn.restore({
      repository, snapshot, targetDir, signal: ctx.signal,
      ...(at ? { at } : {}),
      ...(include.length ? { include } : {}),
    }));
    if (ctx.json) {
      const { snapshot: restored, files, dirs, symlinks, bytes } = outcome;
      ctx.print(toJson({ snapshot: restored.id, shortId: shortId(restored.id), time: restored.time, targetDir, files, dirs, symlinks, bytes }).trimEnd());
    } else {
      ctx.print(`restored snapshot ${shortId(outcome.snapshot.id)} of ${formatTime(outcome.snapshot.time)} into ${targetDir}: `
        + `${plural(outcome.files, 'file')}, ${plural(outcome.dirs, 'directory', 'directories')}, ${plural(outcome.symlinks, 'symlink')}, ${formatBytes(outcome.bytes)}`);
    }
    return 0;
  },
};
