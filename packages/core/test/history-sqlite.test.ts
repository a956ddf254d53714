import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HistoryError, sqliteHistory } from '../src/index.js';
import type { HistoryStore } from '../src/index.js';
import { tempDir } from './helpers.js';

let dir: { path: string; remove(): Promise<void> };
let path: string;
const open: HistoryStore[] = [];
beforeEach(async () => {
  dir = await tempDir('cairn-history-sqlite-');
  path = join(dir.path, 'history.db');
});
afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
  await dir.remove();
});

function history(): HistoryStore {
  const store = sqliteHistory({ path });
  open.push(store);
  return store;
}

const now = (): string => new Date().toISOString();
const sourceEntry = fileURLToPath(new URL('../src/history/sqlite.ts', import.meta.url));

/**
 * Runs `body` in a separate Node process with `store` bound to sqliteHistory({ path }) built from
 * this checkout's source (type-stripped; a resolve hook maps the source's `.js` imports to `.ts`).
 */
async function inChildProcess(body: string): Promise<string> {
  const hooks = join(dir.path, 'hooks.mjs');
  await writeFile(hooks, `export async function resolve(specifier, context, next) {
  try { return await next(specifier, context); } catch (error) {
    if (/^(\\.|file:)/.test(specifier) && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context);
    throw error;
  }
}`);
  const register = join(dir.path, 'register.mjs');
  await writeFile(register, `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)});`);
  const script = join(dir.path, 'child.mjs');
  await writeFile(script, `const { sqliteHistory } = await import(${JSON.stringify(pathToFileURL(sourceEntry).href)});
const store = sqliteHistory({ path: ${JSON.stringify(path)} });
try {
${body}
} finally { await store.close(); }`);
  const child = spawn(process.execPath, ['--conditions=@cairn/source', '--experimental-transform-types', '--no-warnings', '--import', pathToFileURL(register).href, script], {
    cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`the child process failed (${code}): ${stderr}`);
  return stdout;
}

describe('sqliteHistory', () => {
  it('keeps one WAL-mode file with a versioned schema, and reopens it', async () => {
    const store = history();
    await store.recordStart({ id: 'r1', operation: 'backup', repository: '/r', startedAt: now() });
    await store.appendLogs('r1', [{ time: now(), level: 'info', message: 'kept' }]);
    await store.close();
    const db = new DatabaseSync(path);
    try {
      expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
      expect(db.prepare('PRAGMA user_version').get()).toEqual({ user_version: 2 });
      const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'runs_by_%'").all() as Array<{ name: string }>).map((r) => r.name);
      expect(indexes.sort()).toEqual(['runs_by_job', 'runs_by_operation', 'runs_by_start', 'runs_by_status']);
    } finally {
      db.close();
    }
    const again = history();
    expect((await again.getRun('r1'))?.id).toBe('r1');
    expect((await again.logs('r1')).map((l) => l.message)).toEqual(['kept']);
  });

  it('migrates an empty SQLite file and refuses one written by a newer schema', async () => {
    const db = new DatabaseSync(path);
    db.exec('CREATE TABLE unrelated (x)');
    db.close();
    const store = history();
    await store.recordStart({ id: 'r1', operation: 'backup', repository: '/r', startedAt: now() });
    await store.close();

    // A version-1 file (before the audit table) gains it and keeps its runs.
    const old = new DatabaseSync(path);
    old.exec('DROP TABLE audit; PRAGMA user_version = 1');
    old.close();
    const upgraded = history();
    expect((await upgraded.getRun('r1'))?.id).toBe('r1');
    await upgraded.recordAudit({ time: now(), actor: 'ann', action: 'pause', target: '*', status: 200 });
    expect(await upgraded.listAudit()).toHaveLength(1);
    await upgraded.close();

    const newer = new DatabaseSync(path);
    newer.exec('PRAGMA user_version = 99');
    newer.close();
    const error = catchError(() => sqliteHistory({ path }));
    expect(error).toBeInstanceOf(HistoryError);
    expect(error).toMatchObject({ code: 'HISTORY_UNREADABLE' });
    expect((error as Error).message).toMatch(/newer Cairn/);
  });

  it('reports a corrupt or non-SQLite file as HISTORY_UNREADABLE, naming the file', async () => {
    await writeFile(path, 'this is a text file, not a history database\n'.repeat(200));
    const error = catchError(() => sqliteHistory({ path }));
    expect(error).toBeInstanceOf(HistoryError);
    expect(error).toMatchObject({ code: 'HISTORY_UNREADABLE', plugin: 'history' });
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(/not a database/);
    expect((error as Error).message).toMatch(/move it aside/);

    const options = catchError(() => sqliteHistory({ path: '' }));
    expect(options).toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('lets two connections and another process write the same file and see each other', async () => {
    const first = history();
    const second = history();
    await first.recordStart({ id: 'from-first', operation: 'backup', repository: '/r', startedAt: '2025-01-01T00:00:00.000Z', job: 'docs' });
    await second.recordStart({ id: 'from-second', operation: 'restore', repository: '/r', startedAt: '2025-01-01T00:01:00.000Z' });
    expect((await first.listRuns()).map((r) => r.id)).toEqual(['from-second', 'from-first']);
    await second.recordEnd('from-first', { status: 'succeeded', endedAt: '2025-01-01T00:02:00.000Z', snapshotId: 'snap' });
    expect(await first.getRun('from-first')).toMatchObject({ status: 'succeeded', snapshotId: 'snap' });

    // A child process appends to the same run while this one does: every line is kept, numbered
    // once. Each side waits for the other halfway, so their writes interleave.
    await first.recordStart({ id: 'shared', operation: 'backup', repository: '/r', startedAt: '2025-01-01T00:03:00.000Z' });
    const child = inChildProcess(`
      const seen = (await store.listRuns()).map((r) => r.id);
      await store.recordStart({ id: 'from-child', operation: 'check', repository: '/r', startedAt: '2025-01-01T00:04:00.000Z', requestedBy: 'worker:2' });
      for (let batch = 0; batch < 20; batch++) {
        if (batch === 10) {
          for (let i = 0; !(await store.logs('shared')).some((l) => l.message === 'parent 100'); i++) {
            if (i > 1e6) throw new Error('the parent never wrote its second half');
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
        await store.appendLogs('shared', Array.from({ length: 10 }, (_, i) => ({ time: new Date().toISOString(), level: 'info', message: 'child ' + (batch * 10 + i) })));
      }
      console.log(JSON.stringify(seen));`);
    let childDone = false;
    void child.then(() => { childDone = true; }, () => { childDone = true; });
    for (let batch = 0; batch < 20; batch++) {
      if (batch === 10) {
        for (let i = 0; !childDone && !(await first.logs('shared')).some((l) => l.message === 'child 99'); i++) {
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
      await (batch % 2 ? first : second).appendLogs('shared', Array.from({ length: 10 }, (_, i) => ({ time: now(), level: 'info' as const, message: `parent ${batch * 10 + i}` })));
    }
    const seenByChild = JSON.parse(await child) as string[];
    expect(seenByChild).toEqual(expect.arrayContaining(['from-first', 'from-second', 'shared']));
    expect(await second.getRun('from-child')).toMatchObject({ operation: 'check', requestedBy: 'worker:2', status: 'running' });
    const lines = await first.logs('shared');
    expect(lines).toHaveLength(400);
    expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    const messages = lines.map((l) => l.message);
    for (const who of ['parent', 'child']) {
      const own = messages.filter((m) => m.startsWith(who)).map((m) => Number(m.split(' ')[1]));
      // Each writer's lines are all there, in the order it wrote them.
      expect(own).toEqual(Array.from({ length: 200 }, (_, i) => i));
    }
    expect(messages.indexOf('child 0')).toBeLessThan(messages.indexOf('parent 199'));
    expect(messages.indexOf('parent 0')).toBeLessThan(messages.indexOf('child 199'));
  });

  it('fails a write with HISTORY_BUSY when another connection holds the lock past the busy timeout', async () => {
    const store = sqliteHistory({ path, busyTimeoutMs: 50 });
    open.push(store);
    await store.recordStart({ id: 'r', operation: 'backup', repository: '/r', startedAt: now() });
    const holder = new DatabaseSync(path);
    try {
      holder.exec('BEGIN IMMEDIATE');
      const error = await store.appendLogs('r', [{ time: now(), level: 'info', message: 'blocked' }]).then(() => undefined, (e: unknown) => e);
      expect(error).toMatchObject({ code: 'HISTORY_BUSY' });
      holder.exec('COMMIT');
    } finally {
      holder.close();
    }
    // Nothing half-written: the next batch starts at seq 1.
    await store.appendLogs('r', [{ time: now(), level: 'info', message: 'after' }]);
    expect((await store.logs('r')).map((l) => [l.seq, l.message])).toEqual([[1, 'after']]);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}
