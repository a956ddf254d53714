import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCairn } from '../src/index.js';
import type { AfterBackupInfo, Cairn, ProgressEvent, RunEndInfo, RunWarning } from '../src/index.js';
import { dirTarget, memorySource, tempDir, until } from './helpers.js';

// End-to-end through the real @cairn/repository: these need its implementation, not the stub.
const kdf = { N: 1024, r: 8, p: 1 };

let dir: { path: string; remove(): Promise<void> };
let cairn: Cairn;
let repository: { target: string; password: string };
beforeEach(async () => {
  dir = await tempDir('cairn-orchestrator-');
  cairn = createCairn({ targets: [dirTarget] });
  repository = { target: join(dir.path, 'repo'), password: 'correct horse' };
  await cairn.init({ repository, kdf });
});
afterEach(async () => {
  await cairn.close();
  await dir.remove();
});

async function readTree(root: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) Object.assign(out, await readTree(root, rel));
    else out[rel] = await readFile(join(root, rel), 'utf8');
  }
  return out;
}

describe('backup and restore through the orchestrator', () => {
  it('round-trips files, with hooks amending the plan and events reporting the run', async () => {
    const files = { 'a.txt': 'hello', 'docs/b.md': '# title\n', 'docs/deep/c.bin': 'x'.repeat(100_000), 'empty': '' };
    const after: AfterBackupInfo[] = [];
    const progress: ProgressEvent[] = [];
    const ends: RunEndInfo[] = [];
    cairn.hooks.beforeBackup.tap('tag-it', (plan) => ({ ...plan, tags: [...plan.tags, 'amended'] }));
    cairn.hooks.afterBackup.tap('collect', (info) => { after.push(info); });
    cairn.hooks.onProgress.tap('collect', (p) => { progress.push(p); });
    cairn.events.on('run:end', (info) => { ends.push(info); });

    const { snapshot, warnings } = await cairn.backup({ repository, sources: [memorySource({ name: 'mem', files })], tags: ['t1'], host: 'test-host' });
    expect(warnings).toEqual([]);
    expect(snapshot.tags.sort()).toEqual(['amended', 't1']);
    expect(snapshot.host).toBe('test-host');
    expect(snapshot.sources).toEqual([{ name: 'mem', kind: 'memory', description: 'memory:mem' }]);
    expect(after).toHaveLength(1);
    expect(after[0]!.snapshot.id).toBe(snapshot.id);
    expect(after[0]!.plan.tags).toEqual(['t1', 'amended']);
    expect(progress.at(-1)).toMatchObject({ operation: 'backup', final: true, filesDone: 4 });

    const snapshots = await cairn.snapshots({ repository });
    expect(snapshots.map((s) => s.id)).toEqual([snapshot.id]);

    const targetDir = join(dir.path, 'restored');
    const outcome = await cairn.restore({ repository, snapshot: 'latest', targetDir });
    expect(outcome.snapshot.id).toBe(snapshot.id);
    expect(outcome.files).toBe(4);
    expect(await readTree(join(targetDir, 'mem'))).toEqual(files);

    await until(() => ends.length === 3, 'run:end for backup, snapshots and restore');
    expect(ends.map((e) => [e.operation, e.ok])).toEqual([['backup', true], ['snapshots', true], ['restore', true]]);
  });

  it('lists, diffs, restores a point in time and forgets', async () => {
    const first = await cairn.backup({ repository, sources: [memorySource({ name: 'mem', files: { 'a.txt': 'one', 'b.txt': 'same' } })] });
    await until(() => Date.now() > Date.parse(first.snapshot.time) + 1, 'the clock to move past the first snapshot');
    const second = await cairn.backup({ repository, sources: [memorySource({ name: 'mem', files: { 'a.txt': 'two!', 'b.txt': 'same', 'c.txt': 'new' } })] });

    const nodes = await cairn.ls({ repository, snapshot: second.snapshot.id.slice(0, 12) });
    expect(nodes.map((n) => n.path)).toEqual(expect.arrayContaining(['mem/a.txt', 'mem/b.txt', 'mem/c.txt']));
    expect(nodes.every((n) => !('open' in n))).toBe(true);
    // With `each`, the same nodes in the same order, none of them kept.
    const streamed: typeof nodes = [];
    expect(await cairn.ls({ repository, snapshot: second.snapshot.id, each: (node) => streamed.push(node) })).toEqual([]);
    expect(streamed).toEqual(nodes);

    const changes = await cairn.diff({ repository, from: first.snapshot.id, to: second.snapshot.id });
    expect(changes).toEqual(expect.arrayContaining([
      { path: 'mem/a.txt', change: 'modified', type: 'file' },
      { path: 'mem/c.txt', change: 'added', type: 'file' },
    ]));
    const found: typeof changes = [];
    expect(await cairn.diff({ repository, from: first.snapshot.id, to: second.snapshot.id, each: (change) => found.push(change) })).toEqual([]);
    expect(found).toEqual(changes);

    const targetDir = join(dir.path, 'then');
    const outcome = await cairn.restore({ repository, snapshot: 'latest', at: new Date(first.snapshot.time), targetDir });
    expect(outcome.snapshot.id).toBe(first.snapshot.id);
    expect(await readTree(join(targetDir, 'mem'))).toEqual({ 'a.txt': 'one', 'b.txt': 'same' });

    const forgotten = await cairn.forget({ repository, policy: { keepLast: 1 }, prune: true });
    expect(forgotten.remove.map((s) => s.id)).toEqual([first.snapshot.id]);
    const report = await cairn.check({ repository, readData: true });
    expect(report.ok).toBe(true);
  });

  it('reports unreadable entries as warnings and events, and the backup goes on', async () => {
    const warningEvents: RunWarning[] = [];
    cairn.events.on('warning', (w) => { warningEvents.push(w); });
    const { warnings, snapshot } = await cairn.backup({
      repository,
      sources: [memorySource({
        name: 'mem', files: { 'ok.txt': 'fine', 'locked.txt': 'secret', 'vanished.txt': 'gone' }, unreadable: ['locked.txt'], failing: ['vanished.txt'],
      })],
    });
    expect(warnings).toEqual([
      { path: 'mem/locked.txt', message: 'permission denied' },
      { path: 'mem/vanished.txt', message: "cannot read mem/vanished.txt: EACCES: permission denied, open 'vanished.txt'" },
    ]);
    await until(() => warningEvents.length === 2, 'the warning events');
    expect(warningEvents[0]).toMatchObject({ operation: 'backup', path: 'mem/locked.txt', code: 'EACCES' });
    expect(warningEvents[1]).toMatchObject({ operation: 'backup', path: 'mem/vanished.txt', code: 'EACCES' });
    // Both the source's own warning and the unreadable content count; the snapshot is marked incomplete.
    expect(snapshot.summary).toMatchObject({ warnings: 2, complete: false });
    const nodes = await cairn.ls({ repository, snapshot: snapshot.id });
    expect(nodes.map((n) => n.path)).toContain('mem/ok.txt');
    expect(nodes.map((n) => n.path)).not.toContain('mem/locked.txt');
    expect(nodes.map((n) => n.path)).not.toContain('mem/vanished.txt');
  });

  it('a wrong password fails with REPO_WRONG_PASSWORD, through onError', async () => {
    const errors: string[] = [];
    cairn.hooks.onError.tap('collect', (error) => { errors.push((error as { code?: string }).code ?? '?'); });
    await expect(cairn.snapshots({ repository: { ...repository, password: 'wrong' } })).rejects.toMatchObject({ code: 'REPO_WRONG_PASSWORD' });
    expect(errors).toEqual(['REPO_WRONG_PASSWORD']);
  });

  it('changes the password without losing access to the data', async () => {
    await cairn.backup({ repository, sources: [memorySource({ name: 'mem', files: { 'a.txt': 'a' } })] });
    await cairn.changePassword({ repository, newPassword: 'battery staple' });
    await expect(cairn.snapshots({ repository })).rejects.toMatchObject({ code: 'REPO_WRONG_PASSWORD' });
    expect(await cairn.snapshots({ repository: { ...repository, password: 'battery staple' } })).toHaveLength(1);
  });

  it('refuses to initialise a repository twice', async () => {
    await expect(cairn.init({ repository, kdf })).rejects.toMatchObject({ code: 'REPO_EXISTS' });
  });
});
