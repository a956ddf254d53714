import { describeExecutorConformance } from '@cairn/testkit';
import { localExecutor } from '../src/index.js';

// The local executor's queue (core's memoryJobQueue) is the reference implementation of the contract.
describeExecutorConformance('local', async () => {
  const executor = localExecutor({ concurrency: 1 });
  return { queue: executor.queue!, cleanup: () => executor.close() };
});
