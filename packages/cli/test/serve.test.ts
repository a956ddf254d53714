import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../src/main.js';
import { cli, expectOneErrorLine, tempDir } from './helpers.js';

/**
 * `cairn serve` without a config: the embedded default (a sample folder, an encrypted local
 * repository, SQLite history) behind the HTTP API, as the README's first command starts it.
 */
let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir('cairn-serve-');
});
afterEach(async () => {
  await dir.cleanup();
});

interface Serving {
  url: string;
  token: string;
  output: () => string;
  stop: () => Promise<number>;
}

/** Starts `cairn serve ARGS` in-process and resolves once it printed its url and token lines. */
async function serve(args: string[], env: NodeJS.ProcessEnv): Promise<Serving> {
  let stdout = '';
  let stderr = '';
  const stop = new AbortController();
  const exited = run(['serve', ...args], {
    stdout: { write: (text: string) => { stdout += text; return true; } },
    stderr: { write: (text: string) => { stderr += text; return true; }, isTTY: false, columns: 100 },
    env, cwd: dir.path, signal: stop.signal,
  });
  const deadline = Date.now() + 30_000;
  while (!/^token: /m.test(stdout)) {
    const early = await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 50))]);
    if (typeof early === 'number') throw new Error(`cairn serve exited ${early}: ${stderr}${stdout}`);
    if (Date.now() > deadline) throw new Error(`cairn serve printed no token: ${stderr}${stdout}`);
  }
  return {
    url: /^url: (\S+)$/m.exec(stdout)![1]!,
    token: /^token: (\S+)$/m.exec(stdout)![1]!,
    output: () => stdout + stderr,
    stop: async () => {
      stop.abort();
      return exited;
    },
  };
}

describe('cairn serve', () => {
  it('serves the embedded default: url and token lines, a backup triggered over the API runs to a snapshot, and state survives a restart', async () => {
    const env = { CAIRN_EMBEDDED_DIR: join(dir.path, 'embedded') };
    const first = await serve(['--port', '0'], env);
    try {
      expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(first.output()).toContain('no config here: serving the embedded default');
      const health = await fetch(new URL('healthz', first.url));
      expect(health.status).toBe(200);
      const closed = await fetch(new URL('api/jobs', first.url));
      expect(closed.status).toBe(401);
      const auth = { authorization: `Bearer ${first.token}` };
      const { jobs } = await (await fetch(new URL('api/jobs', first.url), { headers: auth })).json() as { jobs: Array<{ name: string; type: string }> };
      expect(jobs.map((job) => [job.name, job.type])).toEqual([['files', 'user_data'], ['storage', 'storage']]);

      const trigger = await fetch(new URL('api/trigger-backup', first.url), {
        method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'storage', storage_path: 'documents', description: 'from the test' }),
      });
      expect(trigger.status).toBe(202);
      const { runId } = await trigger.json() as { runId: string };
      const ended = async (id: string): Promise<string> => {
        let status = '';
        for (const deadline = Date.now() + 30_000; Date.now() < deadline && !['succeeded', 'failed', 'aborted'].includes(status);) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          status = ((await (await fetch(new URL(`api/runs/${id}`, first.url), { headers: auth })).json()) as { run: { status: string } }).run.status;
        }
        return status;
      };
      expect(await ended(runId), first.output()).toBe('succeeded');

      // Restores into a folder go inside the state folder's restores/, made owner-only; nowhere else.
      const restoreDir = join(dir.path, 'embedded', 'state', 'restores');
      expect((await stat(restoreDir)).mode & 0o777).toBe(0o700);
      expect(await (await fetch(new URL('api/settings', first.url), { headers: auth })).json()).toEqual({ restoreDir });
      const restore = (body: unknown) => fetch(new URL('api/restores', first.url), { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const started = await restore({ repository: 'local', targetDir: 'from-the-test' });
      expect(started.status).toBe(202);
      const restored = (await started.json()) as { runId: string; targetDir: string };
      expect(restored.targetDir).toBe(join(restoreDir, 'from-the-test'));
      expect(await ended(restored.runId), first.output()).toBe('succeeded');
      expect(existsSync(join(restoreDir, 'from-the-test', 'storage', 'plan.md'))).toBe(true);
      const absolute = await restore({ repository: 'local', targetDir: join(dir.path, 'anywhere') });
      expect(absolute.status).toBe(400);
      expect(((await absolute.json()) as { error: { code: string } }).error.code).toBe('RESTORE_OUTSIDE_FOLDER');

      // Outside the sample: refused before anything runs.
      const outside = await fetch(new URL('api/trigger-backup', first.url), {
        method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'storage', storage_path: '../..' }),
      });
      expect(outside.status).toBe(400);
      expect(((await outside.json()) as { error: { message: string } }).error.message).toContain('leads outside the sample folder');
    } finally {
      expect(await first.stop()).toBe(0);
    }
    expect(first.output()).toMatch(/stopped\n/);

    // The folder holds the sample, the repository, its password (user-only) and the state.
    const embedded = join(dir.path, 'embedded');
    for (const path of ['sample/README.md', 'repository', 'state/state.db', 'state/api-secret']) expect(existsSync(join(embedded, path)), path).toBe(true);
    expect((await stat(join(embedded, 'repository-password'))).mode & 0o777).toBe(0o600);
    const password = (await readFile(join(embedded, 'repository-password'), 'utf8')).trim();
    const snapshots = await cli(['snapshots', '--repo', join(embedded, 'repository'), '--json'], { env: { CAIRN_PASSWORD: password } });
    expect(snapshots.code, snapshots.stderr).toBe(0);
    const listed = JSON.parse(snapshots.stdout) as Array<{ tags: string[]; sources: Array<{ name: string }> }>;
    expect(listed).toHaveLength(1);
    expect(listed[0]!.tags).toContain('job:storage');

    // A restart reuses it all: same secret (the old token still works), same history.
    const second = await serve(['--port', '0'], env);
    try {
      const runs = await fetch(new URL('api/runs?job=storage', second.url), { headers: { authorization: `Bearer ${first.token}` } });
      expect(runs.status).toBe(200);
      const listedRuns = (await runs.json() as { runs: Array<{ status: string; operation: string }> }).runs;
      expect(listedRuns.filter((r) => r.operation === 'backup' && r.status === 'succeeded')).toHaveLength(1);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 120_000);

  it('refuses a busy port and a bad flag with one line', async () => {
    const env = { CAIRN_EMBEDDED_DIR: join(dir.path, 'embedded') };
    const running = await serve(['--port', '0'], env);
    try {
      const port = new URL(running.url).port;
      const busy = await cli(['serve', '--port', port], { env, cwd: dir.path });
      expect(busy.code).toBe(2);
      expect(expectOneErrorLine(busy.stderr)).toBe(`cairn: port ${port} on 127.0.0.1 is in use: pick another with --port`);
    } finally {
      await running.stop();
    }
    const bad = await cli(['serve', '--port', 'eighty'], { env, cwd: dir.path });
    expect(bad.code).toBe(2);
    expectOneErrorLine(bad.stderr);
  }, 60_000);
});
