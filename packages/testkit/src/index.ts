export { describeTargetConformance } from './target-conformance.js';
export type { MakeTarget, TargetConformanceOptions } from './target-conformance.js';
export { describeSourceConformance } from './source-conformance.js';
export type { MakeSource } from './source-conformance.js';
export { deterministicBytes, collect, digest, hashing } from './data.js';
export { memoryLogger, pluginContext, backupContext } from './context.js';
export { memoryTarget, memoryTargetOptions } from './memory-target.js';
export { asUnprivileged, deferred } from './privileges.js';
