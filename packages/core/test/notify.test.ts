import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, createCairn, defineConfig, defineNotifier, runJob } from '../src/index.js';
import type { Cairn, CairnConfigInput, RunNotification } from '../src/index.js';
import { dirTarget, memorySource, tempDir } from './helpers.js';

/** A notifier that keeps what it is told (or fails, to show a failing receiver never fails a run). */
const recording = defineNotifier({
  name: 'recording',
  options: z.object({ fail: z.boolean().default(false) }),
  create: ({ fail }) => {
    const received: RunNotification[] = [];
    return {
      description: 'a test inbox',
      received,
      async notify(notification: RunNotification) {
        if (fail) throw new Error('receiver down');
        received.push(notification);
      },
    };
  },
});
const inbox = (notifier: ReturnType<typeof recording>) => (notifier as unknown as { received: RunNotification[] }).received;

const kdf = { N: 1024, r: 8, p: 1 };
const env = { REPO_PASSWORD: 'notify-password' };
let dir: { path: string; remove(): Promise<void> };
let cairn: Cairn;
const warnings: string[] = [];

beforeEach(async () => {
  dir = await tempDir('cairn-notify-');
  warnings.length = 0;
  cairn = createCairn({ targets: [dirTarget], logger: { debug() {}, info() {}, warn: (m: string) => void warnings.push(m), error() {} } });
  await cairn.init({ repository: { target: join(dir.path, 'repo'), password: env.REPO_PASSWORD }, kdf });
});
afterEach(async () => {
  await cairn.close();
  await dir.remove();
});

function config(jobs: CairnConfigInput['jobs'], notifiers: CairnConfigInput['notifiers']) {
  return defineConfig({
    repositories: {
      main: { url: join(dir.path, 'repo'), password: { env: 'REPO_PASSWORD' } },
      locked: { url: join(dir.path, 'nowhere'), password: { env: 'REPO_PASSWORD' } },
    },
    jobs, notifiers,
  });
}
const docs = () => [memorySource({ name: 'docs', files: { 'a.txt': 'alpha' } })];

describe('job notifications', () => {
  it('tell every notifier about a failure by default, with the error, and nothing about a success', async () => {
    const ops = recording({});
    const cfg = config({ docs: { sources: docs(), repository: 'main' }, broken: { sources: docs(), repository: 'locked' } }, { ops });
    await runJob(cairn, cfg, { job: 'docs', requestedBy: 'cli:ann' }, env);
    expect(inbox(ops)).toEqual([]);
    await expect(runJob(cairn, cfg, { job: 'broken', environment: 'production', requestedBy: 'schedule:broken' }, env)).rejects.toThrow();
    expect(inbox(ops)).toHaveLength(1);
    expect(inbox(ops)[0]).toMatchObject({
      operation: 'backup', job: 'broken', environment: 'production', status: 'failed', requestedBy: 'schedule:broken',
      repository: join(dir.path, 'nowhere'), error: { code: 'REPO_NOT_FOUND' },
    });
    expect(inbox(ops)[0]!.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('on success, sum the run up with the snapshot, sizes and the backup run\'s id', async () => {
    const ops = recording({});
    const cfg = config({ docs: { sources: docs(), repository: 'main', notifications: { on: 'always' } } }, { ops });
    const result = await runJob(cairn, cfg, { job: 'docs', runId: 'queue-run-7' }, env);
    const [told] = inbox(ops);
    expect(told).toMatchObject({ runId: 'queue-run-7', status: 'succeeded', job: 'docs', filesTotal: 1, bytesRead: 5, warnings: 0 });
    expect(told!.snapshot?.id).toBe(result.backup.snapshot.id);
    expect(told!.bytesAdded).toBeGreaterThan(0);
  });

  it('reach only the named notifiers, never when disabled, and a failing one does not fail the run', async () => {
    const ops = recording({});
    const chat = recording({});
    const down = recording({ fail: true });
    const cfg = config({
      one: { sources: docs(), repository: 'main', notifications: { on: 'success', notifiers: ['chat', 'down'] } },
      quiet: { sources: docs(), repository: 'main', notifications: { on: 'always' }, notificationEnabled: false },
    }, { ops, chat, down });
    await runJob(cairn, cfg, { job: 'one' }, env);
    await runJob(cairn, cfg, { job: 'quiet' }, env);
    expect(inbox(ops)).toEqual([]);
    expect(inbox(chat).map((n) => n.job)).toEqual(['one']);
    expect(warnings.some((w) => w.startsWith('could not notify down (a test inbox) about job one: receiver down'))).toBe(true);
  });

  it('name an unknown notifier as a config problem with its path', () => {
    expect(() => config({ docs: { sources: docs(), repository: 'main', notifications: { notifiers: ['pager'] } } }, { ops: recording({}) }))
      .toThrow(ConfigError);
    try {
      config({ docs: { sources: docs(), repository: 'main', notifications: { notifiers: ['pager'] } } }, {});
    } catch (error) {
      expect((error as ConfigError).problems).toEqual(['jobs.docs.notifications.notifiers[0]: unknown notifier "pager" (defined: none)']);
    }
  });
});
