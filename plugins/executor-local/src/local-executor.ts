import { createLocalExecutor, defineExecutor, localExecutorOptions } from '@cairn/core';
import type { z } from 'zod';

// The queue itself lives in @cairn/core (it is the orchestrator's default executor too), so there
// is one implementation; this package gives it the plugin shape and its own import path.
export { localExecutorOptions };
export type LocalExecutorOptions = z.input<typeof localExecutorOptions>;

/** Runs jobs in this process, `concurrency` (1…64, default 1) at a time, in submission order. */
export const localExecutor = defineExecutor({
  name: 'local',
  options: localExecutorOptions,
  create: (options) => createLocalExecutor(options),
});
