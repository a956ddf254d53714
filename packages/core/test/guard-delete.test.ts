import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CairnError, ConfigError, createCairn, deletedTags } from '../src/index.js';
import type { Cairn } from '../src/index.js';
import { dirTarget, memorySource, tempDir } from './helpers.js';

const kdf = { N: 1024, r: 8, p: 1 };
let dir: { path: string; remove(): Promise<void> };
let cairn: Cairn;
let repository: { target: string; password: string };
/** The host app's data: projects by id, each a few files. */
let projects: Map<string, Record<string, string>>;

beforeEach(async () => {
  dir = await tempDir('cairn-guard-');
  cairn = createCairn({ targets: [dirTarget] });
  repository = { target: join(dir.path, 'repo'), password: 'guard-password' };
  await cairn.init({ repository, kdf });
  projects = new Map<string, Record<string, string>>([
    ['42', { 'project.json': '{"name":"Apollo"}', 'notes/a.txt': 'first note' }],
    ['43', { 'project.json': '{"name":"Gemini"}' }],
  ]);
  // What the app taps once: how to back up a project, given its id.
  cairn.hooks.beforeDelete.for('project').tapPromise('projects', async (plan) => ({
    ...plan,
    sources: [...plan.sources, memorySource({ name: 'project', files: projects.get(plan.id) ?? {} })],
  }));
});
afterEach(async () => {
  await cairn.close();
  await dir.remove();
});

describe('guardDelete', () => {
  it('backs the item up, then deletes it; the snapshot is tagged with kind and id and restores the item', async () => {
    const result = await cairn.guardDelete({ kind: 'project', id: '42', repository, requestedBy: 'app:ann' }, (snapshot) => {
      expect(snapshot.tags).toEqual(deletedTags('project', '42'));
      projects.delete('42');
      return 'gone';
    });
    expect(result.deleted).toBe('gone');
    expect(projects.has('42')).toBe(false);

    const found = await cairn.findDeleted({ repository, kind: 'project', id: '42' });
    expect(found.map((s) => s.id)).toEqual([result.snapshot.id]);
    expect(await cairn.findDeleted({ repository, kind: 'project', id: '43' })).toEqual([]);
    const listing = await cairn.ls({ repository, snapshot: found[0]!.id });
    expect(listing.filter((e) => e.type === 'file').map((e) => e.path).sort()).toEqual(['project/notes/a.txt', 'project/project.json']);
  });

  it('does not delete when the backup fails, and says why', async () => {
    let deleted = false;
    const error = await cairn.guardDelete({ kind: 'project', id: '42', repository: { ...repository, password: 'wrong' } }, () => {
      deleted = true;
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CairnError);
    expect((error as CairnError).code).toBe('DELETE_NOT_GUARDED');
    expect((error as Error).message).toMatch(/^project 42 was not deleted: its backup failed \(/);
    expect(deleted).toBe(false);
  });

  it('does not delete when the backup is incomplete', async () => {
    let deleted = false;
    const error = await cairn.guardDelete({ kind: 'report', id: 'q3', repository, sources: [memorySource({ name: 'report', files: { 'ok.txt': 'ok', 'locked.txt': 'x' }, failing: ['locked.txt'] })] }, () => {
      deleted = true;
    }).catch((e: unknown) => e);
    expect((error as CairnError).code).toBe('DELETE_NOT_GUARDED');
    expect((error as Error).message).toMatch(/^report q3 was not deleted: its backup skipped 1 entry \(first: report\/locked\.txt: .*permission denied.*\); snapshot [0-9a-f]{8} is incomplete$/);
    expect(deleted).toBe(false);
  });

  it('refuses an item with nothing to back up, a bad kind or id, before any backup', async () => {
    await expect(cairn.guardDelete({ kind: 'invoice', id: '7', repository }, () => undefined)).rejects.toThrow(
      "guardDelete: nothing to back up for invoice 7: pass sources, or tap cairn.hooks.beforeDelete.for('invoice') to name them",
    );
    await expect(cairn.guardDelete({ kind: 'pro ject', id: '7', repository }, () => undefined)).rejects.toThrow(ConfigError);
    await expect(cairn.guardDelete({ kind: 'project', id: '', repository }, () => undefined)).rejects.toThrow(ConfigError);
    expect(await cairn.snapshots({ repository })).toEqual([]);
  });

  it('keeps the snapshot when the delete itself fails, and rethrows its error', async () => {
    await expect(cairn.guardDelete({ kind: 'project', id: '43', repository }, () => {
      throw new Error('database is read-only');
    })).rejects.toThrow('database is read-only');
    expect(projects.has('43')).toBe(true);
    expect(await cairn.findDeleted({ repository, kind: 'project', id: '43' })).toHaveLength(1);
  });

  it('expires the recycle bin of its kind by its own retention, leaving other snapshots alone', async () => {
    const routine = await cairn.backup({ repository, sources: [memorySource({ name: 'project', files: { 'x.txt': 'routine' } })], tags: ['nightly'] });
    for (const id of ['1', '2', '3']) {
      projects.set(id, { 'project.json': `{"id":${id}}` });
      await cairn.guardDelete({ kind: 'project', id, repository, retention: { keepLast: 2 } }, () => projects.delete(id));
    }
    const bin = await cairn.findDeleted({ repository, kind: 'project' });
    expect(bin.map((s) => s.tags.find((t) => /^deleted:project:/.test(t)))).toEqual(['deleted:project:3', 'deleted:project:2']);
    expect((await cairn.snapshots({ repository })).map((s) => s.id)).toContain(routine.snapshot.id);
  });
});
