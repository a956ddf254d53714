import { lstat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { parseInteger } from '../args.js';
import { jsonOption, type CommandSpec } from '../command.js';
import { CommandFailed, UsageError, exitCodes } from '../errors.js';
import { backupLine, plural, shortId, toJson } from '../output.js';
import { withProgress } from '../progress.js';

export const backupCommand: CommandSpec = {
  name: 'backup',
  summary: 'back up files, directories and other sources into a new snapshot',
  usage: 'backup SOURCE... --repo R [--tag T]... [--exclude GLOB]... [options]',
  description: 'SOURCE is a path, or the URL of a source plugin (a database, a bucket, a project: see docs/sources.md).\n'
    + 'Prints the new snapshot id. Files unchanged since the last snapshot of the same paths (same size, mtime and inode) are not read again.\n'
    + 'If some entries cannot be read, the snapshot is still saved, marked incomplete, each problem is printed and the exit status is 3.',
  examples: [
    'cairn backup ~/documents ~/photos --repo /srv/backups --tag daily',
    'cairn backup /var/www --repo /srv/backups --exclude "**/cache/**" --json',
  ],
  options: {
    tag: { type: 'string', multiple: true, value: 'T', description: 'tag the snapshot (repeatable)' },
    exclude: { type: 'string', multiple: true, value: 'GLOB', description: 'skip paths matching GLOB, relative to each path SOURCE (repeatable)' },
    host: { type: 'string', value: 'NAME', description: 'host name to record (default: this machine\'s)' },
    compression: { type: 'string', value: 'N', description: 'compression level 1 (fastest) to 9 (smallest); default: the repository\'s' },
    ...jsonOption,
  },
  positionals: { min: 1, max: Infinity, names: 'SOURCE...' },
  async run(ctx) {
    const raw = ctx.string('compression');
    const compressionLevel = raw === undefined ? undefined : parseInteger('compression', raw, { min: 1, max: 9 });
    const tags = ctx.strings('tag');
    for (const tag of tags) if (!tag.trim()) throw new UsageError('CLI_BAD_VALUE', '--tag needs a non-empty value');
    const excludes = ctx.strings('exclude');
    for (const glob of excludes) if (!glob.trim()) throw new UsageError('CLI_BAD_VALUE', '--exclude needs a non-empty pattern');
    const host = ctx.string('host');
    if (host !== undefined && !host.trim()) throw new UsageError('CLI_BAD_VALUE', '--host needs a non-empty name');

    const given = ctx.positionals.filter((arg) => !isUrl(arg));
    const paths = given.map((path) => resolve(ctx.io.cwd, path));
    // Checked up front so a typo fails in a second, before the repository is opened.
    for (const [i, path] of paths.entries()) await assertReadable(given[i]!, path);

    const repository = await ctx.repository();
    const { filesSource } = await import('../plugins.js');
    const cairn = await ctx.cairn();
    const names = sourceNames(paths);
    let nextPath = 0;
    const sources = ctx.positionals.map((arg) => {
      if (isUrl(arg)) return cairn.resolveSource(arg);
      const i = nextPath++;
      return filesSource({ path: paths[i]!, excludes, name: names[i]! });
    });
    const bar = ctx.progress('backup');
    const { snapshot, warnings } = await withProgress(cairn, bar, 'backup', () => cairn.backup({
      repository, sources, tags, signal: ctx.signal,
      ...(host !== undefined ? { host } : {}),
      ...(compressionLevel !== undefined ? { compressionLevel } : {}),
    }));
    for (const warning of warnings) ctx.warn(`${warning.path}: ${warning.message}`);
    if (ctx.json) {
      ctx.print(toJson({ id: snapshot.id, shortId: shortId(snapshot.id), summary: snapshot.summary, warnings }).trimEnd());
    } else {
      ctx.info(backupLine(snapshot));
      ctx.print(snapshot.id);
    }
    if (warnings.length > 0) {
      ctx.warn(`${plural(warnings.length, 'entry', 'entries')} could not be read; snapshot ${shortId(snapshot.id)} was saved but is incomplete`);
      return exitCodes.incomplete;
    }
    return exitCodes.ok;
  },
};

const isUrl = (arg: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(arg);

async function assertReadable(given: string, path: string): Promise<void> {
  try {
    await lstat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new CommandFailed(`cannot back up ${given}: ${why}`);
  }
}

/**
 * Top-level names in the snapshot: each path's last component, numbered when two collide
 * (`/a/data`, `/b/data` → `data`, `data-2`). Same paths in the same order give the same names,
 * so the next backup finds its parent.
 */
export function sourceNames(paths: string[]): string[] {
  const taken = new Set<string>();
  return paths.map((path) => {
    const base = basename(path) || 'root';
    let name = base;
    for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
    taken.add(name);
    return name;
  });
}
