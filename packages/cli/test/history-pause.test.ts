import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqliteScheduleState } from '@cairn/core';
import { cli, expectOneErrorLine, linkCairnPackages, tempDir } from './helpers.js';

/** `cairn history`, `cairn logs`, `cairn pause` and `cairn resume` on a config's state folder. */
const root = fileURLToPath(new URL('../../..', import.meta.url));
let dir: { path: string; cleanup: () => Promise<void> };
const env = () => ({ CAIRN_PASSWORD: 'history-cli-password' });

beforeEach(async () => {
  dir = await tempDir('cairn-history-cli-');
  await linkCairnPackages(dir.path, ['core', 'source-files']);
  await mkdir(join(dir.path, 'data'), { recursive: true });
  await writeFile(join(dir.path, 'data/a.txt'), 'alpha\n');
  await writeFile(join(dir.path, 'cairn.config.mjs'), `import { defineConfig } from '@cairn/core';
import { filesSource } from '@cairn/source-files';
const password = { env: 'CAIRN_PASSWORD' };
export default defineConfig({
  repositories: { main: { url: '${dir.path}/backups', password }, other: { url: '${dir.path}/missing-repository', password } },
  jobs: {
    docs: { sources: [filesSource({ path: '${dir.path}/data' })], repository: 'main', schedule: 'daily' },
    site: { sources: [filesSource({ path: '${dir.path}/data', name: 'site' })], repository: 'main', schedule: { cron: '*/5 * * * *', missed: 'skip' }, logLevel: 'debug' },
    broken: { sources: [filesSource({ path: '${dir.path}/data' })], repository: 'other' },
  },
});
`);
});
afterEach(async () => {
  await dir.cleanup();
});

const run = (args: string[]) => cli(args, { env: env(), cwd: dir.path });

describe('cairn history and cairn logs', () => {
  it('record every run of a job in the state folder beside the config, with its outcome and log', async () => {
    expect((await run(['init', '--repo', join(dir.path, 'backups')])).code).toBe(0);
    const ok = await run(['run', 'docs']);
    expect(ok.code, ok.stderr).toBe(0);
    const failed = await run(['run', 'broken']);
    expect(failed.code).toBe(1);
    expect(existsSync(join(dir.path, '.cairn/state.db'))).toBe(true);

    const history = await run(['history', '--json']);
    expect(history.code, history.stderr).toBe(0);
    const runs = JSON.parse(history.stdout) as Array<{ id: string; job: string; status: string; operation: string; snapshotId?: string; error?: { code: string }; requestedBy?: string }>;
    const backups = runs.filter((r) => r.operation === 'backup');
    expect(backups.map((r) => [r.job, r.status])).toEqual([['broken', 'failed'], ['docs', 'succeeded']]);
    expect(backups[0]!.error?.code).toBe('REPO_NOT_FOUND');
    expect(backups[1]!.snapshotId).toMatch(/^[0-9a-f]{64}$/);

    const onlyFailed = JSON.parse((await run(['history', '--status', 'failed', '--json'])).stdout) as Array<{ job: string }>;
    expect(onlyFailed.map((r) => r.job)).toEqual(['broken']);
    const table = await run(['history', '--job', 'docs']);
    expect(table.stdout).toMatch(/^RUN\s+STARTED\s+OPERATION\s+JOB\s+STATUS/);
    expect(table.stdout).toContain('succeeded');

    const logs = await run(['logs', backups[1]!.id.slice(0, 8)]);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout.split('\n')[0]).toMatch(/^run [0-9a-f]{8}: job docs, succeeded, started /);
    expect(logs.stdout).toMatch(/INFO\s+snapshot [0-9a-f]{8} saved/);
    const failedLog = await run(['logs', backups[0]!.id, '--level', 'error']);
    expect(failedLog.stdout.split('\n')[0]).toContain('failed: REPO_NOT_FOUND');
    // A job's verbosity: site keeps its debug lines, docs (the default, info) does not.
    expect(logs.stdout).not.toMatch(/DEBUG/);
    const site = await run(['run', 'site', '--json']);
    expect(site.code, site.stderr).toBe(0);
    const siteRun = (JSON.parse((await run(['history', '--job', 'site', '--json'])).stdout) as Array<{ id: string; operation: string }>).find((r) => r.operation === 'backup')!;
    expect((await run(['logs', siteRun.id])).stdout).toMatch(/DEBUG\s+backup started/);
  });

  it('refuse bad flags and unknown runs with one line and exit 2', async () => {
    const status = await run(['history', '--status', 'done']);
    expect(status.code).toBe(2);
    expect(expectOneErrorLine(status.stderr)).toContain('--status must be one of queued, running, succeeded, failed, aborted, got "done"');
    const limit = await run(['history', '--limit', '0']);
    expect(limit.code).toBe(2);
    const unknown = await run(['logs', 'deadbeef']);
    expect(unknown.code).toBe(2);
    expect(expectOneErrorLine(unknown.stderr)).toContain('no run deadbeef in the history');
  });
});

describe('cairn pause and cairn resume', () => {
  it('pause one schedule or all in the shared state, which schedule list shows; resume says what happens to missed runs', async () => {
    const paused = await run(['pause', 'docs']);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toContain('paused schedule docs: it fires again after `cairn resume docs`');
    let list = JSON.parse((await run(['schedule', 'list', '--json'])).stdout) as Array<{ job: string; paused: boolean; next: string | null }>;
    expect(list.map((s) => [s.job, s.paused])).toEqual([['docs', true], ['site', false]]);
    expect(list[0]!.next).toBeNull();

    // What a scheduler in another process reads.
    const state = sqliteScheduleState({ path: join(dir.path, '.cairn/state.db') });
    expect(await state.get('docs')).toEqual({ paused: true });
    state.close();

    expect((await run(['pause'])).stdout).toContain('paused all 2 schedules (docs, site)');
    const resumed = await run(['resume']);
    expect(resumed.stdout).toContain('resumed all 2 schedules (docs, site) (docs: missed runs caught up once; site: missed runs skipped)');
    list = JSON.parse((await run(['schedule', 'list', '--json'])).stdout) as typeof list;
    expect(list.every((s) => !s.paused)).toBe(true);
  });

  it('names the schedules there are for an unknown one', async () => {
    const result = await run(['pause', 'nightly']);
    expect(result.code).toBe(2);
    expect(expectOneErrorLine(result.stderr)).toContain('no schedule named "nightly" (jobs with a schedule: docs, site)');
  });
});

describe('cairn abort', () => {
  it('stops a run of `cairn run` from another command, through the state folder, within seconds', async () => {
    // A source that keeps streaming until its run is aborted: a backup that would otherwise not end.
    await writeFile(join(dir.path, 'cairn.config.mjs'), `import { defineConfig, defineSource } from '@cairn/core';
import { z } from 'zod';
const endless = defineSource({
  name: 'endless', options: z.object({}), capabilities: { incremental: false, restoreModes: ['directory'] },
  create: () => ({
    name: 'endless', description: 'a stream that never ends',
    async *entries() {
      yield { path: 'forever.bin', type: 'file', mode: 0o644, mtimeMs: 0, size: 2 ** 40, open: async function* () {
        for (;;) { yield new Uint8Array(65536); await new Promise((r) => setTimeout(r, 5)); }
      } };
    },
    async restore() { throw new Error('not used'); },
  }),
});
export default defineConfig({
  repositories: { main: { url: '${dir.path}/backups', password: { env: 'CAIRN_PASSWORD' } } },
  jobs: { slow: { sources: [endless({})], repository: 'main' } },
});
`);
    await symlink(join(root, 'node_modules/.pnpm/node_modules/zod'), join(dir.path, 'node_modules/zod')).catch(() => undefined);
    expect((await run(['init', '--repo', join(dir.path, 'backups')])).code).toBe(0);
    const running = run(['run', 'slow']);
    let id: string | undefined;
    for (let i = 0; i < 200 && !id; i++) {
      const listed = JSON.parse((await run(['history', '--status', 'running', '--json'])).stdout || '[]') as Array<{ id: string; job?: string }>;
      id = listed.find((r) => r.job === 'slow')?.id;
      if (!id) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(id).toBeDefined();
    const started = performance.now();
    const aborted = await run(['abort', id!.slice(0, 8)]);
    expect(aborted.code, aborted.stderr).toBe(0);
    expect(aborted.stdout).toContain(`run ${id!.slice(0, 8)} (job slow): aborted — ABORTED`);
    expect(performance.now() - started).toBeLessThan(10_000);
    const result = await running;
    expect(result.code, result.stderr).toBe(1);
    expect(expectOneErrorLine(result.stderr)).toMatch(/aborted by cairn abort/);
    expect(JSON.parse((await run(['snapshots', '--repo', join(dir.path, 'backups'), '--json'])).stdout)).toEqual([]);
    const again = await run(['abort', id!.slice(0, 8)]);
    expect(again.code).toBe(2);
    expect(expectOneErrorLine(again.stderr)).toContain(`run ${id!.slice(0, 8)} is not running: it aborted (ended `);
  });
});
