import { randomUUID } from 'node:crypto';
import { jobRunHandler } from '@cairn/core';
import type { QueueWorker } from '@cairn/core';
import { bullmqJobQueue } from '@cairn/executor-bullmq';
import { requireEnv } from '@cairn/testkit';
import { expect, it } from 'vitest';
import { json, readEvents, startStack, until } from './helpers.js';

it('only enqueues on a shared BullMQ queue; a separate worker runs the backup, and the API follows it to the end', async () => {
  const { CAIRN_TEST_REDIS_URL: connection } = requireEnv('CAIRN_TEST_REDIS_URL');
  const prefix = `cairn-server-${randomUUID().slice(0, 8)}`;
  const apiQueue = bullmqJobQueue({ connection, prefix });
  const workerQueue = bullmqJobQueue({ connection, prefix });
  const stack = await startStack({ queue: apiQueue });
  let worker: QueueWorker | undefined;
  try {
    const trigger = await stack.call('/api/trigger-backup', json({ type: 'user_data', description: 'through redis' }));
    expect(trigger.status).toBe(202);
    const { runId, job } = (await trigger.json()) as { runId: string; job: string };
    expect(job).toBe('docs');
    // Nothing takes it yet: the API shows it queued.
    const queued = (await (await stack.call(`/api/runs/${runId}`)).json()) as { run: { status: string; requestedBy: string } };
    expect(queued.run).toMatchObject({ status: 'queued', requestedBy: 'api:ann' });
    const events = stack.call(`/api/runs/${runId}/events`).then(readEvents);
    worker = await workerQueue.process(jobRunHandler({ cairn: stack.cairn, config: stack.config, env: { REPO_PASSWORD: 'server-test-password' } }));
    const ended = await events;
    expect(ended.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
    const run = await until(async () => ((await (await stack.call(`/api/runs/${runId}`)).json()) as { run: { status: string; snapshotId?: string } }).run, (r) => r.status === 'succeeded' && r.snapshotId !== undefined);
    const { snapshots } = (await (await stack.call('/api/repositories/main/snapshots?job=docs')).json()) as { snapshots: Array<{ id: string }> };
    expect(snapshots.map((s) => s.id)).toContain(run.snapshotId);
  } finally {
    await worker?.close();
    await stack.close();
    await workerQueue.close();
    await apiQueue.close();
  }
});
