import type { Logger } from '@cairn/core';
import { expect, it } from 'vitest';
import { json, readEvents, startStack } from './helpers.js';

it('answers /readyz 503 naming the failed check, and 503 JSON (not 500) when the history is gone', async () => {
  const stack = await startStack();
  try {
    await stack.history.close();
    const ready = await stack.call('/readyz', { token: null });
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'unavailable', checks: [{ name: 'history', ok: false }, { name: 'queue', ok: true }] });
    const runs = await stack.call('/api/runs');
    expect(runs.status).toBe(503);
    expect(await runs.json()).toMatchObject({ error: { code: 'HISTORY_CLOSED' } });
  } finally {
    await stack.close().catch(() => {});
  }
});

it('never logs a token, an Authorization header or a password, and streams a restore\'s progress', async () => {
  const lines: string[] = [];
  const logger: Logger = {
    debug: (message, fields) => lines.push(`${message} ${JSON.stringify(fields ?? {})}`),
    info: (message, fields) => lines.push(`${message} ${JSON.stringify(fields ?? {})}`),
    warn: (message, fields) => lines.push(`${message} ${JSON.stringify(fields ?? {})}`),
    error: (message, fields) => lines.push(`${message} ${JSON.stringify(fields ?? {})}`),
  };
  const stack = await startStack({ api: { logger } });
  try {
    const token = await stack.token(['admin']);
    const { runId } = (await (await stack.call('/api/trigger-backup', { ...json({ job: 'docs' }), token })).json()) as { runId: string };
    const backup = await readEvents(await stack.call(`/api/runs/${runId}/events`, { token }));
    expect(backup.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
    expect(backup.filter((e) => e.event === 'log').map((e) => (e.data as { message: string }).message).join('\n')).toMatch(/job docs starting/);
    const restore = (await (await stack.call('/api/restores', { ...json({ repository: 'main', targetDir: 'out' }), token })).json()) as { runId: string };
    const events = await readEvents(await stack.call(`/api/runs/${restore.runId}/events`, { token }));
    expect(events.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
    const progress = events.filter((e) => e.event === 'progress').map((e) => e.data as { bytesDone: number });
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)!.bytesDone).toBe(6 + 8 + 5000);
    // A failed restore is logged (a warning), with its reason.
    const failed = (await (await stack.call('/api/restores', { ...json({ repository: 'main', snapshot: 'ffffffff', targetDir: 'x' }), token })).json()) as { runId: string };
    expect((await readEvents(await stack.call(`/api/runs/${failed.runId}/events`, { token }))).at(-1)).toMatchObject({ data: { status: 'failed' } });
    for (const bad of ['forged.token.here', `${token}x`]) await stack.call('/api/trigger-backup', { ...json({ job: 'docs' }), token: bad });
    const all = lines.join('\n');
    expect(all).toContain('SNAPSHOT_NOT_FOUND');
    expect(all).not.toContain(token.split('.')[2]);
    expect(all).not.toMatch(/Bearer|authorization|server-test-password/i);
    const audit = JSON.stringify(await stack.history.listAudit());
    expect(audit).not.toContain(token.split('.')[2]);
    expect(audit).toContain('"actor":"anonymous"');
    // Refusals without a valid token are recorded a few a minute per address, not without end.
    for (let i = 0; i < 30; i++) await stack.call('/api/trigger-backup', { ...json({ job: 'docs' }), token: 'forged.token.here' });
    expect((await stack.history.listAudit({ actor: 'anonymous' })).length).toBe(10);
  } finally {
    await stack.close();
  }
});
