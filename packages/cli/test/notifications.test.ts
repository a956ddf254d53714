import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, linkCairnPackages, tempDir } from './helpers.js';

/**
 * Notifications from `cairn run`, configured as a user would, reaching a real HTTP receiver and
 * the real SMTP server of scripts/services.
 */
const smtp = Object.fromEntries(['CAIRN_TEST_SMTP_HOST', 'CAIRN_TEST_SMTP_PORT', 'CAIRN_TEST_SMTP_USER', 'CAIRN_TEST_SMTP_PASSWORD', 'CAIRN_TEST_SMTP_MAILDIR'].map((name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run scripts/services up (vitest reads /tmp/cairn-services/env)`);
  return [name, value];
})) as Record<'CAIRN_TEST_SMTP_HOST' | 'CAIRN_TEST_SMTP_PORT' | 'CAIRN_TEST_SMTP_USER' | 'CAIRN_TEST_SMTP_PASSWORD' | 'CAIRN_TEST_SMTP_MAILDIR', string>;
const SECRET = 'webhook-secret-for-the-cli-test';
let dir: { path: string; cleanup: () => Promise<void> };
let server: Server;
let hookUrl: string;
let answer = 204;
const received: Array<Record<string, unknown>> = [];

beforeEach(async () => {
  dir = await tempDir('cairn-notify-cli-');
  received.length = 0;
  answer = 204;
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      received.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(answer).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/cairn`;
  await linkCairnPackages(dir.path, ['core', 'source-files', 'notifier-webhook', 'notifier-email']);
  await mkdir(join(dir.path, 'data'), { recursive: true });
  await writeFile(join(dir.path, 'data/a.txt'), 'alpha\n');
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await dir.cleanup();
});

async function config(token: string): Promise<void> {
  await writeFile(join(dir.path, 'cairn.config.mjs'), `import { defineConfig } from '@cairn/core';
import { filesSource } from '@cairn/source-files';
import { webhookNotifier } from '@cairn/notifier-webhook';
import { emailNotifier } from '@cairn/notifier-email';
const password = { env: 'CAIRN_PASSWORD' };
export default defineConfig({
  repositories: { main: { url: '${dir.path}/backups', password }, gone: { url: '${dir.path}/gone', password } },
  notifiers: {
    hook: webhookNotifier({ url: '${hookUrl}', secret: '${SECRET}', retries: 1 }),
    mail: emailNotifier({ smtp: 'smtp://${smtp.CAIRN_TEST_SMTP_USER}@${smtp.CAIRN_TEST_SMTP_HOST}:${smtp.CAIRN_TEST_SMTP_PORT}', password: '${smtp.CAIRN_TEST_SMTP_PASSWORD}',
      from: 'cairn@backup.test', to: 'ops+${token}@example.test' }),
  },
  jobs: {
    docs: { sources: [filesSource({ path: '${dir.path}/data' })], repository: 'main', notifications: { on: 'always' } },
    broken: { sources: [filesSource({ path: '${dir.path}/data' })], repository: 'gone' },
  },
});
`);
}

const run = (args: string[]) => cli(args, { env: { CAIRN_PASSWORD: 'notify-cli-password' }, cwd: dir.path });

async function mailWith(token: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    for (const name of (await readdir(smtp.CAIRN_TEST_SMTP_MAILDIR)).filter((n) => n.endsWith('.eml'))) {
      const raw = await readFile(join(smtp.CAIRN_TEST_SMTP_MAILDIR, name), 'utf8');
      if (raw.includes(token)) return raw;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no mail with ${token}`);
}

describe('notifications from cairn run', () => {
  it('reach the webhook and the mailbox after a successful and a failed run; a failing receiver does not fail the run', async () => {
    const token = randomBytes(4).toString('hex');
    await config(token);
    expect((await run(['init', '--repo', join(dir.path, 'backups')])).code).toBe(0);

    const ok = await run(['run', 'docs']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toBe('');
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ version: 1, job: 'docs', status: 'succeeded', operation: 'backup', filesTotal: 1, bytesRead: 6 });
    expect((received[0]!.snapshot as { id: string }).id).toMatch(/^[0-9a-f]{64}$/);
    const mail = await mailWith(`ops+${token}@example.test`);
    expect(mail).toMatch(/Status:\s+succeeded/);
    expect(mail).toMatch(/Job:\s+docs/);

    const failed = await run(['run', 'broken']);
    expect(failed.code).toBe(1);
    expect(received[1]).toMatchObject({ job: 'broken', status: 'failed', error: { code: 'REPO_NOT_FOUND' } });

    answer = 500; // the receiver breaks: the backup still succeeds, with a warning on stderr
    const despite = await run(['run', 'docs']);
    expect(despite.code, despite.stderr).toBe(0);
    expect(despite.stderr).toMatch(/^cairn: warning: could not notify hook \(webhook http:\/\/127\.0\.0\.1:\d+\/cairn\) about job docs: .*answered 500/);
    expect(despite.stderr).not.toContain(smtp.CAIRN_TEST_SMTP_PASSWORD);
    expect(despite.stderr).not.toContain(SECRET);
  });
});
