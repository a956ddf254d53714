// Embeds Cairn as a library: a files source, a local target, a plugin that vetoes backups while a
// maintenance lock exists, progress printed from a hook, a tag added to every backup, then a
// backup, a refused backup and a restore. `node src/main.ts [WORK_DIR]` runs it (Node 22.18+ runs
// TypeScript directly; `pnpm build` first, so the @cairn packages resolve to their builds).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createCairn, VetoError } from '@cairn/core';
import type { Cairn, CairnPlugin, ProgressEvent } from '@cairn/core';
import { filesSource } from '@cairn/source-files';
import { localTarget } from '@cairn/target-local';

export interface EmbedBasicOptions {
  /** Folder for the sample data, the repository and the restore; created if missing. */
  workDir: string;
  password?: string;
  /** Where the app's lines go (default: console.log). */
  log?: (line: string) => void;
}

export interface EmbedBasicResult {
  dataDir: string;
  repoDir: string;
  restoreDir: string;
  snapshot: { id: string; tags: string[]; files: number; bytesAdded: number };
  /** The backup refused while `maintenance.lock` existed. */
  refused: { code: string; tap: string; reason: string };
  restored: { files: number; dirs: number; bytes: number };
  progress: ProgressEvent[];
}

/** The file whose presence in the data folder refuses backups. */
export const MAINTENANCE_LOCK = 'maintenance.lock';
export const TAG = 'embed-basic';

/** Refuses backups of `dataDir` while a maintenance lock file is in it. A general plugin: `{ name, apply }`. */
export function maintenanceGuard(dataDir: string): CairnPlugin {
  return {
    name: 'maintenance-guard',
    apply(cairn: Cairn) {
      cairn.hooks.veto.tapPromise('maintenance-guard', async (run) => {
        if (run.operation !== 'backup') return undefined;
        if (existsSync(join(dataDir, MAINTENANCE_LOCK))) return `${MAINTENANCE_LOCK} exists in ${dataDir}; remove it when maintenance is over`;
        return undefined;
      });
    },
  };
}

export async function main(options: EmbedBasicOptions): Promise<EmbedBasicResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const workDir = resolve(options.workDir);
  const dataDir = join(workDir, 'data');
  const repoDir = join(workDir, 'repository');
  const restoreDir = join(workDir, 'restored');
  const password = options.password ?? 'embed-basic example password';
  await writeSampleData(dataDir);

  // Targets are registered by factory; a plain path as `repository.target` then uses `localTarget`.
  const cairn = createCairn({ targets: [localTarget], plugins: [maintenanceGuard(dataDir)] });
  const progress: ProgressEvent[] = [];
  cairn.hooks.onProgress.tap('print-progress', (event) => {
    progress.push(event);
    log(`  ${event.operation}: ${event.filesDone} files, ${formatMiB(event.bytesDone)}${event.final ? ' (done)' : ''}`);
  });
  cairn.hooks.beforeBackup.tapPromise('add-tag', async (plan) => ({ ...plan, tags: [...plan.tags, TAG] }));

  const repository = { target: repoDir, password };
  const source = filesSource({ path: dataDir, name: 'data' });
  try {
    await cairn.init({ repository });
    log(`repository created at ${repoDir}`);

    log(`backing up ${dataDir}`);
    const { snapshot } = await cairn.backup({ repository, sources: [source] });
    const files = snapshot.summary.filesNew + snapshot.summary.filesChanged + snapshot.summary.filesUnchanged;
    log(`snapshot ${snapshot.id.slice(0, 8)} saved with tags [${snapshot.tags.join(', ')}]: ${files} files, ${formatMiB(snapshot.summary.bytesAdded)} added`);

    await writeFile(join(dataDir, MAINTENANCE_LOCK), 'maintenance in progress\n');
    let refused: EmbedBasicResult['refused'] | undefined;
    try {
      await cairn.backup({ repository, sources: [source] });
    } catch (error) {
      if (!(error instanceof VetoError)) throw error;
      refused = { code: error.code, tap: error.tap, reason: error.reason };
      log(`backup refused (${error.code}) by ${error.tap}: ${error.reason}`);
    } finally {
      await rm(join(dataDir, MAINTENANCE_LOCK), { force: true });
    }
    if (!refused) throw new Error(`the backup was not refused although ${MAINTENANCE_LOCK} existed`);

    log(`restoring snapshot ${snapshot.id.slice(0, 8)} into ${restoreDir}`);
    const restored = await cairn.restore({ repository, snapshot: snapshot.id, targetDir: restoreDir });
    log(`restored ${restored.files} files, ${restored.dirs} directories, ${formatMiB(restored.bytes)}`);
    return {
      dataDir, repoDir, restoreDir,
      snapshot: { id: snapshot.id, tags: snapshot.tags, files, bytesAdded: snapshot.summary.bytesAdded },
      refused,
      restored: { files: restored.files, dirs: restored.dirs, bytes: restored.bytes },
      progress,
    };
  } finally {
    await cairn.close();
  }
}

/** A few text files, a nested folder and 4 MiB of random bytes (so progress has something to count). */
async function writeSampleData(dataDir: string): Promise<void> {
  await mkdir(join(dataDir, 'notes', 'archive'), { recursive: true });
  await writeFile(join(dataDir, 'README.txt'), 'Sample data for the embed-basic example.\n');
  await writeFile(join(dataDir, 'notes', 'today.md'), '# Today\n\n- back up\n- restore\n');
  await writeFile(join(dataDir, 'notes', 'archive', 'empty.txt'), '');
  await writeFile(join(dataDir, 'random.bin'), randomBytes(4 * 1024 * 1024));
}

function formatMiB(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

// Run as a program: `node src/main.ts [WORK_DIR]` (default: a fresh temporary folder).
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const workDir = process.argv[2] ?? (await mkdtemp(join(tmpdir(), 'cairn-embed-basic-')));
  main({ workDir }).then(
    (result) => console.log(`done: restored ${result.restored.files} files into ${result.restoreDir}`),
    (error: unknown) => {
      console.error(`embed-basic: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    },
  );
}
