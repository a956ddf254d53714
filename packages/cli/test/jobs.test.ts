import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, expectOneErrorLine, tempDir } from './helpers.js';

/**
 * `cairn jobs` and `cairn run JOB` on a config that imports @cairn/* the way a host app does: from
 * the node_modules next to it (here, links to this workspace's packages).
 */
const root = fileURLToPath(new URL('../../..', import.meta.url));
const bin = join(root, 'packages/cli/bin/cairn.js');
const built = existsSync(join(root, 'packages/cli/dist/main.js'));

let dir: { path: string; cleanup: () => Promise<void> };
const env = () => ({ CAIRN_PASSWORD: 'jobs-cli-password' });

async function project(configName: string, config: string): Promise<void> {
  await mkdir(join(dir.path, 'node_modules/@cairn'), { recursive: true });
  for (const [name, path] of [['core', 'packages/core'], ['source-files', 'plugins/source-files']] as const) {
    await symlink(join(root, path), join(dir.path, 'node_modules/@cairn', name));
  }
  await mkdir(join(dir.path, 'data/docs'), { recursive: true });
  await writeFile(join(dir.path, 'data/docs/a.txt'), 'alpha\n');
  await writeFile(join(dir.path, configName), config);
}

/** Relative paths in a config are relative to the working directory; in-process runs keep the test runner's, so these are absolute. */
const tsConfig = (base = '.') => `import { defineConfig } from '@cairn/core';
import { filesSource } from '@cairn/source-files';

const password: { env: string } = { env: 'CAIRN_PASSWORD' };
export default defineConfig({
  repositories: { main: { url: '${base}/backups', password } },
  jobs: {
    docs: { type: 'user_data', sources: [filesSource({ path: '${base}/data/docs' })], repository: 'main', retention: { keepLast: 2 }, schedule: 'daily' },
    site: { sources: (env?: string) => [filesSource({ path: '${base}/data', name: \`site-\${env ?? 'none'}\` })], repository: 'main', environments: ['staging'] },
  },
});
`;

beforeEach(async () => {
  dir = await tempDir('cairn-jobs-cli-');
});
afterEach(async () => {
  await dir.cleanup();
});

describe('cairn jobs and cairn run', () => {
  it('lists the jobs of cairn.config.ts in the working directory', async () => {
    await project('cairn.config.ts', tsConfig(dir.path));
    const result = await cli(['jobs', '--json'], { env: env(), cwd: dir.path });
    expect(result.code, result.stderr).toBe(0);
    const jobs = JSON.parse(result.stdout) as Array<{ name: string; type?: string; schedule?: string; retention?: string; sources: string }>;
    expect(jobs.map((j) => j.name)).toEqual(['docs', 'site']);
    expect(jobs[0]).toMatchObject({ type: 'user_data', schedule: '0 0 * * *', retention: 'keepLast=2' });
    expect(jobs[1]!.sources).toBe('per environment');
  });

  it('runs a job: a tagged snapshot, then the job\'s retention', async () => {
    await project('cairn.config.ts', tsConfig(dir.path));
    expect((await cli(['init', '--repo', join(dir.path, 'backups')], { env: env(), cwd: dir.path })).code).toBe(0);
    for (let i = 0; i < 3; i++) {
      const run = await cli(['run', 'docs', '--json'], { env: env(), cwd: dir.path });
      expect(run.code, run.stderr).toBe(0);
    }
    const last = JSON.parse((await cli(['run', 'docs', '--json'], { env: env(), cwd: dir.path })).stdout) as { retention: { kept: string[]; removed: string[] } };
    expect(last.retention.kept).toHaveLength(2);
    expect(last.retention.removed).toHaveLength(1);
    const staging = await cli(['run', 'site', '--env', 'staging'], { env: env(), cwd: dir.path });
    expect(staging.code, staging.stderr).toBe(0);
    const snapshots = JSON.parse((await cli(['snapshots', '--repo', join(dir.path, 'backups'), '--json'], { env: env(), cwd: dir.path })).stdout) as Array<{ tags: string[] }>;
    expect(snapshots.map((s) => s.tags)).toEqual([['job:docs'], ['job:docs'], ['job:site', 'env:staging']]);
  });

  it('lists the schedules with their next run', async () => {
    await project('cairn.config.ts', tsConfig(dir.path));
    const result = await cli(['schedule', 'list', '--json'], { env: env(), cwd: dir.path });
    expect(result.code, result.stderr).toBe(0);
    const [docs, ...rest] = JSON.parse(result.stdout) as Array<{ job: string; cron: string; missed: string; next: string }>;
    expect(rest).toEqual([]);
    expect(docs).toMatchObject({ job: 'docs', cron: '0 0 * * *', missed: 'catch-up' });
    const next = new Date(docs!.next);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(86_400_000);
    expect([next.getHours(), next.getMinutes()]).toEqual([0, 0]);
  });

  it('explains a missing config, an unknown job and an environment the job does not cover, one line each', async () => {
    const none = await cli(['jobs'], { env: env(), cwd: dir.path });
    expect(none.code).toBe(2);
    expect(expectOneErrorLine(none.stderr)).toContain('no config: pass --config FILE or create cairn.config.ts');
    await project('cairn.config.ts', tsConfig(dir.path));
    const unknown = await cli(['run', 'nope'], { env: env(), cwd: dir.path });
    expect(unknown.code).toBe(2);
    expect(expectOneErrorLine(unknown.stderr)).toContain('no job named "nope" in the config (jobs: docs, site)');
    const wrongEnv = await cli(['run', 'site', '--env', 'production'], { env: env(), cwd: dir.path });
    expect(wrongEnv.code).toBe(2);
    expect(expectOneErrorLine(wrongEnv.stderr)).toContain('does not cover environment "production"');
  });

  it('reports every mistake of an invalid config at once, with its path', async () => {
    await project('cairn.config.mjs', `import { defineConfig } from '@cairn/core';
export default defineConfig({ repositories: { main: { url: '', password: 'x' } }, jobs: { docs: { sources: [], repository: 'other' } } });
`);
    const result = await cli(['jobs'], { env: env(), cwd: dir.path });
    expect(result.code).toBe(2);
    const line = expectOneErrorLine(result.stderr);
    expect(line).toContain('repositories.main.url: expected a path or URL');
    expect(line).toContain('jobs.docs.sources: a job needs at least one source');
    expect(line).toContain('jobs.docs.repository: unknown repository "other" (defined: main)');
  });

  // The built command, as an admin runs it: Node loads the TypeScript config itself, no build step.
  it.skipIf(!built && !process.env.CI)('runs a job from a TypeScript config with the built binary', async () => {
    await project('cairn.config.ts', tsConfig());
    const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: dir.path, encoding: 'utf8', env: { PATH: process.env.PATH, ...env() }, timeout: 60_000 });
    expect(run(['init', '--repo', './backups']).status).toBe(0);
    const result = run(['run', 'docs']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^job docs: run [0-9a-f]{8} \(`cairn abort [0-9a-f]{8}` stops it\)\njob docs: snapshot [0-9a-f]{8} saved/);
    expect(result.stdout.trim().split('\n').at(-1)).toMatch(/^[0-9a-f]{64}$/);
  });
});
