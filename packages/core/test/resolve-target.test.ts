import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, createCairn, defineTarget, redact } from '../src/index.js';
import type { RunRequestInfo } from '../src/index.js';
import { dirTarget, memorySource, tempDir } from './helpers.js';

/** A target whose URLs carry credentials, and whose location (wrongly) keeps them: core must still redact. */
const leakyTarget = defineTarget({
  name: 'leaky',
  options: z.object({ url: z.string() }),
  capabilities: { rangeReads: true, atomicRename: false, maxParallel: 1 },
  urls: {
    schemes: ['leaky'],
    parse: (url) => {
      if (url.includes('bad-port')) throw new Error(`cannot parse ${url}`);
      return { url };
    },
  },
  location: (o) => o.url,
  async connect() {
    throw new Error('not reached');
  },
});

describe('target capabilities', () => {
  it('refuses, before connecting, a target that cannot read byte ranges', async () => {
    let connected = false;
    const wholeObjectsOnly = defineTarget({
      name: 'whole',
      options: z.object({}),
      capabilities: { rangeReads: false, atomicRename: true, maxParallel: 1 },
      location: () => 'whole://',
      async connect() {
        connected = true;
        throw new Error('not reached');
      },
    });
    const cairn = createCairn();
    const error = await cairn.snapshots({ repository: { target: wholeObjectsOnly({}), password: 'x' } }).catch((e: unknown) => e);
    await cairn.close();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('does not declare range reads');
    expect(connected).toBe(false);
  });
});

describe('resolveTarget', () => {
  it('turns a plain path into a file:// URL for the target serving `file`', () => {
    const cairn = createCairn({ targets: [dirTarget] });
    const target = cairn.resolveTarget('relative/repo');
    expect(target.plugin).toBe('testdir');
    expect(target.location).toBe(join(process.cwd(), 'relative/repo'));
    expect(cairn.resolveTarget(pathToFileURL('/srv/backups').href).location).toBe('/srv/backups');
    expect(cairn.resolveTarget('TESTDIR://host/srv/x').location).toBe('/srv/x');
  });

  it('names the registered schemes for an unknown one, without the URL\'s credentials', () => {
    const cairn = createCairn({ targets: [dirTarget, leakyTarget] });
    const attempt = () => cairn.resolveTarget('sftp://ann:hunter2@example.org/backups');
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow('unknown repository URL scheme "sftp": registered: file, leaky, testdir');
  });

  it('asks for a file target when a plain path has none', () => {
    const cairn = createCairn({ targets: [leakyTarget] });
    expect(() => cairn.resolveTarget('/srv/backups')).toThrow(/no target plugin serves local paths \(scheme "file"\); register one/);
    expect(() => createCairn().resolveTarget('/x')).toThrow(/registered: none/);
  });

  it('wraps a URL parse failure in a ConfigError with the password redacted', () => {
    const cairn = createCairn({ targets: [leakyTarget] });
    let error: unknown;
    try {
      cairn.resolveTarget('leaky://ann:hunter2@host:bad-port/x');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe('[leaky] invalid repository URL leaky://ann:***@host:bad-port/x: cannot parse leaky://ann:***@host:bad-port/x');
  });

  it('refuses two targets serving the same scheme', () => {
    const other = defineTarget({ ...{ name: 'other', options: z.object({}), capabilities: { rangeReads: true, atomicRename: false, maxParallel: 1 } }, urls: { schemes: ['file'], parse: () => ({}) }, location: () => 'x', connect: async () => { throw new Error('no'); } });
    expect(() => createCairn({ targets: [dirTarget, other] })).toThrow('targets: URL scheme "file" is served by both "testdir" and "other"; register only one of them');
  });

  it('keeps credentials out of run info, logs and errors', async () => {
    const lines: string[] = [];
    const log = (message: string, fields?: Record<string, unknown>) => lines.push(message + JSON.stringify(fields ?? {}));
    const cairn = createCairn({ targets: [leakyTarget], logger: { debug: log, info: log, warn: log, error: log } });
    const infos: RunRequestInfo[] = [];
    cairn.hooks.veto.tap('spy', (info) => {
      infos.push(info);
    });
    cairn.hooks.onError.tap('spy', (_error, info) => {
      infos.push(info);
    });
    const error = await cairn.snapshots({ repository: { target: 'leaky://ann:hunter2@host/x?token=abc', password: 'repo-secret' } }).catch((e: unknown) => e);
    await cairn.close();
    expect((error as Error).message).toBe('not reached');
    expect(infos.map((i) => i.repository)).toEqual(['leaky://ann:***@host/x?token=***', 'leaky://ann:***@host/x?token=***']);
    expect(lines.join('\n')).not.toMatch(/hunter2|abc|repo-secret/);
  });
});

describe('redact', () => {
  it.each([
    ['sftp://ann:s3cret@host:22/backups', 'sftp://ann:***@host:22/backups'],
    ['s3+http://KEY:SECRET/with+chars@minio:9000/bucket', 's3+http://KEY:***@minio:9000/bucket'],
    ['s3://bucket/path?secretAccessKey=xyz&region=eu', 's3://bucket/path?secretAccessKey=***&region=eu'],
    ['/plain/path', '/plain/path'],
    ['sftp://ann@host/x', 'sftp://ann@host/x'],
  ])('%s → %s', (input, expected) => {
    expect(redact(input)).toBe(expected);
  });
});

describe('orchestrator requests', () => {
  it('registers plugins once and hands them the orchestrator', () => {
    const applied: unknown[] = [];
    const plugin = { name: 'audit', apply: (c: unknown) => applied.push(c) };
    const cairn = createCairn({ plugins: [plugin] });
    expect(applied).toEqual([cairn]);
    expect(() => cairn.use(plugin)).toThrow('plugins: a plugin named "audit" is already registered; register it once');
    expect(() => cairn.use({ name: 'x' } as never)).toThrow('plugins: expected { name, apply(cairn) }');
    expect(Object.isFrozen(cairn)).toBe(true);
  });

  it('refuses an empty retention policy, which would forget everything', async () => {
    const dir = await tempDir();
    const cairn = createCairn({ targets: [dirTarget] });
    await expect(cairn.forget({ repository: { target: dir.path, password: 'pw' }, policy: {} })).rejects.toThrow(
      'forget: the policy keeps nothing; give at least one keep rule (keepLast, keepDaily, keepWithin…)',
    );
    await expect(cairn.forget({ repository: { target: dir.path, password: 'pw' }, policy: { keepLast: -2 } })).rejects.toMatchObject({
      code: 'CONFIG_INVALID', problems: ['policy.keepLast: Too small: expected number to be >=0'],
    });
    await cairn.close();
    await dir.remove();
  });

  it('rejects requests that cannot run with a ConfigError', async () => {
    const dir = await tempDir();
    const cairn = createCairn({ targets: [dirTarget] });
    const repository = { target: dir.path, password: 'pw' };
    await expect(cairn.backup({ repository, sources: [] })).rejects.toThrow('backup: give at least one source');
    await expect(cairn.backup({ repository: { target: dir.path, password: '' }, sources: [memorySource({ name: 'a', files: {} })] }))
      .rejects.toThrow('repository: the password is empty; set CAIRN_PASSWORD or use a password file');
    await expect(cairn.init({ repository, compressionLevel: 0 })).rejects.toThrow('compressionLevel: expected a whole number from 1 to 9, got 0');
    await expect(cairn.restore({ repository, snapshot: '', targetDir: dir.path })).rejects.toThrow('snapshot: expected "latest", a snapshot id or an id prefix');
    await expect(cairn.restore({ repository, snapshot: 'latest', targetDir: dir.path, at: new Date('nonsense') })).rejects.toThrow('restore: at must be a valid Date');
    await expect(cairn.changePassword({ repository, newPassword: '' })).rejects.toThrow('changePassword: the new password is empty');
    await cairn.close();
    await dir.remove();
  });

  it('an already-aborted signal stops a backup before it starts', async () => {
    const dir = await tempDir();
    const cairn = createCairn({ targets: [dirTarget] });
    let vetoAsked = false;
    cairn.hooks.veto.tap('spy', () => {
      vetoAsked = true;
    });
    await expect(cairn.backup({
      repository: { target: dir.path, password: 'pw' },
      sources: [memorySource({ name: 'a', files: {} })],
      signal: AbortSignal.abort(),
    })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(vetoAsked).toBe(false);
    await cairn.close();
    await dir.remove();
  });
});
