import { randomUUID } from 'node:crypto';
import { describeExecutorConformance, requireEnv } from '@cairn/testkit';
import { bullmqJobQueue } from '../src/index.js';
import type { BullmqExecutorOptions } from '../src/index.js';

/**
 * The shared suite against the real Redis of the services script: each test gets a queue of its
 * own (unique name and key prefix), enqueues through one handle and works through another, as two
 * processes would, and removes every key afterwards.
 */
describeExecutorConformance('bullmq', async () => {
  const { CAIRN_TEST_REDIS_URL } = requireEnv('CAIRN_TEST_REDIS_URL');
  const options: BullmqExecutorOptions = {
    connection: CAIRN_TEST_REDIS_URL,
    prefix: `cairn-test-${randomUUID().slice(0, 8)}`,
    queueName: 'conformance',
    lockDurationMs: 5_000,
    stalledIntervalMs: 2_000,
    dependencyPollMs: 100,
  };
  return {
    queue: bullmqJobQueue(options),
    connect: () => bullmqJobQueue(options),
    async cleanup() {
      const janitor = bullmqJobQueue(options);
      await janitor.obliterate();
      await janitor.close();
    },
  };
});
