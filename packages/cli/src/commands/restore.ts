import { resolve } from 'node:path';
import { RESTORE_MODES } from '@cairn/core';
import type { RestoreMode } from '@cairn/core';
import { parseTime } from '../args.js';
import { jsonOption, type CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { formatBytes, formatTime, plural, shortId, toJson } from '../output.js';
import { withProgress } from '../progress.js';

export const restoreCommand: CommandSpec = {
  name: 'restore',
  summary: 'restore a snapshot, or the state at a point in time, into a directory or back into a system',
  usage: 'restore SNAPSHOT|latest --repo R (--target DIR [--include PATH]... | --to URL [--mode new|merge|replace]) [--source NAME] [--at TIME]',
  description: 'SNAPSHOT is `latest`, an id or a unique id prefix. With --at, the newest snapshot taken at or before TIME is restored\n'
    + '(SNAPSHOT may then be left out). TIME is ISO-8601: 2024-05-01T13:45:00Z, 2024-05-01T15:45+02:00, or local time 2024-05-01 13:45 or 2024-05-01 (00:00).\n'
    + 'Restore never writes outside DIR, whatever the snapshot holds.\n'
    + 'With --to, a database, bucket or project is restored back into a live system through its source plugin (see docs/sources.md);\n'
    + '--mode says what to do with data already there: new (the default: refuse a destination holding data), merge (add and overwrite)\n'
    + 'or replace (also remove what the snapshot lacks). A snapshot of several sources needs --source NAME.',
  examples: [
    'cairn restore latest --repo /srv/backups --target /tmp/restored',
    'cairn restore latest --repo /srv/backups --to mysql://root@db.lan/shop_copy --mode new',
    'cairn restore --at 2024-05-01T12:00:00Z --repo /srv/backups --target /tmp/may1 --include documents/reports',
  ],
  options: {
    target: { type: 'string', value: 'DIR', description: 'directory to restore into' },
    to: { type: 'string', value: 'URL', description: 'system to restore into, through its source plugin (instead of --target)' },
    mode: { type: 'string', value: 'MODE', description: 'with --to: new (default), merge or replace' },
    source: { type: 'string', value: 'NAME', description: 'the snapshot\'s source to restore, by name (as `cairn ls` shows it)' },
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
    const to = ctx.string('to');
    if ((target === undefined) === (to === undefined)) {
      throw new UsageError('CLI_BAD_ARGUMENTS', 'where to? pass --target DIR (a directory) or --to URL (a system), not both');
    }
    if (target !== undefined && !target.trim()) throw new UsageError('CLI_BAD_VALUE', '--target needs a directory');
    if (to !== undefined && !to.trim()) throw new UsageError('CLI_BAD_VALUE', '--to needs a URL');
    const include = ctx.strings('include');
    for (const path of include) if (!path.trim()) throw new UsageError('CLI_BAD_VALUE', '--include needs a non-empty path');
    if (to !== undefined && include.length) throw new UsageError('CLI_BAD_ARGUMENTS', '--include works with --target only');
    const mode = ctx.string('mode');
    if (mode !== undefined && to === undefined) throw new UsageError('CLI_BAD_ARGUMENTS', '--mode works with --to only');
    if (mode !== undefined && !RESTORE_MODES.includes(mode as RestoreMode)) {
      throw new UsageError('CLI_BAD_VALUE', `--mode must be one of ${RESTORE_MODES.join(', ')}, got "${mode}"`);
    }
    const source = ctx.string('source');
    if (source !== undefined && !source.trim()) throw new UsageError('CLI_BAD_VALUE', '--source needs a source name');
    const targetDir = target === undefined ? undefined : resolve(ctx.io.cwd, target);

    const repository = await ctx.repository();
    const cairn = await ctx.cairn();
    const bar = ctx.progress('restore');
    const destination = to === undefined ? undefined : cairn.resolveSource(to);
    const outcome = await withProgress(cairn, bar, 'restore', () => cairn.restore({
      repository, snapshot, signal: ctx.signal,
      ...(targetDir !== undefined ? { targetDir } : {}),
      ...(destination ? { to: destination, mode: (mode as RestoreMode | undefined) ?? 'new' } : {}),
      ...(source !== undefined ? { source } : {}),
      ...(at ? { at } : {}),
      ...(include.length ? { include } : {}),
    }));
    const where = outcome.destination ?? (destination ? destination.description : targetDir!);
    if (ctx.json) {
      const { snapshot: restored, files, dirs, symlinks, bytes } = outcome;
      ctx.print(toJson({ snapshot: restored.id, shortId: shortId(restored.id), time: restored.time, ...(destination ? { to: where } : { targetDir }), files, dirs, symlinks, bytes }).trimEnd());
    } else {
      ctx.print(`restored snapshot ${shortId(outcome.snapshot.id)} of ${formatTime(outcome.snapshot.time)} into ${where}: `
        + `${plural(outcome.files, 'file')}, ${plural(outcome.dirs, 'directory', 'directories')}, ${plural(outcome.symlinks, 'symlink')}, ${formatBytes(outcome.bytes)}`);
    }
    return 0;
  },
};
