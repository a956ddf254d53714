import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HistoryError, memoryHistory, sqliteHistory } from '../src/index.js';
import type { HistoryStore, RunStartRecord } from '../src/index.js';
import { tempDir } from './helpers.js';

/** Both built-in stores run the same cases: a host app's own store should pass them too. */
const stores: Array<[string, (dir: string) => HistoryStore]> = [
  ['memory', () => memoryHistory()],
  // A directory that does not exist yet: the store creates it.
  ['sqlite', (dir) => sqliteHistory({ path: join(dir, 'state', 'nested', 'history.db') })],
];

const at = (minute: number, second = 0): string => new Date(Date.UTC(2025, 0, 2, 3, minute, second)).toISOString();

function start(id: string, minute: number, extra: Partial<RunStartRecord> = {}): RunStartRecord {
  return { id, operation: 'backup', repository: '/srv/backups', startedAt: at(minute), ...extra };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<HistoryError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(HistoryError);
  expect((error as HistoryError).code).toBe(code);
  return error as HistoryError;
}

describe.each(stores)('%s history store', (_name, makeStore) => {
  let dir: { path: string; remove(): Promise<void> };
  let store: HistoryStore;
  beforeEach(async () => {
    dir = await tempDir('cairn-history-');
    store = makeStore(dir.path);
  });
  afterEach(async () => {
    await store.close();
    await dir.remove();
  });

  it('round-trips a run from its start to its end', async () => {
    await store.recordStart({
      id: 'r1', operation: 'backup', job: 'docs', environment: 'production', requestedBy: 'cli:ann',
      options: { sources: ['docs'], tags: ['job:docs'], compressionLevel: 5, nested: { list: [1, 'two', null] } },
      repository: '/srv/backups', startedAt: at(1),
    });
    expect(await store.getRun('r1')).toEqual({
      id: 'r1', operation: 'backup', job: 'docs', environment: 'production', requestedBy: 'cli:ann',
      options: { sources: ['docs'], tags: ['job:docs'], compressionLevel: 5, nested: { list: [1, 'two', null] } },
      repository: '/srv/backups', status: 'running', startedAt: at(1),
    });
    await store.recordEnd('r1', {
      status: 'succeeded', endedAt: at(2), durationMs: 60_000, snapshotId: 'abc123', bytesRead: 1_000_000_000_000, bytesAdded: 4096, files: 12, warnings: 1,
    });
    expect(await store.getRun('r1')).toEqual({
      id: 'r1', operation: 'backup', job: 'docs', environment: 'production', requestedBy: 'cli:ann',
      options: { sources: ['docs'], tags: ['job:docs'], compressionLevel: 5, nested: { list: [1, 'two', null] } },
      repository: '/srv/backups', status: 'succeeded', startedAt: at(1), endedAt: at(2), durationMs: 60_000,
      snapshotId: 'abc123', bytesRead: 1_000_000_000_000, bytesAdded: 4096, files: 12, warnings: 1,
    });

    await store.recordStart(start('r2', 3, { operation: 'restore' }));
    await store.recordEnd('r2', { status: 'failed', endedAt: at(4), error: { code: 'REPO_LOCKED', message: 'the repository is locked' } });
    expect(await store.getRun('r2')).toMatchObject({ status: 'failed', error: { code: 'REPO_LOCKED', message: 'the repository is locked' }, options: {} });
    expect((await store.getRun('r2'))!.snapshotId).toBeUndefined();
  });

  it('answers undefined, an empty list or a coded error for an unknown run', async () => {
    expect(await store.getRun('nope')).toBeUndefined();
    expect(await store.logs('nope')).toEqual([]);
    expect(await store.listRuns()).toEqual([]);
    await expectCode(store.recordEnd('nope', { status: 'succeeded', endedAt: at(1) }), 'HISTORY_UNKNOWN_RUN');
  });

  it('moves a queued run to running, keeping when it was queued', async () => {
    await store.recordStart(start('q', 1, { status: 'queued', queuedAt: at(1), requestedBy: 'schedule:nightly' }));
    expect(await store.listRuns({ status: 'queued' })).toMatchObject([{ id: 'q', status: 'queued', queuedAt: at(1) }]);
    await store.recordStart(start('q', 5, { requestedBy: 'schedule:nightly' }));
    expect(await store.getRun('q')).toMatchObject({ status: 'running', queuedAt: at(1), startedAt: at(5), requestedBy: 'schedule:nightly' });
    expect(await store.listRuns()).toHaveLength(1);
  });

  it('lists runs newest first, with every filter, limit and offset', async () => {
    const runs: Array<[RunStartRecord, 'succeeded' | 'failed' | 'aborted' | undefined]> = [
      [start('a', 1, { job: 'docs', environment: 'production' }), 'succeeded'],
      [start('b', 2, { job: 'docs', environment: 'staging' }), 'failed'],
      [start('c', 3, { job: 'site', operation: 'forget' }), 'succeeded'],
      [start('d', 4, { operation: 'restore' }), 'aborted'],
      [start('e', 5, { job: 'docs' }), undefined],
      // Same start as e, recorded later: listed before it.
      [start('f', 5, { job: 'site' }), undefined],
    ];
    for (const [record, status] of runs) {
      await store.recordStart(record);
      if (status) await store.recordEnd(record.id, { status, endedAt: at(record.id.charCodeAt(0) - 90) });
    }
    const ids = async (filter?: Parameters<HistoryStore['listRuns']>[0]) => (await store.listRuns(filter)).map((r) => r.id);
    expect(await ids()).toEqual(['f', 'e', 'd', 'c', 'b', 'a']);
    expect(await ids({ job: 'docs' })).toEqual(['e', 'b', 'a']);
    expect(await ids({ environment: 'staging' })).toEqual(['b']);
    expect(await ids({ status: 'running' })).toEqual(['f', 'e']);
    expect(await ids({ status: ['failed', 'aborted'] })).toEqual(['d', 'b']);
    expect(await ids({ status: [] })).toEqual([]);
    expect(await ids({ operation: 'restore' })).toEqual(['d']);
    expect(await ids({ operation: 'backup', job: 'site' })).toEqual(['f']);
    expect(await ids({ since: new Date(at(3)) })).toEqual(['f', 'e', 'd', 'c']);
    expect(await ids({ until: new Date(at(3)) })).toEqual(['b', 'a']);
    expect(await ids({ since: new Date(at(2)), until: new Date(at(5)) })).toEqual(['d', 'c', 'b']);
    expect(await ids({ limit: 2 })).toEqual(['f', 'e']);
    expect(await ids({ limit: 2, offset: 2 })).toEqual(['d', 'c']);
    expect(await ids({ offset: 4 })).toEqual(['b', 'a']);
    expect(await ids({ job: 'docs', status: 'succeeded', limit: 10 })).toEqual(['a']);
    expect(await ids({ limit: 0 })).toEqual([]);
  });

  it('finds runs by the start of their id', async () => {
    for (const [i, id] of ['7f3a01', '7f3a02', '7f3b', '7f', 'e7f3a0'].entries()) await store.recordStart(start(id, i + 1));
    const ids = async (idPrefix: string) => (await store.listRuns({ idPrefix })).map((r) => r.id);
    expect(await ids('7f3a')).toEqual(['7f3a02', '7f3a01']);
    expect(await ids('7f3b')).toEqual(['7f3b']);
    expect(await ids('7f')).toEqual(['7f', '7f3b', '7f3a02', '7f3a01']);
    expect(await ids('7f3c')).toEqual([]);
    expect((await store.listRuns({ idPrefix: '7f', status: 'running', limit: 2 })).map((r) => r.id)).toEqual(['7f', '7f3b']);
    await expect(store.listRuns({ idPrefix: '' })).rejects.toThrow(/idPrefix must be a non-empty string/);
  });

  it('numbers log lines per run and filters them by level, count and position', async () => {
    await store.recordStart(start('r', 1));
    await store.recordStart(start('other', 1));
    await store.appendLogs('r', [
      { time: at(1, 1), level: 'debug', message: 'backup started' },
      { time: at(1, 2), level: 'info', message: 'reading docs', fields: { source: 'docs', count: 3, deep: { ok: true } } },
    ]);
    await store.appendLogs('other', [{ time: at(1, 2), level: 'info', message: 'another run' }]);
    await store.appendLogs('r', []);
    await store.appendLogs('r', [
      { time: at(1, 3), level: 'warn', message: 'docs/x: permission denied', fields: { code: 'EACCES' } },
      { time: at(1, 4), level: 'error', message: 'backup failed' },
    ]);
    const all = await store.logs('r');
    expect(all).toEqual([
      { runId: 'r', seq: 1, time: at(1, 1), level: 'debug', message: 'backup started' },
      { runId: 'r', seq: 2, time: at(1, 2), level: 'info', message: 'reading docs', fields: { source: 'docs', count: 3, deep: { ok: true } } },
      { runId: 'r', seq: 3, time: at(1, 3), level: 'warn', message: 'docs/x: permission denied', fields: { code: 'EACCES' } },
      { runId: 'r', seq: 4, time: at(1, 4), level: 'error', message: 'backup failed' },
    ]);
    expect((await store.logs('other')).map((l) => [l.seq, l.message])).toEqual([[1, 'another run']]);
    expect((await store.logs('r', { minLevel: 'info' })).map((l) => l.seq)).toEqual([2, 3, 4]);
    expect((await store.logs('r', { minLevel: 'warn' })).map((l) => l.seq)).toEqual([3, 4]);
    expect((await store.logs('r', { minLevel: 'error' })).map((l) => l.seq)).toEqual([4]);
    expect((await store.logs('r', { limit: 2 })).map((l) => l.seq)).toEqual([1, 2]);
    expect((await store.logs('r', { afterSeq: 2 })).map((l) => l.seq)).toEqual([3, 4]);
    expect((await store.logs('r', { afterSeq: 1, limit: 1, minLevel: 'warn' })).map((l) => l.seq)).toEqual([3]);

    // Lines of a run that already ended (its error, logged after the end) are kept too.
    await store.recordEnd('r', { status: 'failed', endedAt: at(2), error: { code: 'X', message: 'x' } });
    await store.appendLogs('r', [{ time: at(2, 1), level: 'error', message: 'late' }]);
    expect((await store.logs('r', { afterSeq: 4 })).map((l) => [l.seq, l.message])).toEqual([[5, 'late']]);
  });

  it('stores no credentials: URLs, secret-named fields and error messages are redacted', async () => {
    await store.recordStart(start('s', 1, {
      repository: 'sftp://ann:url-pass-1@vault/backups',
      options: { to: 'mysql://root:url-pass-2@db/app', password: 'repo-pass', nested: { apiKey: 'k-1', list: ['s3://x?secret=url-pass-3'] } },
    }));
    await store.appendLogs('s', [{ time: at(1), level: 'info', message: 'connecting to ftp://bob:url-pass-4@host/', fields: { url: 'https://u:url-pass-5@h/', token: 'tok' } }]);
    await store.recordEnd('s', { status: 'failed', endedAt: at(2), error: { code: 'TARGET_UNAVAILABLE', message: 'cannot reach sftp://ann:url-pass-6@vault' } });
    const text = JSON.stringify([await store.getRun('s'), await store.logs('s'), await store.listRuns()]);
    for (const secret of ['url-pass-1', 'url-pass-2', 'url-pass-3', 'url-pass-4', 'url-pass-5', 'url-pass-6', 'repo-pass', 'k-1', 'tok"']) expect(text).not.toContain(secret);
    expect(await store.getRun('s')).toMatchObject({
      repository: 'sftp://ann:***@vault/backups',
      options: { to: 'mysql://root:***@db/app', password: '***', nested: { apiKey: '***', list: ['s3://x?secret=***'] } },
      error: { message: 'cannot reach sftp://ann:***@vault' },
    });
  });

  it('normalises times to UTC and refuses malformed records with HISTORY_INVALID', async () => {
    await store.recordStart(start('t', 1, { startedAt: '2025-01-02T05:01:00+02:00' }));
    expect((await store.getRun('t'))!.startedAt).toBe('2025-01-02T03:01:00.000Z');
    await expectCode(store.recordStart(start('u', 1, { startedAt: 'yesterday' })), 'HISTORY_INVALID');
    await expectCode(store.recordStart({ ...start('u', 1), status: 'succeeded' as never }), 'HISTORY_INVALID');
    await expectCode(store.recordStart({ ...start('u', 1), repository: '' }), 'HISTORY_INVALID');
    await expectCode(store.recordEnd('t', { status: 'done' as never, endedAt: at(2) }), 'HISTORY_INVALID');
    await expectCode(store.recordEnd('t', { status: 'succeeded', endedAt: at(2), files: -1 }), 'HISTORY_INVALID');
    await expectCode(store.appendLogs('t', [{ time: at(1), level: 'verbose' as never, message: 'x' }]), 'HISTORY_INVALID');
    await expectCode(store.listRuns({ status: 'done' as never }), 'HISTORY_INVALID');
    await expectCode(store.listRuns({ limit: -1 }), 'HISTORY_INVALID');
    await expectCode(store.logs('t', { minLevel: 'loud' as never }), 'HISTORY_INVALID');
    expect(await store.getRun('u')).toBeUndefined();
  });

  it('returns copies that callers may change freely', async () => {
    await store.recordStart(start('c', 1, { options: { tags: ['a'] } }));
    await store.appendLogs('c', [{ time: at(1), level: 'info', message: 'm', fields: { n: 1 } }]);
    const run = (await store.getRun('c'))!;
    (run.options.tags as string[]).push('changed');
    run.status = 'failed';
    (await store.logs('c'))[0]!.fields!.n = 2;
    expect(await store.getRun('c')).toMatchObject({ status: 'running', options: { tags: ['a'] } });
    expect((await store.logs('c'))[0]!.fields).toEqual({ n: 1 });
  });

  it('keeps audit records, newest first, filtered by actor, action and time, redacted', async () => {
    await store.recordAudit({ time: at(1), actor: 'ann', action: 'trigger-backup', target: 'db', ip: '127.0.0.1', status: 202, runId: 'r1' });
    await store.recordAudit({ time: at(2), actor: 'bob', action: 'restore', target: 'sftp://bob:hunter2@host/repo', status: 403, code: 'FORBIDDEN' });
    await store.recordAudit({ time: '2025-01-02T05:03:00+02:00', actor: 'ann', action: 'pause', target: '*', status: 200 });
    const all = await store.listAudit();
    expect(all.map((r) => r.action)).toEqual(['pause', 'restore', 'trigger-backup']);
    expect(all[0]!.time).toBe(at(3));
    expect(all[1]).toEqual({ seq: 2, time: at(2), actor: 'bob', action: 'restore', target: 'sftp://bob:***@host/repo', status: 403, code: 'FORBIDDEN' });
    expect(all[2]).toEqual({ seq: 1, time: at(1), actor: 'ann', action: 'trigger-backup', target: 'db', ip: '127.0.0.1', status: 202, runId: 'r1' });
    expect((await store.listAudit({ actor: 'ann' })).map((r) => r.seq)).toEqual([3, 1]);
    expect((await store.listAudit({ action: 'restore' })).map((r) => r.seq)).toEqual([2]);
    expect((await store.listAudit({ since: new Date(at(2)), until: new Date(at(3)) })).map((r) => r.seq)).toEqual([2]);
    expect((await store.listAudit({ limit: 1, offset: 1 })).map((r) => r.seq)).toEqual([2]);
    await expectCode(store.recordAudit({ time: 'yesterday', actor: 'ann', action: 'x', target: 'y', status: 200 }), 'HISTORY_INVALID');
    await expectCode(store.recordAudit({ time: at(1), actor: '', action: 'x', target: 'y', status: 200 }), 'HISTORY_INVALID');
    await expectCode(store.recordAudit({ time: at(1), actor: 'a', action: 'x', target: 'y', status: 42 }), 'HISTORY_INVALID');
    await expectCode(store.listAudit({ limit: -1 }), 'HISTORY_INVALID');
  });

  it('refuses every call once closed', async () => {
    await store.close();
    await expectCode(store.listRuns(), 'HISTORY_CLOSED');
    await expectCode(store.listAudit(), 'HISTORY_CLOSED');
    await expectCode(store.recordStart(start('x', 1)), 'HISTORY_CLOSED');
    await store.close();
  });
});
