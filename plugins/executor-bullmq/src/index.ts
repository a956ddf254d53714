export { bullmqExecutor } from './executor.js';
export { bullmqExecutorOptions } from './options.js';
export type { BullmqExecutorOptions } from './options.js';
export { bullmqJobQueue } from './queue.js';
export type { BullmqJobQueue } from './queue.js';
