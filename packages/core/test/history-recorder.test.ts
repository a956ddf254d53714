import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCairn, defineSource, historyRecorder, memoryHistory, redact, sqliteHistory } from '../src/index.js';
import type { Cairn, HistoryRecorder, HistoryStore, LogLevel, RunEndInfo } from '../src/index.js';
import { deferred, dirTarget, memorySource, tempDir } from './helpers.js';

const kdf = { N: 1024, r: 8, p: 1 };
const PASSWORD = 'correct horse battery staple';
const URL_PASSWORD = 'url-secret-pw-7f3a';

/**
 * A source that logs (without giving a run id, as plugins do), reports that it started, then
 * waits for its run to be aborted, or fails with a message holding a credential in a URL.
 */
const blockingSource = defineSource({
  name: 'blocking',
  options: z.object({ name: z.string(), fail: z.boolean().default(false), started: z.custom<() => void>().optional() }),
  capabilities: { incremental: false, restoreModes: ['directory'] },
  create: (options) => ({
    name: options.name,
    description: `blocking:${options.name}`,
    async *entries(ctx) {
      ctx.logger.info(`connecting to mysql://root:${URL_PASSWORD}@db/app`);
      ctx.logger.debug('a debug line from the source');
      if (options.fail) throw new Error(`cannot reach mysql://root:${URL_PASSWORD}@db/app: connection refused`);
      options.started?.();
      await new Promise<never>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
      yield* [];
    },
    async restore() {
      throw new Error('not used in these tests');
    },
  }),
});

let dir: { path: string; remove(): Promise<void> };
let repository: { target: string; password: string };
let cairn: Cairn | undefined;
let store: HistoryStore | undefined;

beforeEach(async () => {
  dir = await tempDir('cairn-history-recorder-');
  repository = { target: join(dir.path, 'repo'), password: PASSWORD };
});
afterEach(async () => {
  await cairn?.close();
  await store?.close();
  cairn = undefined;
  store = undefined;
  await dir.remove();
});

async function setUp(history: HistoryStore, options: Parameters<typeof historyRecorder>[1] = {}): Promise<HistoryRecorder> {
  store = history;
  const recorder = historyRecorder(history, options);
  cairn = createCairn({ targets: [dirTarget], plugins: [recorder] });
  await cairn.init({ repository, kdf });
  return recorder;
}

const files = { 'a.txt': 'hello', 'docs/b.md': '# title\n', 'big.bin': 'x'.repeat(50_000) };

describe.each([
  ['memory', () => memoryHistory()],
  ['sqlite', (path: string) => sqliteHistory({ path: join(path, 'history.db') })],
] as const)('historyRecorder over the %s store', (_name, makeStore) => {
  it('records a successful backup and a restore with their numbers, requester and log lines', async () => {
    const recorder = await setUp(makeStore(dir.path));
    const ends: RunEndInfo[] = [];
    cairn!.events.on('run:end', (info) => { ends.push(info); });
    const before = new Date();
    const { snapshot } = await cairn!.backup({
      repository, sources: [memorySource({ name: 'mem', files })], tags: ['t1'], requestedBy: 'cli:ann', job: 'docs', environment: 'production',
    });
    const restored = await cairn!.restore({ repository, snapshot: 'latest', targetDir: join(dir.path, 'out'), requestedBy: 'api:ops' });
    await recorder.flush();

    const runs = await store!.listRuns();
    expect(runs.map((r) => [r.operation, r.status])).toEqual([['restore', 'succeeded'], ['backup', 'succeeded'], ['init', 'succeeded']]);
    const [restore, backup] = runs;
    const s = snapshot.summary;
    expect(backup).toMatchObject({
      job: 'docs', environment: 'production', requestedBy: 'cli:ann', repository: join(dir.path, 'repo'),
      options: { sources: ['mem'], tags: ['t1'] },
      snapshotId: snapshot.id, files: 3, bytesRead: s.bytesRead, bytesAdded: s.bytesAdded, warnings: 0,
    });
    expect(s.bytesRead).toBeGreaterThan(50_000);
    expect(s.bytesAdded).toBeGreaterThan(0);
    expect(backup!.error).toBeUndefined();
    expect(Date.parse(backup!.startedAt)).toBeGreaterThanOrEqual(before.getTime());
    expect(Date.parse(backup!.endedAt!)).toBeGreaterThanOrEqual(Date.parse(backup!.startedAt));
    expect(backup!.durationMs).toBeGreaterThanOrEqual(0);
    expect(restore).toMatchObject({ requestedBy: 'api:ops', snapshotId: snapshot.id, files: restored.files, bytesWritten: restored.bytes, options: { snapshot: 'latest' } });
    expect(restored.bytes).toBe(50_000 + 5 + 8);

    // The run:end events themselves carry the numbers.
    expect(ends.find((e) => e.operation === 'backup')).toMatchObject({ ok: true, snapshotId: snapshot.id, files: 3, bytesRead: s.bytesRead, bytesAdded: s.bytesAdded, warnings: 0 });
    expect(ends.find((e) => e.operation === 'restore')).toMatchObject({ ok: true, snapshotId: snapshot.id, files: 3, bytesWritten: restored.bytes });

    const lines = await store!.logs(backup!.id);
    expect(lines.map((l) => [l.seq, l.level, l.message])).toEqual([[1, 'info', `snapshot ${snapshot.id.slice(0, 8)} saved`]]);
    expect(lines[0]!.fields).toEqual({ files: 3, bytesAdded: s.bytesAdded, warnings: 0 });
    expect((await store!.logs(restore!.id)).map((l) => l.message)).toEqual([`snapshot ${snapshot.id.slice(0, 8)} restored`]);
  });

  it('records a failed backup with its error code and its lines, including the error logged after its end', async () => {
    const recorder = await setUp(makeStore(dir.path));
    cairn!.hooks.veto.tap('maintenance', (info) => (info.operation === 'backup' && info.job === 'frozen' ? 'maintenance window' : undefined));
    await expect(cairn!.backup({ repository: { ...repository, password: 'wrong password' }, sources: [memorySource({ name: 'mem', files })], job: 'docs' }))
      .rejects.toMatchObject({ code: 'REPO_WRONG_PASSWORD' });
    await expect(cairn!.backup({ repository, sources: [memorySource({ name: 'mem', files })], job: 'frozen' })).rejects.toMatchObject({ code: 'RUN_VETOED' });
    await recorder.flush();

    const [veto, wrong] = await store!.listRuns({ operation: 'backup' });
    expect(wrong).toMatchObject({ status: 'failed', job: 'docs', error: { code: 'REPO_WRONG_PASSWORD' } });
    expect(wrong!.snapshotId).toBeUndefined();
    expect(veto).toMatchObject({ status: 'failed', job: 'frozen', error: { code: 'RUN_VETOED', message: 'run refused by maintenance: maintenance window' } });
    const lines = await store!.logs(wrong!.id);
    expect(lines.at(-1)).toMatchObject({ level: 'error', fields: { code: 'REPO_WRONG_PASSWORD' } });
    expect(lines.at(-1)!.message).toMatch(/^backup failed: /);
    expect(await store!.listRuns({ status: 'failed' })).toHaveLength(2);
    expect(await store!.listRuns({ job: 'docs', status: 'succeeded' })).toEqual([]);
  });

  it('records an aborted backup as aborted, with the lines its source logged', async () => {
    const recorder = await setUp(makeStore(dir.path), { minLevel: 'debug' });
    const started = deferred();
    const controller = new AbortController();
    const run = cairn!.backup({ repository, sources: [blockingSource({ name: 'db', started: () => started.resolve() })], signal: controller.signal, requestedBy: 'cli:bob' });
    await started.promise;
    controller.abort();
    await expect(run).rejects.toMatchObject({ code: 'ABORTED' });
    await recorder.flush();

    const [aborted] = await store!.listRuns({ status: 'aborted' });
    expect(aborted).toMatchObject({ operation: 'backup', requestedBy: 'cli:bob', error: { code: 'ABORTED' } });
    const messages = (await store!.logs(aborted!.id)).map((l) => `${l.level} ${l.message}`);
    // The source logged without a run id; the orchestrator tagged its lines with the run's.
    expect(messages).toEqual(expect.arrayContaining(['debug backup started', 'info connecting to mysql://root:***@db/app', 'debug a debug line from the source']));
    expect(messages.at(-1)).toMatch(/^error backup failed: /);
  });
});

describe('historyRecorder', () => {
  it('tags every log line of a run with its id, and stores each under its own run', async () => {
    const recorder = await setUp(memoryHistory(), { minLevel: 'debug' });
    await recorder.flush(); // the init run's events are delivered before these listeners start counting
    const seen: Array<{ level: LogLevel; message: string; run: unknown }> = [];
    cairn!.events.on('log', (level, message, fields) => { seen.push({ level, message, run: fields?.run }); });
    const ids: string[] = [];
    cairn!.events.on('run:start', (info) => { ids.push(info.id); });
    await cairn!.backup({ repository, sources: [memorySource({ name: 'one', files: { 'a.txt': '1', 'b.txt': 'locked' }, unreadable: ['b.txt'] }), memorySource({ name: 'two', files: { 'c.txt': '2' } })] });
    await expect(cairn!.backup({ repository, sources: [blockingSource({ name: 'db', fail: true })] })).rejects.toThrow();
    await recorder.flush();

    expect(seen.length).toBeGreaterThan(4);
    for (const line of seen) expect(ids, `${line.level} ${line.message}`).toContain(line.run);
    for (const id of ids) {
      const stored = await store!.logs(id);
      expect(stored.length).toBeGreaterThan(0);
      expect(stored.map((l) => l.message)).toEqual(seen.filter((l) => l.run === id).map((l) => redact(l.message)));
    }
    const [failed, warned] = await store!.listRuns({ operation: 'backup' });
    expect(warned).toMatchObject({ status: 'succeeded', warnings: 1 });
    expect(failed).toMatchObject({ status: 'failed' });
    expect(failed!.error!.message).toContain('mysql://root:***@db/app');
  });

  it('keeps only lines at or above the verbosity, per job when configured', async () => {
    const recorder = await setUp(memoryHistory(), { minLevel: 'warn', jobLevels: { chatty: 'debug' } });
    await cairn!.backup({ repository, sources: [memorySource({ name: 'mem', files, unreadable: ['docs/b.md'] })], job: 'quiet' });
    await cairn!.backup({ repository, sources: [memorySource({ name: 'mem', files })], job: 'chatty' });
    await recorder.flush();
    const quiet = (await store!.listRuns({ job: 'quiet' }))[0]!;
    const chatty = (await store!.listRuns({ job: 'chatty' }))[0]!;
    expect((await store!.logs(quiet.id)).map((l) => l.level)).toEqual(['warn']);
    expect((await store!.logs(chatty.id)).map((l) => `${l.level} ${l.message.split(' ')[0]!}`)).toEqual(['debug backup', 'info snapshot']);
  });

  it('leaves the read-only runs (snapshots, ls, diff) out unless asked to keep them', async () => {
    for (const queries of [false, true]) {
      repository = { target: join(dir.path, `repo-${queries}`), password: PASSWORD };
      const recorder = await setUp(memoryHistory(), { queries });
      await cairn!.backup({ repository, sources: [memorySource({ name: 'mem', files })] });
      await cairn!.snapshots({ repository });
      await cairn!.ls({ repository, snapshot: 'latest' });
      await cairn!.diff({ repository, from: 'latest', to: 'latest' });
      await recorder.flush();
      const operations = (await store!.listRuns()).map((run) => run.operation).sort();
      expect(operations).toEqual(queries ? ['backup', 'diff', 'init', 'ls', 'snapshots'] : ['backup', 'init']);
      await cairn!.close();
      await store!.close();
      cairn = undefined;
      store = undefined;
    }
  });

  it('never fails or stalls a run when the store fails, and reports the failure once per streak', async () => {
    const broken = memoryHistory();
    const failing: HistoryStore = {
      ...broken,
      recordStart: () => Promise.reject(new Error('disk full')),
      recordEnd: () => Promise.reject(new Error('disk full')),
      appendLogs: () => Promise.reject(new Error('disk full')),
      close: () => broken.close(),
    };
    const errors: unknown[] = [];
    const recorder = await setUp(failing, { onError: (error) => errors.push(error) });
    const { snapshot } = await cairn!.backup({ repository, sources: [memorySource({ name: 'mem', files })] });
    expect(snapshot.id).toMatch(/^[0-9a-f]{64}$/);
    await recorder.flush();
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('disk full');
  });

  it('refuses invalid RunMeta before a run starts, recording nothing', async () => {
    const recorder = await setUp(memoryHistory());
    await expect(cairn!.backup({ repository, sources: [memorySource({ name: 'mem', files })], requestedBy: '' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(cairn!.backup({ repository, sources: [memorySource({ name: 'mem', files })], job: 'x'.repeat(201) })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(cairn!.snapshots({ repository, environment: 42 as unknown as string })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await recorder.flush();
    expect((await store!.listRuns()).map((r) => r.operation)).toEqual(['init']);
    expect(() => historyRecorder(memoryHistory(), { minLevel: 'loud' as LogLevel })).toThrow(/\[history\] invalid options: minLevel/);
  });

  it('stores neither the repository password nor URL credentials anywhere in the sqlite file', async () => {
    const path = join(dir.path, 'state', 'history.db');
    const recorder = await setUp(sqliteHistory({ path }), { minLevel: 'debug' });
    const url = `mysql://root:${URL_PASSWORD}@db/app`;
    await cairn!.backup({ repository, sources: [memorySource({ name: 'mem', files })], tags: [`from:${url}`], requestedBy: 'cli:ann' });
    await expect(cairn!.backup({ repository, sources: [blockingSource({ name: 'db', fail: true })] })).rejects.toThrow(URL_PASSWORD);
    await expect(cairn!.backup({ repository: { ...repository, password: `${PASSWORD} but wrong` }, sources: [memorySource({ name: 'mem', files })] })).rejects.toThrow();
    cairn!.logger.info(`outside any run: ${url}`, { password: PASSWORD });
    await cairn!.restore({ repository, snapshot: 'latest', targetDir: join(dir.path, 'out') });
    await recorder.flush();
    const runs = await store!.listRuns();
    expect(runs).toHaveLength(5);
    expect(runs.find((r) => r.options.tags !== undefined && r.status === 'succeeded')!.options.tags).toEqual(['from:mysql://root:***@db/app']);
    await cairn!.close();
    await store!.close();
    store = undefined;

    const names = (await readdir(join(dir.path, 'state'))).filter((name) => name.startsWith('history.db'));
    expect(names).toContain('history.db');
    for (const name of names) {
      const bytes = await readFile(join(dir.path, 'state', name));
      for (const secret of [PASSWORD, URL_PASSWORD]) {
        expect(bytes.includes(Buffer.from(secret)), `${secret} in ${name}`).toBe(false);
        expect(bytes.includes(Buffer.from(secret, 'utf16le')), `${secret} (UTF-16) in ${name}`).toBe(false);
      }
    }
    // The file does hold what was recorded (the check above looks at real content).
    expect((await readFile(join(dir.path, 'state', 'history.db'))).includes(Buffer.from('cli:ann'))).toBe(true);
  });
});
