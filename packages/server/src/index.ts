export { createCairnApi, cairnApiOptions } from './api.js';
export type { CairnApi, CairnApiOptions, FastifyPluginLike } from './api.js';
export { signToken, authOptions, ROLES } from './auth.js';
export type { AuthOptions, Principal, Role, SignTokenOptions } from './auth.js';
export type { ApiRun, ApiRunStatus } from './runs.js';
export type { RunProgress } from './run-feed.js';
export { triggerBody, triggerByJob, triggerByType, restoreBody, BACKUP_TYPES } from './schemas.js';
