import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, expectOneErrorLine, linkCairnPackages, tempDir } from './helpers.js';

/** `cairn estimate JOB` and a job's sizeLimit, on a real files source and repository. */
let dir: { path: string; cleanup: () => Promise<void> };
const env = () => ({ CAIRN_PASSWORD: 'estimate-cli-password' });
const run = (args: string[]) => cli(args, { env: env(), cwd: dir.path });

async function config(sizeLimit: string): Promise<void> {
  await writeFile(join(dir.path, 'cairn.config.mjs'), `import { defineConfig } from '@cairn/core';
import { filesSource } from '@cairn/source-files';
export default defineConfig({
  repositories: { main: { url: '${dir.path}/backups', password: { env: 'CAIRN_PASSWORD' } } },
  jobs: { docs: { sources: [filesSource({ path: '${dir.path}/data' })], repository: 'main', sizeLimit: ${sizeLimit} } },
});
`);
}

beforeEach(async () => {
  dir = await tempDir('cairn-estimate-cli-');
  await linkCairnPackages(dir.path, ['core', 'source-files']);
  await mkdir(join(dir.path, 'data/sub'), { recursive: true });
  await writeFile(join(dir.path, 'data/a.bin'), Buffer.alloc(300_000, 1));
  await writeFile(join(dir.path, 'data/sub/b.txt'), 'b'.repeat(1000));
  expect((await run(['init', '--repo', join(dir.path, 'backups')])).code).toBe(0);
});
afterEach(async () => {
  await dir.cleanup();
});

interface Estimate { estimate: { files: number; dirs: number; bytes: number; filesToRead: number; bytesToRead: number; parent?: string }; sizeLimit: number | null; overLimit: boolean }

describe('cairn estimate', () => {
  it('reports what a run would read, then only what changed since the last snapshot', async () => {
    await config("'1MB'");
    const first = JSON.parse((await run(['estimate', 'docs', '--json'])).stdout) as Estimate;
    expect(first.estimate).toMatchObject({ files: 2, bytes: 301_000, filesToRead: 2, bytesToRead: 301_000 });
    expect(first.estimate.parent).toBeUndefined();
    expect(first).toMatchObject({ sizeLimit: 1_000_000, overLimit: false });

    expect((await run(['run', 'docs'])).code).toBe(0);
    const unchanged = JSON.parse((await run(['estimate', 'docs', '--json'])).stdout) as Estimate;
    expect(unchanged.estimate).toMatchObject({ files: 2, bytes: 301_000, filesToRead: 0, bytesToRead: 0 });
    expect(unchanged.estimate.parent).toMatch(/^[0-9a-f]{64}$/);

    await writeFile(join(dir.path, 'data/sub/b.txt'), 'c'.repeat(2000));
    const text = await run(['estimate', 'docs']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('job docs: 2 files in 1 directory, 294.9 KiB to back up');
    expect(text.stdout).toMatch(/new or changed since snapshot [0-9a-f]{8}: 1 file, 2\.0 KiB \(at most this much new data\)/);
    expect(text.stdout).toContain('within the size limit of 976.6 KiB');
  });

  it('refuses a run over the job\'s size limit before it starts, in one line, and leaves no snapshot', async () => {
    await config('100_000');
    const refused = await run(['run', 'docs']);
    expect(refused.code).toBe(1);
    expect(expectOneErrorLine(refused.stderr)).toContain('job docs would back up 293.9 KiB in 2 files, over its size limit of 97.7 KiB: raise jobs.docs.sizeLimit or exclude data');
    const snapshots = JSON.parse((await run(['snapshots', '--repo', join(dir.path, 'backups'), '--json'])).stdout) as unknown[];
    expect(snapshots).toEqual([]);
    expect(JSON.parse((await run(['estimate', 'docs', '--json'])).stdout)).toMatchObject({ overLimit: true });
  });

  it('refuses an unknown --profile with one line', async () => {
    await config("'1MB'");
    const result = await run(['estimate', 'docs', '--profile', 'everything']);
    expect(result.code).toBe(2);
    expect(expectOneErrorLine(result.stderr)).toContain('--profile must be with-user-data or without-user-data, got "everything"');
  });

  it('reports a size limit it cannot read as a config problem with its path', async () => {
    await config("'ten gigs'");
    const result = await run(['estimate', 'docs']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('jobs.docs.sizeLimit: expected a size such as 500MB or 10GiB, or a whole number of bytes, got "ten gigs"');
  });
});
