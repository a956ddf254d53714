import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { CairnError, ConfigError } from '@cairn/core';
import type { RunNotification } from '@cairn/core';
import { pluginContext } from '@cairn/testkit';
import { webhookNotifier, webhookSignature } from '../src/index.js';

interface Received { headers: IncomingMessage['headers']; body: string }

/** A real HTTP receiver; `answer` decides each response in turn. */
async function receiver(answer: (n: number, res: ServerResponse) => void): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      answer(received.length, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const address = server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}/hooks/cairn?token=s3cret-token`, received, server };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const notification: RunNotification = {
  runId: 'run-1', operation: 'backup', job: 'docs', environment: 'production', status: 'failed', requestedBy: 'schedule:docs',
  startedAt: '2026-11-22T10:00:00.000Z', endedAt: '2026-11-22T10:00:05.000Z', durationMs: 5000, repository: 'sftp://backup@host/srv',
  error: { code: 'TARGET_UNAVAILABLE', message: 'cannot connect to host:22' },
};
const SECRET = 'a-shared-secret-of-some-length';
const ok = (_n: number, res: ServerResponse) => res.writeHead(204).end();

describe('webhookNotifier', () => {
  it('POSTs the notification as JSON with a signature the receiver can check', async () => {
    const { url, received } = await receiver(ok);
    await webhookNotifier({ url, secret: SECRET, headers: { authorization: 'Bearer receiver-token' } }).notify(notification, pluginContext());
    expect(received).toHaveLength(1);
    const [{ headers, body }] = received as [Received];
    expect(JSON.parse(body)).toEqual({ version: 1, ...notification });
    expect(headers['content-type']).toBe('application/json');
    expect(headers.authorization).toBe('Bearer receiver-token');
    expect(headers['x-cairn-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    const timestamp = headers['x-cairn-timestamp'] as string;
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(60);
    expect(headers['x-cairn-signature']).toBe(webhookSignature(SECRET, timestamp, body));
    expect(headers['x-cairn-signature']).not.toBe(webhookSignature('another-secret-entirely', timestamp, body));
  });

  it('retries after a 500 with the same delivery id, then succeeds', async () => {
    const { url, received } = await receiver((n, res) => res.writeHead(n < 3 ? 500 : 200).end());
    await webhookNotifier({ url, secret: SECRET }).notify(notification, pluginContext());
    expect(received).toHaveLength(3);
    expect(new Set(received.map((r) => r.headers['x-cairn-delivery'])).size).toBe(1);
  });

  it('waits as long as a 429 Retry-After asks', async () => {
    const { url, received } = await receiver((n, res) => (n === 1 ? res.writeHead(429, { 'retry-after': '1' }).end() : res.writeHead(200).end()));
    const started = performance.now();
    await webhookNotifier({ url }).notify(notification, pluginContext());
    expect(received).toHaveLength(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('does not retry a 400, and says the receiver refused it without showing the query', async () => {
    const { url, received } = await receiver((_n, res) => res.writeHead(400, 'Bad Request').end());
    const error = await webhookNotifier({ url }).notify(notification, pluginContext()).catch((e: unknown) => e);
    expect(received).toHaveLength(1);
    expect(error).toBeInstanceOf(CairnError);
    expect((error as CairnError).code).toBe('NOTIFY_FAILED');
    expect((error as Error).message).toMatch(/^\[webhook\] webhook http:\/\/127\.0\.0\.1:\d+\/hooks\/cairn\?… refused the notification \(400 Bad Request\)/);
    expect((error as Error).message).not.toContain('s3cret-token');
  });

  it('gives up on a receiver that does not answer, after its retries, within the timeouts', async () => {
    const { url, received } = await receiver(() => undefined); // never answers
    const started = performance.now();
    const error = await webhookNotifier({ url, timeoutMs: 300, retries: 1 }).notify(notification, pluginContext()).catch((e: unknown) => e);
    expect((error as Error).message).toContain('cannot deliver (no answer within 0.3 s)');
    expect(received).toHaveLength(2);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('fails on a receiver that is down, and describes itself without secrets', async () => {
    const { url, server } = await receiver(ok);
    server.close();
    const notifier = webhookNotifier({ url, retries: 1 });
    expect(notifier.description).toMatch(/^webhook http:\/\/127\.0\.0\.1:\d+\/hooks\/cairn\?…$/);
    await expect(notifier.notify(notification, pluginContext())).rejects.toThrow(/cannot deliver \(ECONNREFUSED\)/);
  });

  it('sends credentials in the URL as Basic authorization, and never shows the password', async () => {
    const { url, received } = await receiver(ok);
    const withCredentials = url.replace('http://', 'http://hook-user:p%40ss-w0rd@');
    const notifier = webhookNotifier({ url: withCredentials });
    expect(notifier.description).toMatch(/^webhook http:\/\/hook-user:\*\*\*@127\.0\.0\.1:\d+\/hooks\/cairn\?…$/);
    await notifier.notify(notification, pluginContext());
    expect(received[0]!.headers.authorization).toBe(`Basic ${Buffer.from('hook-user:p@ss-w0rd').toString('base64')}`);
    expect(JSON.parse(received[0]!.body)).toEqual({ version: 1, ...notification });
  });

  it('rejects bad options with the field named', () => {
    expect(() => webhookNotifier({ url: 'ftp://example.com/x' })).toThrow(ConfigError);
    expect(() => webhookNotifier({ url: 'https://example.com/x', secret: 'short' })).toThrow(/secret: a signing secret needs at least 16 characters/);
  });
});
