export { localExecutor, localExecutorOptions } from './local-executor.js';
export type { LocalExecutorOptions } from './local-executor.js';
