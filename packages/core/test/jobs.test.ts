import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, createCairn, defineConfig, historyRecorder, jobTags, memoryHistory, runJob } from '../src/index.js';
import type { Cairn, CairnConfig } from '../src/index.js';
import { dirTarget, memorySource, tempDir } from './helpers.js';

const kdf = { N: 1024, r: 8, p: 1 };
const env = { REPO_PASSWORD: 'jobs-password' };
let dir: { path: string; remove(): Promise<void> };
let cairn: Cairn;
let config: CairnConfig;
let repository: { target: string; password: string };

beforeEach(async () => {
  dir = await tempDir('cairn-jobs-');
  cairn = createCairn({ targets: [dirTarget] });
  repository = { target: join(dir.path, 'repo'), password: env.REPO_PASSWORD };
  await cairn.init({ repository, kdf });
  config = defineConfig({
    repositories: { main: { url: repository.target, password: { env: 'REPO_PASSWORD' } } },
    jobs: {
      docs: { sources: [memorySource({ name: 'docs', files: { 'a.txt': 'a' } })], repository: 'main', tags: ['daily'], retention: { keepLast: 2 } },
      site: {
        type: 'user_data',
        sources: (environment) => [memorySource({ name: 'site', files: { 'env.txt': environment ?? 'none' } })],
        repository: 'main',
        environments: ['staging', 'production'],
      },
    },
  });
});
afterEach(async () => {
  await cairn.close();
  await dir.remove();
});

describe('runJob', () => {
  it('backs up the job\'s sources into its repository, tagged with the job and its own tags', async () => {
    const result = await runJob(cairn, config, { job: 'docs' }, env);
    expect(result.backup.snapshot.tags).toEqual(['job:docs', 'daily']);
    expect(result.backup.snapshot.sources.map((s) => s.name)).toEqual(['docs']);
  });

  it('builds per-environment sources, tags the environment and refuses one the job does not cover', async () => {
    const result = await runJob(cairn, config, { job: 'site', environment: 'production' }, env);
    expect(result.backup.snapshot.tags).toEqual(['job:site', 'env:production']);
    const listing = await cairn.ls({ repository, snapshot: result.backup.snapshot.id });
    expect(listing.map((e) => e.path)).toContain('site/env.txt');
    await expect(runJob(cairn, config, { job: 'site', environment: 'development' }, env)).rejects.toThrow('job "site" does not cover environment "development" (it covers: staging, production)');
  });

  it('hands the run\'s parameters to a job whose sources are a function, and records them with the run', async () => {
    const history = memoryHistory();
    cairn.use(historyRecorder(history, { flushIntervalMs: 10 }));
    const withParams = defineConfig({
      ...config,
      jobs: {
        dump: {
          type: 'database', repository: 'main',
          sources: (_environment, params) => [memorySource({ name: 'db', files: { 'which.txt': String(params.database_name ?? 'all') } })],
        },
      },
    });
    const result = await runJob(cairn, withParams, { job: 'dump', runId: 'run-with-params', options: { database_name: 'shop', description: 'before the upgrade' } }, env);
    const listing = await cairn.ls({ repository, snapshot: result.backup.snapshot.id });
    const file = listing.find((e) => e.path === 'db/which.txt');
    expect(file?.size).toBe(4);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const run = await history.getRun('run-with-params');
    expect(run?.options.params).toEqual({ database_name: 'shop', description: 'before the upgrade' });
    await expect(cairn.snapshots({ repository, params: [1] as never })).rejects.toThrow('params: expected a plain JSON object');
  });

  it('applies the job\'s retention to its own snapshots only, then prunes', async () => {
    const other = await runJob(cairn, config, { job: 'site', environment: 'staging' }, env);
    for (let i = 0; i < 4; i++) await runJob(cairn, config, { job: 'docs' }, env);
    const snapshots = await cairn.snapshots({ repository });
    const docs = snapshots.filter((s) => s.tags.includes('job:docs'));
    expect(docs).toHaveLength(2);
    expect(snapshots.map((s) => s.id)).toContain(other.backup.snapshot.id);
    const last = await runJob(cairn, config, { job: 'docs' }, env);
    expect(last.retention?.remove).toHaveLength(1);
    expect(last.retention?.prune).toBeDefined();
  });

  it('records the job, environment and requester with its runs', async () => {
    const started: Array<{ operation: string; job?: string; environment?: string; requestedBy?: string }> = [];
    cairn.events.on('run:start', (info) => void started.push({ operation: info.operation, job: info.job, environment: info.environment, requestedBy: info.requestedBy }));
    await runJob(cairn, config, { job: 'site', environment: 'staging', requestedBy: 'test:ann' }, env);
    await runJob(cairn, config, { job: 'docs' }, env);
    await cairn.close();
    expect(started).toEqual([
      { operation: 'backup', job: 'site', environment: 'staging', requestedBy: 'test:ann' },
      { operation: 'backup', job: 'docs', environment: undefined, requestedBy: undefined },
      { operation: 'forget', job: 'docs', environment: undefined, requestedBy: undefined },
    ]);
    cairn = createCairn({ targets: [dirTarget] });
  });

  it('names the jobs there are when one is missing, and the variable when a password is', async () => {
    await expect(runJob(cairn, config, { job: 'nope' }, env)).rejects.toThrow('no job named "nope" in the config (jobs: docs, site)');
    const error = await runJob(cairn, config, { job: 'docs' }, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('REPO_PASSWORD is not set');
  });

  it('rejects per-environment sources that return nothing usable', async () => {
    const broken = defineConfig({
      repositories: config.repositories,
      jobs: { bad: { sources: () => [] as never, repository: 'main' } },
    });
    await expect(runJob(cairn, broken, { job: 'bad' }, env)).rejects.toThrow('jobs.bad.sources(null) must return a non-empty array of sources');
  });
});

describe('jobTags', () => {
  it('tags the job and, when given, the environment', () => {
    expect(jobTags('docs', undefined)).toEqual(['job:docs']);
    expect(jobTags('docs', 'prod')).toEqual(['job:docs', 'env:prod']);
  });
});

describe('job profiles', () => {
  it('back up the userData sources with-user-data (the default), leave them out without, and tag which', async () => {
    const profiled = defineConfig({
      repositories: { main: { url: repository.target, password: { env: 'REPO_PASSWORD' } } },
      jobs: {
        app: {
          sources: [memorySource({ name: 'db', files: { 'dump.sql': 'rows' } })],
          userData: (environment) => [memorySource({ name: 'uploads', files: { 'photo.jpg': environment ?? 'none' } })],
          repository: 'main',
        },
        lean: { sources: [memorySource({ name: 'db', files: { 'dump.sql': 'rows' } })], userData: [memorySource({ name: 'uploads', files: { 'a': 'a' } })], repository: 'main', profile: 'without-user-data' },
      },
    });
    const full = await runJob(cairn, profiled, { job: 'app', environment: 'prod' }, env);
    expect(full.backup.snapshot.sources.map((s) => s.name)).toEqual(['db', 'uploads']);
    expect(full.backup.snapshot.tags).toContain('profile:with-user-data');
    const without = await runJob(cairn, profiled, { job: 'app', profile: 'without-user-data' }, env);
    expect(without.backup.snapshot.sources.map((s) => s.name)).toEqual(['db']);
    expect(without.backup.snapshot.tags).toContain('profile:without-user-data');
    const lean = await runJob(cairn, profiled, { job: 'lean' }, env);
    expect(lean.backup.snapshot.sources.map((s) => s.name)).toEqual(['db']);
    expect((await runJob(cairn, profiled, { job: 'lean', profile: 'with-user-data' }, env)).backup.snapshot.sources.map((s) => s.name)).toEqual(['db', 'uploads']);
  });
});
