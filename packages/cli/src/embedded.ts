import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { ConfigError, defineConfig } from '@cairn/core';
import type { CairnConfig } from '@cairn/core';
import { filesSource } from '@cairn/source-files';

/*
 * Cairn with nothing set up: what `cairn serve` runs when there is no config. One folder holds a
 * generated sample to protect, an encrypted local repository, its password (a file only the user
 * can read) and the state folder; two jobs back the sample up. Created on first use, reused after.
 */

export interface EmbeddedDefault {
  /** The folder that holds it all. */
  dir: string;
  /** The data the jobs back up. */
  sample: string;
  /** The local repository. */
  repository: string;
  /** The repository's password file. */
  passwordFile: string;
  /** History, schedule state and the API's signing secret. */
  stateDir: string;
  config: CairnConfig;
}

/** `$CAIRN_EMBEDDED_DIR`, else `$XDG_DATA_HOME/cairn/embedded` (`~/.local/share/cairn/embedded`). */
export function embeddedDir(env: Readonly<Record<string, string | undefined>>): string {
  if (env.CAIRN_EMBEDDED_DIR) return resolve(env.CAIRN_EMBEDDED_DIR);
  return join(env.XDG_DATA_HOME || join(homedir(), '.local/share'), 'cairn/embedded');
}

export async function embeddedDefault(env: Readonly<Record<string, string | undefined>>): Promise<EmbeddedDefault> {
  const dir = embeddedDir(env);
  const sample = join(dir, 'sample');
  const repository = join(dir, 'repository');
  const passwordFile = join(dir, 'repository-password');
  const stateDir = join(dir, 'state');
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  if (!existsSync(sample)) await writeSample(sample);
  await secretFile(passwordFile, () => randomBytes(24).toString('base64url'));
  const config = defineConfig({
    repositories: { local: { url: repository, password: { file: passwordFile } } },
    jobs: {
      files: {
        type: 'user_data',
        description: 'The whole sample folder',
        sources: [filesSource({ path: sample })],
        repository: 'local',
        schedule: 'daily',
        retention: { keepLast: 7, keepWithin: '30d' },
      },
      storage: {
        type: 'storage',
        description: 'One folder of the sample, named per run (storage_path, e.g. "documents")',
        sources: (_environment, params) => [filesSource({ name: 'storage', path: folderInside(sample, params.storage_path) })],
        repository: 'local',
      },
    },
  });
  return { dir, sample, repository, passwordFile, stateDir, config };
}

/** The secret in `file`, made with `make` (and readable by the user only) when the file does not exist. */
export async function secretFile(file: string, make: () => string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const secret = make();
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return secret;
}

/** `path` (relative to `root`) as a folder inside root; a path that leads outside is refused. */
function folderInside(root: string, path: unknown): string {
  if (path === undefined) return root;
  if (typeof path !== 'string' || path.trim() === '') throw new ConfigError('storage_path: expected a folder of the sample, e.g. "documents"');
  const full = resolve(root, path);
  const rel = relative(root, full);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new ConfigError(`storage_path "${path}" leads outside the sample folder ${root}`);
  return full;
}

/** A small, varied tree to protect: text, a nested folder, a binary file. */
async function writeSample(root: string): Promise<void> {
  const files: Record<string, string | Buffer> = {
    'README.md': '# Sample data\n\nCairn\'s embedded default backs this folder up. Change a file, back it up again, and compare the snapshots.\n',
    'documents/plan.md': '# Plan\n\n1. Back up\n2. Change something\n3. Restore and compare\n',
    'documents/contacts.csv': 'name,email\nAnn,ann@example.com\nBo,bo@example.com\n',
    'documents/reports/2026-q3.txt': 'Quarterly report\n'.repeat(200),
    'photos/pixel.bin': randomBytes(256 * 1024),
    'notes/today.txt': `Notes written ${new Date().toISOString()}\n`,
  };
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path);
    await mkdir(join(full, '..'), { recursive: true });
    await writeFile(full, content);
  }
}
