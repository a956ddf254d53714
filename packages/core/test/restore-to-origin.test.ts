import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, createCairn, defineSource } from '../src/index.js';
import type { Cairn, RestoreMode, SourceEntry } from '../src/index.js';
import { dirTarget, memorySource, tempDir } from './helpers.js';

/** A tiny live system: named key-value stores that a source backs up and restores into. */
const systems = new Map<string, Map<string, string>>();

const kvSource = defineSource({
  name: 'kv',
  options: z.object({ store: z.string().min(1) }),
  capabilities: { incremental: false, restoreModes: ['origin'] },
  urls: { schemes: ['kv'], parse: (url) => ({ store: new URL(url).hostname }) },
  create: (options) => ({
    name: `kv-${options.store}`,
    description: `kv://${options.store}`,
    async *entries() {
      for (const [key, value] of systems.get(options.store) ?? []) {
        const body = Buffer.from(value);
        yield { path: `keys/${key}`, type: 'file', mode: 0o644, mtimeMs: 0, size: body.length, open: async function* () { yield body; } } satisfies SourceEntry;
      }
    },
    async restore(entries, ctx) {
      const store = systems.get(options.store) ?? new Map<string, string>();
      const mode: RestoreMode = ctx.restoreMode ?? 'new';
      if (mode === 'new' && store.size > 0) throw new ConfigError(`kv://${options.store} is not empty`);
      if (mode === 'replace') store.clear();
      let files = 0;
      let dirs = 0;
      for await (const entry of entries) {
        if (entry.type === 'dir') {
          dirs++;
          continue;
        }
        let text = '';
        for await (const part of entry.open()) text += Buffer.from(part).toString();
        store.set(entry.path.replace(/^keys\//, ''), text);
        files++;
      }
      systems.set(options.store, store);
      return { files, dirs, symlinks: 0, bytes: 0 };
    },
  }),
});

const kdf = { N: 1024, r: 8, p: 1 };
let dir: { path: string; remove(): Promise<void> };
let cairn: Cairn;
let repository: { target: string; password: string };
beforeEach(async () => {
  systems.clear();
  dir = await tempDir('cairn-origin-');
  cairn = createCairn({ targets: [dirTarget], sources: [kvSource] });
  repository = { target: join(dir.path, 'repo'), password: 'pw' };
  await cairn.init({ repository, kdf });
});
afterEach(async () => {
  await cairn.close();
  await dir.remove();
});

describe('restore into a live system (mode origin)', () => {
  it('hands the source its own entries, paths relative to its root, and the restore mode', async () => {
    systems.set('prod', new Map([['a', 'one'], ['b', 'two']]));
    const { snapshot } = await cairn.backup({ repository, sources: [cairn.resolveSource('kv://prod')] });
    await cairn.restore({ repository, snapshot: snapshot.id, to: 'kv://copy' });
    expect(Object.fromEntries(systems.get('copy')!)).toEqual({ a: 'one', b: 'two' });

    systems.set('copy', new Map([['a', 'changed'], ['extra', 'x']]));
    await expect(cairn.restore({ repository, snapshot: snapshot.id, to: 'kv://copy' })).rejects.toThrow('kv://copy is not empty');
    await cairn.restore({ repository, snapshot: snapshot.id, to: 'kv://copy', mode: 'merge' });
    expect(Object.fromEntries(systems.get('copy')!)).toEqual({ a: 'one', b: 'two', extra: 'x' });
    await cairn.restore({ repository, snapshot: snapshot.id, to: kvSource({ store: 'copy' }), mode: 'replace' });
    expect(Object.fromEntries(systems.get('copy')!)).toEqual({ a: 'one', b: 'two' });
  });

  it('picks the source by name when a snapshot holds several, and says which exist when it must', async () => {
    systems.set('one', new Map([['k', '1']]));
    systems.set('two', new Map([['k', '2']]));
    const { snapshot } = await cairn.backup({ repository, sources: [kvSource({ store: 'one' }), kvSource({ store: 'two' })] });
    await expect(cairn.restore({ repository, snapshot: snapshot.id, to: 'kv://fresh' })).rejects.toThrow(/holds several sources \(kv-one, kv-two\)/);
    await expect(cairn.restore({ repository, snapshot: snapshot.id, to: 'kv://fresh', source: 'kv-three' })).rejects.toThrow(/no source named "kv-three"/);
    await cairn.restore({ repository, snapshot: snapshot.id, to: 'kv://fresh', source: 'kv-two' });
    expect(Object.fromEntries(systems.get('fresh')!)).toEqual({ k: '2' });
  });

  it('refuses to restore a source through another plugin, or through one without origin restores', async () => {
    const { snapshot } = await cairn.backup({ repository, sources: [memorySource({ name: 'mem', files: { 'a.txt': 'x' } })] });
    await expect(cairn.restore({ repository, snapshot: snapshot.id, to: 'kv://x' })).rejects.toThrow(/made by the memory plugin; it cannot be restored through the kv plugin/);
    await expect(cairn.restore({ repository, snapshot: snapshot.id, to: memorySource({ name: 'mem', files: {} }) })).rejects.toThrow(/restores only into a directory/);
  });

  it('refuses requests that do not name exactly one destination, or mix directory and system options', async () => {
    const { snapshot } = await cairn.backup({ repository, sources: [memorySource({ name: 'mem', files: { 'a.txt': 'x' } })] });
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{}, /exactly one of targetDir/],
      [{ targetDir: dir.path, to: 'kv://x' }, /exactly one of targetDir/],
      [{ targetDir: dir.path, mode: 'merge' }, /mode applies to a restore into a system/],
      [{ to: 'kv://x', mode: 'overwrite' }, /mode must be one of new, merge, replace/],
      [{ to: 'kv://x', include: ['a'] }, /include applies to a restore into a directory/],
      [{ to: 'nope://x' }, /unknown source URL scheme "nope"/],
    ];
    for (const [fields, message] of bad) {
      const error = await cairn.restore({ repository, snapshot: snapshot.id, ...fields } as never).catch((e: unknown) => e);
      expect(error, JSON.stringify(fields)).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('restores one source of a snapshot into a directory by name', async () => {
    const { snapshot } = await cairn.backup({
      repository,
      sources: [memorySource({ name: 'left', files: { 'l.txt': 'L' } }), memorySource({ name: 'right', files: { 'r.txt': 'R' } })],
    });
    const result = await cairn.restore({ repository, snapshot: snapshot.id, targetDir: join(dir.path, 'out'), source: 'right' });
    expect(result.files).toBe(1);
  });
});
