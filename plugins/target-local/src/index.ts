export { localTarget, localTargetOptions, parseLocalUrl } from './local-target.js';
export type { LocalTargetOptions } from './local-target.js';
