import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main, MAINTENANCE_LOCK, TAG } from '../src/main.js';

let workDir: string;
beforeEach(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'cairn-embed-basic-test-'));
});
afterEach(async () => {
  await rm(workDir, { recursive: true, force: true });
});

/** Relative path → SHA-256 of the content (or `dir`) for everything under `root`. */
async function digest(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    out[relative(root, path)] = entry.isDirectory() ? 'dir' : createHash('sha256').update(await readFile(path)).digest('hex');
  }
  return out;
}

describe('examples/embed-basic', () => {
  it('backs up, refuses a run while the maintenance lock exists, reports progress, tags and restores exactly', async () => {
    const lines: string[] = [];
    const result = await main({ workDir, log: (line) => lines.push(line) });

    const original = await digest(result.dataDir);
    expect(Object.keys(original)).toEqual(expect.arrayContaining(['README.txt', 'random.bin', 'notes/archive/empty.txt']));
    expect(original[MAINTENANCE_LOCK]).toBeUndefined(); // removed again after the refused run
    expect(await digest(join(result.restoreDir, 'data'))).toEqual(original);
    let bytes = 0;
    for (const path of Object.keys(original)) if (original[path] !== 'dir') bytes += (await stat(join(result.dataDir, path))).size;
    expect(result.restored).toMatchObject({ files: 4, bytes });

    expect(result.refused).toEqual({
      code: 'RUN_VETOED',
      tap: 'maintenance-guard',
      reason: `${MAINTENANCE_LOCK} exists in ${result.dataDir}; remove it when maintenance is over`,
    });
    expect(result.snapshot.tags).toEqual([TAG]);
    expect(result.snapshot.files).toBe(4);

    const backupProgress = result.progress.filter((p) => p.operation === 'backup');
    expect(backupProgress.at(-1)).toMatchObject({ final: true, filesDone: 4 });
    expect(result.progress.some((p) => p.operation === 'restore' && p.final)).toBe(true);
    expect(lines).toContain(`backup refused (RUN_VETOED) by maintenance-guard: ${result.refused.reason}`);
    expect(lines.some((line) => /^ {2}backup: 4 files, .* \(done\)$/.test(line))).toBe(true);
  });

  // The program entry runs under plain Node against the built packages (`pnpm build`, which `pnpm test` runs first).
  const built = existsSync(fileURLToPath(new URL('../../../packages/core/dist/index.js', import.meta.url)));
  it.skipIf(!built && !process.env.CI)('runs as a program with `node src/main.ts`', () => {
    const script = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const run = spawnSync(process.execPath, [script, workDir], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^backup refused \(RUN_VETOED\) by maintenance-guard: maintenance\.lock exists in /m);
    expect(run.stdout).toMatch(/^done: restored 4 files into /m);
  });
});
