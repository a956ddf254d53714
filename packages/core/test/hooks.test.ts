import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, TargetError, VetoError, createCairn, createHooks, createLocalExecutor, defineTarget } from '../src/index.js';
import type { Cairn, RunRequestInfo } from '../src/index.js';
import { z } from 'zod';
import { dirTarget, memorySource, tempDir } from './helpers.js';

let dir: { path: string; remove(): Promise<void> };
let cairn: Cairn;
beforeEach(async () => {
  dir = await tempDir();
  cairn = createCairn({ targets: [dirTarget] });
});
afterEach(async () => {
  await cairn.close();
  await dir.remove();
});

/** A target whose connect always fails with a marker, to show which plan reached the run. */
const unreachableTarget = defineTarget({
  name: 'unreachable',
  options: z.object({ marker: z.string() }),
  capabilities: { rangeReads: true, atomicRename: false, maxParallel: 1 },
  location: (o) => `unreachable:${o.marker}`,
  async connect(o) {
    throw new TargetError('TARGET_UNAVAILABLE', `cannot reach ${o.marker}`, { plugin: 'unreachable' });
  },
});

function backupRequest(sources = [memorySource({ name: 'docs', files: { 'a.txt': 'hello' } })]) {
  return { repository: { target: dir.path, password: 'pw' }, sources };
}

describe('createHooks', () => {
  it('returns a frozen object of the eight hooks', () => {
    const hooks = createHooks();
    expect(Object.isFrozen(hooks)).toBe(true);
    expect(Object.keys(hooks).sort()).toEqual(['afterBackup', 'afterRestore', 'beforeBackup', 'beforeDelete', 'beforeRestore', 'onError', 'onProgress', 'veto']);
    expect(() => {
      (hooks as unknown as Record<string, unknown>).veto = null;
    }).toThrow(TypeError);
  });

  it('refuses a tap without a name', () => {
    const hooks = createHooks();
    expect(() => hooks.veto.tap('', () => undefined)).toThrow(/name/i);
    expect(() => hooks.onProgress.tap({ name: '' }, () => {})).toThrow(/name/i);
  });
});

describe('veto', () => {
  it('refuses a run with VetoError naming the tap that bailed, before the target is touched', async () => {
    const seen: RunRequestInfo[] = [];
    cairn.hooks.veto.tap('audit', (info) => {
      seen.push(info);
    });
    cairn.hooks.veto.tapPromise('maintenance-window', async () => 'repository is being migrated');
    cairn.hooks.veto.tap('never-reached', () => 'not me');

    const error = await cairn.backup(backupRequest()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VetoError);
    expect(error).toMatchObject({ code: 'RUN_VETOED', tap: 'maintenance-window', reason: 'repository is being migrated' });
    expect((error as Error).message).toBe('run refused by maintenance-window: repository is being migrated');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ operation: 'backup', repository: dir.path, sources: ['docs'], tags: [] });
    expect(seen[0]!.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('names the right tap for callback-style taps and for concurrent runs', async () => {
    const busy = createCairn({ targets: [dirTarget], executor: createLocalExecutor({ concurrency: 2 }) });
    busy.hooks.veto.tapAsync('only-restores', (info, callback) => {
      setImmediate(() => callback(null, info.operation === 'backup' ? 'backups are paused' : undefined));
    });
    busy.hooks.veto.tap('no-forget', (info) => (info.operation === 'forget' ? 'forget is disabled here' : undefined));
    const [backup, forget] = await Promise.all([
      busy.backup(backupRequest()).catch((e: unknown) => e),
      busy.forget({ repository: { target: dir.path, password: 'pw' }, policy: { keepLast: 1 } }).catch((e: unknown) => e),
    ]);
    await busy.close();
    expect(backup).toMatchObject({ code: 'RUN_VETOED', tap: 'only-restores', reason: 'backups are paused' });
    expect(forget).toMatchObject({ code: 'RUN_VETOED', tap: 'no-forget', reason: 'forget is disabled here' });
  });

  it('says so when a tap bails without a reason', async () => {
    cairn.hooks.veto.tap('terse', () => '');
    await expect(cairn.snapshots({ repository: { target: dir.path, password: 'pw' } })).rejects.toMatchObject({
      code: 'RUN_VETOED', tap: 'terse', reason: 'no reason given',
    });
  });
});

describe('onError', () => {
  it('is called with the error and run info, and the original error is rethrown', async () => {
    const calls: Array<[Error, RunRequestInfo]> = [];
    cairn.hooks.veto.tap('closed', () => 'closed for the night');
    cairn.hooks.onError.tapPromise('notifier', async (error, info) => {
      calls.push([error, info]);
    });
    const error = await cairn.backup(backupRequest()).catch((e: unknown) => e);
    expect(calls).toHaveLength(1);
    expect(calls[0]![0]).toBe(error);
    expect(calls[0]![1]).toMatchObject({ operation: 'backup', sources: ['docs'] });
  });

  it('a failing onError tap does not replace the run error', async () => {
    cairn.hooks.veto.tap('closed', () => 'closed');
    cairn.hooks.onError.tap('broken-notifier', () => {
      throw new Error('smtp down');
    });
    await expect(cairn.backup(backupRequest())).rejects.toBeInstanceOf(VetoError);
  });

  it('hears about invalid requests too', async () => {
    const errors: Error[] = [];
    cairn.hooks.onError.tap('collect', (error) => {
      errors.push(error);
    });
    const a = memorySource({ name: 'same', files: { 'x': '1' } });
    const b = memorySource({ name: 'same', files: { 'y': '2' } });
    const error = await cairn.backup(backupRequest([a, b])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('two sources are named "same": memory (memory:same) and memory (memory:same)');
    expect(errors).toEqual([error]);
  });
});

describe('beforeBackup', () => {
  it('is a waterfall: a tap sees the previous tap\'s plan and the run uses the last one', async () => {
    const seenTags: string[][] = [];
    cairn.hooks.beforeBackup.tap('add-tag', (plan) => ({ ...plan, tags: [...plan.tags, 'nightly'] }));
    cairn.hooks.beforeBackup.tap('redirect', (plan) => {
      seenTags.push(plan.tags);
      return { ...plan, repository: unreachableTarget({ marker: 'elsewhere' }) };
    });
    await expect(cairn.backup(backupRequest())).rejects.toMatchObject({ code: 'TARGET_UNAVAILABLE', message: '[unreachable] cannot reach elsewhere' });
    expect(seenTags).toEqual([['nightly']]);
  });

  it('an amended plan is validated again: an added source with a taken name is refused', async () => {
    cairn.hooks.beforeBackup.tap('add-source', (plan) => ({
      ...plan,
      sources: [...plan.sources, memorySource({ name: 'docs', files: {} })],
    }));
    const error = await cairn.backup(backupRequest()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^beforeBackup: plan\.sources: two sources are named "docs"/);
  });

  it('an amended compression level outside 1…9 is refused', async () => {
    cairn.hooks.beforeBackup.tap('too-much', (plan) => ({ ...plan, compressionLevel: 12 }));
    await expect(cairn.backup(backupRequest())).rejects.toMatchObject({
      code: 'CONFIG_INVALID', message: 'beforeBackup: plan.compressionLevel: expected a whole number from 1 to 9, got 12',
    });
  });
});

describe('beforeRestore', () => {
  it('may redirect the restore; the amended plan is the one that runs', async () => {
    cairn.hooks.beforeRestore.tapPromise('redirect', async (plan) => ({ ...plan, repository: unreachableTarget({ marker: 'mirror' }) }));
    await expect(cairn.restore({ repository: { target: dir.path, password: 'pw' }, snapshot: 'latest', targetDir: dir.path }))
      .rejects.toMatchObject({ code: 'TARGET_UNAVAILABLE', message: '[unreachable] cannot reach mirror' });
  });
});
