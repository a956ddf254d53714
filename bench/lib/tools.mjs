// One adapter per tool: how to probe it, its environment, and the command line of each step.
// Settings aim at equivalence: encrypted repository, zstd-class compression at defaults,
// each tool's own default chunker, caches inside the work dir.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runPlain } from './measure.mjs';

export const PASSWORD = 'cairn-bench-password';

function versionAtLeast(have, want) {
  const a = have.split('.').map(Number);
  const b = want.split('.').map(Number);
  for (let i = 0; i < b.length; i++) if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > b[i];
  return true;
}

/** Last line of stdout that parses as a JSON object matching `pick`, or null. */
function lastJson(stdout, pick) {
  try {
    const whole = JSON.parse(stdout);
    if (whole && typeof whole === 'object' && pick(whole)) return whole;
  } catch {
    // not a single JSON document: look line by line
  }
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    try {
      const v = JSON.parse(line);
      if (v && typeof v === 'object' && pick(v)) return v;
    } catch {
      // a progress or log line
    }
  }
  return null;
}

export function cairnTool({ repoRoot }) {
  // CAIRN_BENCH_CLI points at another build of the CLI (for example to compare two branches).
  const cli = process.env.CAIRN_BENCH_CLI ? resolve(process.env.CAIRN_BENCH_CLI) : join(repoRoot, 'packages/cli/bin/cairn.js');
  const cairn = (...args) => ({ cmd: process.execPath, args: [cli, ...args] });
  return {
    name: 'cairn',
    installHint: null,
    async probe() {
      if (!existsSync(cli)) return { ok: false, reason: `${cli} not found (run \`pnpm build\`)` };
      let version = 'unknown';
      try {
        version = JSON.parse(readFileSync(join(cli, '../../package.json'), 'utf8')).version;
      } catch {
        // a CLI outside a package: the version stays unknown
      }
      return { ok: true, version: `${version} (${cli}, node ${process.version})` };
    },
    settings: () => ({ cli: `node ${cli}`, compression: 'default', password: 'CAIRN_PASSWORD' }),
    env: () => ({ CAIRN_PASSWORD: PASSWORD }),
    init: (c) => cairn('init', '--repo', c.repo),
    backup: (c) => cairn('backup', c.source, '--repo', c.repo, '--json'),
    restore: (c) => cairn('restore', 'latest', '--repo', c.repo, '--target', c.target),
    check: (c) => cairn('check', '--repo', c.repo, '--read-data'),
    /** `--json` promises one object with `id` and `summary`. */
    parseBackup(stdout) {
      const v = lastJson(stdout, (o) => typeof o.id === 'string');
      return v ? { id: v.id, summary: v.summary ?? null } : null;
    },
  };
}

export function resticTool() {
  let modern = true;
  const restic = (c, ...args) => ({ cmd: 'restic', args: ['-r', c.repo, '--cache-dir', join(c.toolDir, 'cache'), ...args] });
  return {
    name: 'restic',
    aptPackage: 'restic',
    async probe() {
      const r = await runPlain('restic', ['version']);
      if (r.code !== 0) return { ok: false, reason: 'restic not found' };
      const version = /restic ([\d.]+)/.exec(r.stdout)?.[1] ?? 'unknown';
      modern = versionAtLeast(version, '0.14.0');
      return { ok: true, version };
    },
    settings: () => ({
      repositoryVersion: modern ? 2 : 1,
      compression: modern ? 'auto (default)' : 'none (restic < 0.14)',
      cache: 'default local cache, kept in the work dir via --cache-dir',
      password: 'RESTIC_PASSWORD',
    }),
    env: () => ({ RESTIC_PASSWORD: PASSWORD }),
    init: (c) => ({ cmd: 'restic', args: ['init', '-r', c.repo, ...(modern ? ['--repository-version', '2'] : [])] }),
    // --json --quiet prints just the summary object (no progress lines).
    backup: (c) => restic(c, 'backup', c.source, '--json', '--quiet'),
    restore: (c) => restic(c, 'restore', 'latest', '--target', c.target),
    check: (c) => restic(c, 'check', '--read-data'),
    parseBackup(stdout) {
      const v = lastJson(stdout, (o) => o.message_type === 'summary');
      return v ? { id: v.snapshot_id, summary: v } : null;
    },
  };
}

/** borg's sha256 modes beat blake2 on CPUs with SHA instructions, and the reverse without. */
function borgEncryption() {
  if (process.env.CAIRN_BENCH_BORG_ENCRYPTION) return process.env.CAIRN_BENCH_BORG_ENCRYPTION;
  try {
    return /\bsha_ni\b/.test(readFileSync('/proc/cpuinfo', 'utf8')) ? 'repokey' : 'repokey-blake2';
  } catch {
    return 'repokey-blake2';
  }
}

export function borgTool() {
  const encryption = borgEncryption();
  return {
    name: 'borg',
    aptPackage: 'borgbackup',
    async probe() {
      const r = await runPlain('borg', ['--version']);
      if (r.code !== 0) return { ok: false, reason: 'borg not found' };
      return { ok: true, version: r.stdout.trim().replace(/^borg\s+/, '') };
    },
    settings: () => ({ encryption, compression: 'zstd,3', chunker: 'default (buzhash 19,23,21)', password: 'BORG_PASSPHRASE' }),
    env: (c) => ({
      BORG_PASSPHRASE: PASSWORD,
      BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
      BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
      // keeps borg's files cache, security and config dirs inside the work dir, fresh per run
      BORG_BASE_DIR: join(c.toolDir, 'home'),
    }),
    init: (c) => ({ cmd: 'borg', args: ['init', '-e', encryption, c.repo] }),
    backup: (c) => ({ cmd: 'borg', args: ['create', '--json', '--compression', 'zstd,3', `${c.repo}::bench-${c.backupNumber}`, c.source] }),
    // borg has no "latest" for extract; the last archive name is known. It extracts into the cwd.
    restore: (c) => ({ cmd: 'borg', args: ['extract', `${c.repo}::bench-${c.backupNumber}`], cwd: c.target }),
    check: (c) => ({ cmd: 'borg', args: ['check', '--verify-data', c.repo] }),
    parseBackup(stdout) {
      const v = lastJson(stdout, (o) => o.archive !== undefined);
      return v ? { id: v.archive.id, summary: v.archive.stats ?? null } : null;
    },
  };
}

export const TOOL_NAMES = ['cairn', 'restic', 'borg'];

export function makeTool(name, context) {
  if (name === 'cairn') return cairnTool(context);
  if (name === 'restic') return resticTool();
  return borgTool();
}
