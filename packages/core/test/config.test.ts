import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, createLocalExecutor, defineConfig, loadConfig, resolvePassword } from '../src/index.js';
import type { CairnConfigInput } from '../src/index.js';
import { dirTarget, memorySource, tempDir } from './helpers.js';

let dir: { path: string; remove(): Promise<void> };
beforeEach(async () => {
  dir = await tempDir('cairn-config-');
});
afterEach(async () => {
  await dir.remove();
});

function problemsOf(attempt: () => unknown): string[] {
  try {
    attempt();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('CONFIG_INVALID');
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const docs = memorySource({ name: 'docs', files: { 'a.txt': 'a' } });

describe('defineConfig', () => {
  it('accepts a valid config and returns it frozen, with instances kept as they are', () => {
    const executor = createLocalExecutor({ concurrency: 2 });
    const config = defineConfig({
      repositories: { main: { url: './backups', password: { env: 'CAIRN_PASSWORD' }, compressionLevel: 3 } },
      jobs: {
        docs: {
          sources: [docs], repository: 'main', tags: ['daily'], schedule: '0 3 * * *',
          retention: { keepLast: 3, keepDaily: 7, keepWithin: '1y6m' }, compressionLevel: 9, environments: ['prod'],
        },
      },
      executor,
      targets: [dirTarget],
      plugins: [{ name: 'noop', apply() {} }],
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect((config.jobs.docs!.sources as unknown[])[0]).toBe(docs);
    expect(config.executor).toBe(executor);
    expect(config.repositories.main!.password).toEqual({ env: 'CAIRN_PASSWORD' });
  });

  it('defaults repositories, jobs and notifiers to empty', () => {
    expect(defineConfig({})).toEqual({ repositories: {}, jobs: {}, notifiers: {} });
  });

  it('reports every problem at once, one line each, naming the key path', () => {
    const problems = problemsOf(() => defineConfig({
      repositories: {
        main: { url: '', password: { env: 'X' } },
        spare: { url: '/spare', password: { envv: 'X' } as never, compressionLevel: 12 },
      },
      jobs: {
        docs: { sources: [docs, { name: 'fake' } as never], repository: 'nope', retention: { keepWithin: 'forever', keepLast: -1 } },
        twice: { sources: [docs, memorySource({ name: 'docs', files: {} })], repository: 'main' },
        'bad name': { sources: [docs], repository: 'main' },
        empty: { sources: [], repository: 'main' },
      },
      executor: { kind: 'nope' } as never,
      repositorys: {},
    } as CairnConfigInput));
    expect(problems).toEqual(expect.arrayContaining([
      'repositories.main.url: expected a path or URL',
      'repositories.spare.password: expected a password: a string, { env: "VARIABLE" } or { file: "/path/to/file" }',
      'repositories.spare.compressionLevel: expected a compression level from 1 to 9',
      'jobs.docs.sources[1]: expected a source: call a source factory, e.g. filesSource({ path: "/data" })',
      'jobs.docs.retention.keepWithin: expected a duration such as "30d", "12h", "2w" or "1y6m"',
      'jobs.docs.retention.keepLast: Too small: expected number to be >=0',
      'jobs.docs.repository: unknown repository "nope" (defined: main, spare)',
      'jobs.twice.sources[1]: source name "docs" is also used by jobs.twice.sources[0]; give each source a distinct name',
      'jobs.bad name (key): names use letters, digits, ".", "_" and "-", starting with a letter or digit',
      'jobs.empty.sources: a job needs at least one source',
      'executor: expected an executor: call an executor factory, e.g. localExecutor({ concurrency: 2 })',
      '(config): Unrecognized key: "repositorys"',
    ]));
    expect(problems).toHaveLength(12);
  });

  it('puts the problem count and every line in the message', () => {
    try {
      defineConfig({ repositories: {}, jobs: { a: { sources: [docs], repository: 'x' } } });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toBe('invalid config (1 problem): jobs.a.repository: unknown repository "x" (defined: none)');
    }
  });
});

describe('resolvePassword', () => {
  it('returns a literal password', () => {
    expect(resolvePassword('correct horse')).toBe('correct horse');
  });

  it('reads an environment variable, and names it (never its value) when unset or empty', () => {
    expect(resolvePassword({ env: 'PW' }, { PW: 's3cret' })).toBe('s3cret');
    expect(() => resolvePassword({ env: 'PW' }, {})).toThrow(new ConfigError('environment variable PW is not set: set it to the repository password'));
    expect(() => resolvePassword({ env: 'PW' }, { PW: '' })).toThrow(/environment variable PW is empty/);
  });

  it('reads a password file without its trailing newline', async () => {
    const file = join(dir.path, 'pw');
    await writeFile(file, 'line one\n');
    expect(resolvePassword({ file })).toBe('line one');
    await writeFile(file, ' spaced \r\n');
    expect(resolvePassword({ file })).toBe(' spaced ');
  });

  it('names a missing, empty or unreadable password file', async () => {
    const missing = join(dir.path, 'missing');
    expect(() => resolvePassword({ file: missing })).toThrow(`password file ${missing} does not exist`);
    const empty = join(dir.path, 'empty');
    await writeFile(empty, '\n');
    expect(() => resolvePassword({ file: empty })).toThrow(`password file ${empty} is empty`);
    if (process.getuid?.() !== 0) {
      const locked = join(dir.path, 'locked');
      await writeFile(locked, 'topsecret');
      await chmod(locked, 0o000);
      let message = '';
      try {
        resolvePassword({ file: locked });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toBe(`password file ${locked} is not readable`);
      expect(message).not.toContain('topsecret');
    }
  });
});

describe('loadConfig', () => {
  it('imports an .mjs config and validates its default export', async () => {
    const file = join(dir.path, 'cairn.config.mjs');
    await writeFile(file, `export default { repositories: { main: { url: './r', password: { env: 'P' } } } };\n`);
    const config = await loadConfig(file);
    expect(config.repositories.main).toEqual({ url: './r', password: { env: 'P' } });
  });

  it('imports a .ts config', async () => {
    const file = join(dir.path, 'cairn.config.ts');
    await writeFile(file, `const level: number = 4;\nexport default { repositories: { main: { url: '/r', password: 'x', compressionLevel: level } } };\n`);
    const config = await loadConfig(file);
    expect(config.repositories.main!.compressionLevel).toBe(4);
  });

  it('reports an invalid config with its problems', async () => {
    const file = join(dir.path, 'bad.mjs');
    await writeFile(file, `export default { jobs: { a: { sources: [], repository: 'x' } } };\n`);
    await expect(loadConfig(file)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      problems: ['jobs.a.sources: a job needs at least one source', 'jobs.a.repository: unknown repository "x" (defined: none)'],
    });
  });

  it('says what is wrong with the file itself', async () => {
    await expect(loadConfig(join(dir.path, 'nope.mjs'))).rejects.toThrow(/^config file not found: /);
    const noDefault = join(dir.path, 'named.mjs');
    await writeFile(noDefault, 'export const config = {};\n');
    await expect(loadConfig(noDefault)).rejects.toThrow(/has no default export: end it with export default defineConfig/);
    const broken = join(dir.path, 'broken.mjs');
    await writeFile(broken, 'export default {\n');
    await expect(loadConfig(broken)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^could not load config file .*broken\.mjs: /) });
    const json = join(dir.path, 'cairn.json');
    await writeFile(json, '{}');
    await expect(loadConfig(json)).rejects.toThrow(/must be a \.mjs, \.js or \.ts module/);
  });
});
