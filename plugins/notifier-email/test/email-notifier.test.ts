import { randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CairnError, ConfigError } from '@cairn/core';
import type { RunNotification } from '@cairn/core';
import { pluginContext, requireEnv } from '@cairn/testkit';
import { emailNotifier } from '../src/index.js';
import type { EmailNotifierOptions } from '../src/index.js';
import { unusedPort } from '@cairn/testkit';

const env = requireEnv('CAIRN_TEST_SMTP_HOST', 'CAIRN_TEST_SMTP_PORT', 'CAIRN_TEST_SMTP_USER', 'CAIRN_TEST_SMTP_PASSWORD', 'CAIRN_TEST_SMTP_MAILDIR');
const smtp = `smtp://${env.CAIRN_TEST_SMTP_USER}@${env.CAIRN_TEST_SMTP_HOST}:${env.CAIRN_TEST_SMTP_PORT}`;
const options = (extra: Partial<EmailNotifierOptions> = {}): EmailNotifierOptions => ({
  smtp, password: env.CAIRN_TEST_SMTP_PASSWORD, from: 'cairn@backup.test', to: ['ops@example.test', 'ann@example.test'], ...extra,
});

const base: RunNotification = {
  runId: 'run-42', operation: 'backup', job: 'docs', environment: 'production', status: 'succeeded', requestedBy: 'schedule:docs',
  startedAt: '2026-11-22T10:00:00.000Z', endedAt: '2026-11-22T10:02:05.000Z', durationMs: 125_000, repository: 's3://minio.test/backups',
  snapshot: { id: 'ab'.repeat(32), time: '2026-11-22T10:02:04.000Z' }, bytesRead: 1.5 * 2 ** 30, bytesAdded: 40 * 2 ** 20, filesTotal: 8210, warnings: 0,
};

/** Finds the message whose subject holds `token`, waiting for the sink to write it. */
async function received(token: string): Promise<{ headers: Record<string, string>; text: string; raw: string }> {
  for (let i = 0; i < 100; i++) {
    for (const name of (await readdir(env.CAIRN_TEST_SMTP_MAILDIR)).filter((n) => n.endsWith('.eml'))) {
      const raw = await readFile(join(env.CAIRN_TEST_SMTP_MAILDIR, name), 'utf8');
      const parsed = parseMail(raw);
      if (parsed.headers.subject?.includes(token)) return { ...parsed, raw };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no message with ${token} arrived`);
}

/** Just enough MIME: unfolded, decoded headers, and the text/plain part decoded. */
function parseMail(raw: string): { headers: Record<string, string>; text: string } {
  const [head = '', ...rest] = raw.split(/\r?\n\r?\n/);
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0) headers[line.slice(0, at).toLowerCase()] = decodeWords(line.slice(at + 1).trim());
  }
  const body = rest.join('\n\n');
  const part = /Content-Type: text\/plain[^]*?Content-Transfer-Encoding: ([\w-]+)\r?\n\r?\n([^]*?)\r?\n--/i.exec(body);
  if (!part) return { headers, text: body };
  const [, encoding, content] = part as unknown as [string, string, string];
  const text = encoding.toLowerCase() === 'base64' ? Buffer.from(content, 'base64').toString('utf8')
    : encoding.toLowerCase() === 'quoted-printable' ? quotedPrintable(content) : content;
  return { headers, text };
}

function decodeWords(value: string): string {
  return value.replace(/=\?utf-8\?([BQ])\?([^?]*)\?=\s*/gi, (_m, kind: string, data: string) =>
    kind.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : quotedPrintable(data.replace(/_/g, ' ')));
}

function quotedPrintable(text: string): string {
  const bytes = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => `%${hex}`);
  return decodeURIComponent(bytes.replace(/%(?![0-9A-F]{2})/gi, '%25'));
}


describe('emailNotifier, against a real SMTP server (STARTTLS, login)', () => {
  it('sends a success summary a person can act on, in plain text and HTML', async () => {
    const token = randomBytes(4).toString('hex');
    await emailNotifier(options({ subjectPrefix: `[cairn ${token}]` })).notify(base, pluginContext());
    const mail = await received(token);
    expect(mail.headers.subject).toBe(`[cairn ${token}] ✔ job docs (production) succeeded — 1.5 GiB read, 40.0 MiB added`);
    expect(mail.headers.from).toBe('cairn@backup.test');
    expect(mail.headers.to).toBe('ops@example.test, ann@example.test');
    for (const line of ['Job:', 'docs', 'Environment:', 'production', 'Duration:', '2 min 5 s', 'Added to the repository:', '40.0 MiB', `Snapshot:`, base.snapshot!.id, 'Requested by:', 'schedule:docs', 'cairn logs run-42']) {
      expect(mail.text).toContain(line);
    }
    expect(mail.raw).toMatch(/Content-Type: text\/html/i);
  });

  it('puts the error code and message of a failed run in the subject and the body', async () => {
    const token = randomBytes(4).toString('hex');
    const failed: RunNotification = { ...base, status: 'failed', error: { code: 'TARGET_UNAVAILABLE', message: 'cannot connect to minio.test:443' } };
    delete (failed as Partial<RunNotification>).snapshot;
    await emailNotifier(options({ subjectPrefix: token })).notify(failed, pluginContext());
    const mail = await received(token);
    expect(mail.headers.subject).toBe(`${token} ✖ job docs (production) failed — TARGET_UNAVAILABLE: cannot connect to minio.test:443`);
    expect(mail.text).toMatch(/Error:\s+TARGET_UNAVAILABLE: cannot connect to minio\.test:443/);
  });

  it('reports a wrong password as a coded error without the password, and does not retry it', async () => {
    const wrong = 'the-wrong-smtp-password';
    const started = performance.now();
    const error = await emailNotifier(options({ password: wrong })).notify(base, pluginContext()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CairnError);
    expect((error as CairnError).code).toBe('NOTIFY_FAILED');
    expect((error as Error).message).toContain(`the mail server ${env.CAIRN_TEST_SMTP_HOST}:${env.CAIRN_TEST_SMTP_PORT} refused the login as "${env.CAIRN_TEST_SMTP_USER}" (535`);
    expect((error as Error).message).not.toContain(wrong);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('fails within seconds, after its retries, when the server is down', async () => {
    const started = performance.now();
    const error = await emailNotifier({ ...options({ retries: 2, timeoutMs: 2000 }), smtp: `smtp://u@127.0.0.1:${await unusedPort()}` }).notify(base, pluginContext()).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/cannot reach the mail server 127\.0\.0\.1:\d+ \(.*ECONNREFUSED/);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('gives up a send at once when its caller aborts', async () => {
    const silent = createServer(() => undefined); // accepts, never greets
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as { port: number };
      const controller = new AbortController();
      const started = performance.now();
      const sending = emailNotifier({ ...options({ timeoutMs: 60_000 }), smtp: `smtp://u@127.0.0.1:${port}` }).notify(base, pluginContext(controller.signal));
      setTimeout(() => controller.abort(new Error('deadline')), 200);
      await expect(sending).rejects.toThrow(`[email] sending through 127.0.0.1:${port} given up (Error: deadline)`);
      expect(performance.now() - started).toBeLessThan(10_000);
    } finally {
      silent.close();
    }
  });

  it('checks the server certificate by its name', async () => {
    const error = await emailNotifier({ ...options(), smtp: `smtp://${env.CAIRN_TEST_SMTP_USER}@localhost:${env.CAIRN_TEST_SMTP_PORT}` }).notify(base, pluginContext()).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/the certificate of the mail server localhost:\d+ is not trusted/);
  });

  it('takes the server as fields and the password from an environment variable', async () => {
    const token = randomBytes(4).toString('hex');
    const variable = `CAIRN_TEST_SMTP_PASSWORD_${token.toUpperCase()}`;
    const fields = { host: env.CAIRN_TEST_SMTP_HOST, port: Number(env.CAIRN_TEST_SMTP_PORT), user: env.CAIRN_TEST_SMTP_USER };
    const notifier = emailNotifier({ ...options({ subjectPrefix: token }), smtp: fields, password: { env: variable } });
    expect(notifier.description).toBe(`email to ops@example.test, ann@example.test via ${smtp}`);
    const missing = await notifier.notify(base, pluginContext()).catch((e: unknown) => e);
    expect((missing as CairnError).code).toBe('NOTIFY_FAILED');
    expect((missing as Error).message).toBe(`[email] environment variable ${variable} is not set: set it to the SMTP password, or give password in the notifier's options`);
    process.env[variable] = env.CAIRN_TEST_SMTP_PASSWORD;
    try {
      await notifier.notify(base, pluginContext());
    } finally {
      delete process.env[variable];
    }
    expect((await received(token)).headers.subject).toContain('✔ job docs (production) succeeded');
  });

  it('does not log in over a connection the server will not encrypt, and says why', async () => {
    // A plain SMTP server without STARTTLS: the login must not be sent in the clear.
    const lines: string[] = [];
    const plain = createServer((socket) => {
      let buffer = '';
      socket.write('220 plain.test ESMTP\r\n');
      socket.on('data', (data: Buffer) => {
        buffer += data.toString('utf8');
        for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
          const line = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          lines.push(line);
          if (/^EHLO/i.test(line)) socket.write('250-plain.test\r\n250 AUTH PLAIN LOGIN\r\n');
          else if (/^QUIT/i.test(line)) socket.end('221 bye\r\n');
          else socket.write('502 5.5.1 not implemented\r\n');
        }
      });
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = plain.address() as { port: number };
      const error = await emailNotifier({ ...options(), smtp: `smtp://${env.CAIRN_TEST_SMTP_USER}@127.0.0.1:${port}` }).notify(base, pluginContext()).catch((e: unknown) => e);
      expect((error as CairnError).code).toBe('NOTIFY_FAILED');
      expect((error as Error).message).toContain(`the mail server 127.0.0.1:${port} does not offer STARTTLS (502 5.5.1 not implemented), and requireTls is on`);
      expect(lines.some((line) => /^AUTH/i.test(line))).toBe(false);
    } finally {
      await new Promise((resolve) => plain.close(resolve));
    }
  });

  it('describes itself without the password and rejects bad options', () => {
    const notifier = emailNotifier(options());
    expect(notifier.description).toBe(`email to ops@example.test, ann@example.test via ${smtp}`);
    expect(notifier.description).not.toContain(env.CAIRN_TEST_SMTP_PASSWORD);
    expect(() => emailNotifier({ ...options(), to: 'not an address' })).toThrow(ConfigError);
    expect(() => emailNotifier({ ...options(), smtp: 'http://mail.test' })).toThrow(/smtp: expected smtp:\/\//);
  });
});
