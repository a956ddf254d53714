import { chmod, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, TargetError } from '@cairn/core';
import type { BlobStore } from '@cairn/core';
import { asUnprivileged, collect, describeTargetConformance, pluginContext } from '@cairn/testkit';
import { localTarget } from '../src/index.js';

describeTargetConformance('local', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-local-conf-'));
  return { target: localTarget({ path: join(dir, 'repo') }), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe('local target', () => {
  let dir: string;
  let store: BlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-local-'));
    store = await localTarget({ path: dir }).connect(pluginContext());
  });
  afterEach(async () => {
    await chmod(dir, 0o700).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('stores objects as plain files under the directory, key segments as folders', async () => {
    await store.put('data/ab/cdef', new Uint8Array([1, 2, 3]));
    expect(await readdir(join(dir, 'data/ab'))).toEqual(['cdef']);
  });

  it('does not list a temporary file left behind by a crashed put', async () => {
    await store.put('data/ab/complete', new Uint8Array([1]));
    await writeFile(join(dir, 'data/ab/killed.tmp-0123456789ab'), 'half written');
    expect(await keysOf(store, '')).toEqual(['data/ab/complete']);
    expect(await store.stat('data/ab/killed')).toBeUndefined();
  });

  it('removes, while listing, temporary files a killed writer left over a day ago, and keeps recent ones', async () => {
    await writeFile(join(dir, 'old.tmp-0123456789ab'), 'from a killed run');
    const twoDaysAgo = (Date.now() - 2 * 86_400_000) / 1000;
    await utimes(join(dir, 'old.tmp-0123456789ab'), twoDaysAgo, twoDaysAgo);
    await writeFile(join(dir, 'new.tmp-0123456789ab'), 'maybe still being written');
    expect(await keysOf(store, '')).toEqual([]);
    expect((await readdir(dir)).sort()).toEqual(['new.tmp-0123456789ab']);
  });

  it('treats a folder of keys as no object', async () => {
    await store.put('data/ab/cdef', new Uint8Array([1]));
    await expect(store.get('data/ab')).rejects.toMatchObject({ code: 'TARGET_NOT_FOUND' });
    expect(await store.stat('data/ab')).toBeUndefined();
  });

  it('refuses keys that look like temporary uploads', async () => {
    await expect(store.put('x.tmp-0123456789ab', new Uint8Array(1))).rejects.toMatchObject({ code: 'TARGET_INVALID_KEY' });
  });

  it('reports TARGET_PERMISSION naming the path when the directory is not writable', async () => {
    await mkdir(join(dir, 'locked'));
    await chmod(join(dir, 'locked'), 0o555);
    const error = await asUnprivileged(dir, () => store.put('locked/key', new Uint8Array([1])).then(() => undefined, (e: unknown) => e));
    expect(error).toBeInstanceOf(TargetError);
    expect((error as TargetError).code).toBe('TARGET_PERMISSION');
    expect((error as TargetError).plugin).toBe('local');
    expect((error as Error).message).toContain(join(dir, 'locked'));
    expect((error as Error).message).not.toContain('\n');
  });

  it('reports TARGET_PERMISSION when an object cannot be read', async () => {
    await store.put('secret', new Uint8Array([1]));
    await chmod(join(dir, 'secret'), 0o000);
    const error = await asUnprivileged(dir, () => store.get('secret').then(() => undefined, (e: unknown) => e));
    expect((error as TargetError).code).toBe('TARGET_PERMISSION');
  });

  it('takes its location from the resolved path', () => {
    expect(localTarget({ path: 'relative/repo' }).location).toBe(resolve('relative/repo'));
  });

  it('parses plain paths and file URLs', () => {
    const parse = (url: string) => localTarget.urls!.parse(url, {});
    expect(parse('/srv/backups')).toEqual({ path: '/srv/backups' });
    expect(parse('some/dir')).toEqual({ path: resolve('some/dir') });
    expect(parse(pathToFileURL('/srv/my backups').href)).toEqual({ path: '/srv/my backups' });
    expect(localTarget.urls!.schemes).toEqual(['file']);
    expect(() => parse('file://remote-host/x')).toThrow(ConfigError);
  });

  it('rejects invalid options with a ConfigError naming the plugin', () => {
    expect(() => localTarget({ path: '' })).toThrow(/\[local\] invalid options: path/);
  });

  it('reads a range without the rest of the object', async () => {
    await store.put('r', new TextEncoder().encode('0123456789'));
    expect((await collect(await store.get('r', { range: { offset: 3, length: 4 } }))).toString()).toBe('3456');
  });
});

async function keysOf(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys.sort();
}

