import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, linkCairnPackages, tempDir } from './helpers.js';

/**
 * `cairn schedule run`: two scheduler processes' worth (two in-process runs of the command) share
 * one state folder and fire a schedule every two seconds; each slot runs exactly once between
 * them, and a pause from a third command stops them.
 */
let dir: { path: string; cleanup: () => Promise<void> };
const env = { CAIRN_PASSWORD: 'schedule-run-password' };

beforeEach(async () => {
  dir = await tempDir('cairn-schedule-run-');
  await linkCairnPackages(dir.path, ['core', 'source-files']);
  await mkdir(join(dir.path, 'data'), { recursive: true });
  await writeFile(join(dir.path, 'data/a.txt'), 'alpha\n');
  await writeFile(join(dir.path, 'cairn.config.mjs'), `import { defineConfig } from '@cairn/core';
import { filesSource } from '@cairn/source-files';
export default defineConfig({
  repositories: { main: { url: '${dir.path}/backups', password: { env: 'CAIRN_PASSWORD' } } },
  jobs: { docs: { sources: [filesSource({ path: '${dir.path}/data' })], repository: 'main', schedule: '*/2 * * * * *' } },
});
`);
  expect((await cli(['init', '--repo', join(dir.path, 'backups')], { env, cwd: dir.path })).code).toBe(0);
});
afterEach(async () => {
  await dir.cleanup();
});

const snapshotCount = async () => (JSON.parse((await cli(['snapshots', '--repo', join(dir.path, 'backups'), '--json'], { env, cwd: dir.path })).stdout) as unknown[]).length;

async function until(condition: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('cairn schedule run', () => {
  it('fires each slot once across two schedulers sharing the state, and stops for a pause', async () => {
    const stops = [new AbortController(), new AbortController()];
    const schedulers = stops.map((stop) => cli(['schedule', 'run'], { env, cwd: dir.path, signal: stop.signal }));
    await until(async () => (await snapshotCount()) >= 3, 30_000);

    expect((await cli(['pause', 'docs'], { env, cwd: dir.path })).code).toBe(0);
    // Within the scheduler's 30 s look at the state no slot fires after the pause: give it two slots.
    const paused = await snapshotCount();
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    const afterPause = await snapshotCount();
    for (const stop of stops) stop.abort();
    const results = await Promise.all(schedulers);

    const started = results.flatMap((r) => r.stdout.split('\n').filter((line) => line.includes('starting the run for')).map((line) => line.replace(/^.*starting the run for /, '')));
    expect(started.length).toBeGreaterThanOrEqual(3);
    expect(new Set(started).size).toBe(started.length); // no slot twice
    expect(await snapshotCount()).toBe(started.length);
    expect(afterPause - paused).toBeLessThanOrEqual(1); // at most a run that was already starting
    for (const r of results) {
      expect(r.code, r.stderr).toBe(0); // a signal is how the scheduler is stopped
      expect(r.stdout).toContain('schedule docs: */2 * * * * *, next ');
      expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/scheduler stopped$/);
    }
  });
});
