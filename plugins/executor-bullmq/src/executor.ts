import { createLocalExecutor, defineExecutor } from '@cairn/core';
import { bullmqExecutorOptions } from './options.js';
import { bullmqJobQueue } from './queue.js';

/**
 * An executor whose job runs go through BullMQ on Redis, taken by `cairn worker` processes on any
 * machine. The orchestrator's own operations (a backup a worker runs, a restore) are closures and
 * cannot cross a process: they still run in the process that asks, through the local executor.
 */
export const bullmqExecutor = defineExecutor({
  name: 'bullmq',
  options: bullmqExecutorOptions,
  create(options) {
    const local = createLocalExecutor({ concurrency: options.concurrency });
    const queue = bullmqJobQueue(options);
    return {
      concurrency: local.concurrency,
      submit: local.submit,
      queue,
      async close() {
        await local.close();
        await queue.close();
      },
    };
  },
});
