export * from './errors.js';
export * from './contracts.js';
export type { Logger } from './logger.js';
export type * from '@cairn/repository';
export { isReplayable, bodyParts, replayableSize } from '@cairn/repository';
export { withRetry, withTimeout, retryDelay, isTransientNetworkError, sleep } from './retry.js';
export type { RetryOptions } from './retry.js';
export { Spool, spooledContent } from './spool.js';
export type { Spooled } from './spool.js';
export { writeEntriesToDirectory } from './restore-to-directory.js';
export { createCairn } from './orchestrator.js';
export type {
  AnyTargetFactory, Cairn, CairnPlugin, CreateCairnOptions, RepositoryRef, BackupRequest, BackupResult, RestoreRequest, RestoreOutcome,
} from './api.js';
export { createHooks } from './hooks.js';
export type {
  CairnHooks, RunOperation, RunRequestInfo, BackupPlan, RestorePlan, ProgressEvent, AfterBackupInfo, AfterRestoreInfo, DeletePlan,
} from './hooks.js';
export { AsyncEventEmitter, createEvents } from './events.js';
export type { CairnEvents, LogLevel, RunEndInfo, RunWarning } from './events.js';
export { createLocalExecutor, localExecutorOptions } from './local-executor.js';
export {
  memoryJobQueue, enqueueOptions, requestKey, normaliseRequest, resolveEnqueueOptions, backoffDelayMs, isPermanentError, runErrorOf, errorOfRun,
  describeRunEnd, emitLater, waitForRun, createJobQueueEvents, QueueError, RUN_PRIORITIES, QUEUE_RUN_STATUSES, FINAL_QUEUE_RUN_STATUSES,
  checkLogLine, MAX_LOG_LINES,
} from './job-queue.js';
export type {
  JobQueue, JobQueueEvents, QueuedJobRequest, EnqueueOptions, ResolvedEnqueueOptions, EnqueueResult, RunInfo, RunContext, RunHandler, RunPriority,
  ProcessOptions, QueueWorker, QueueRunStatus, QueueErrorCode, JsonValue, JsonObject, QueueLogLine,
} from './job-queue.js';
export type { LocalExecutorOptions } from './local-executor.js';
export {
  defineConfig, loadConfig, resolvePassword, cairnConfig, repositoryConfig, jobConfig, passwordSpec, retentionSchema,
} from './config.js';
export type { CairnConfig, CairnConfigInput, RepositoryConfig, JobConfig, JobSourceList, RetentionConfig, PasswordSpec } from './config.js';
export { createConsoleLogger, silentLogger } from './logger-impl.js';
export type { ConsoleLoggerOptions } from './logger-impl.js';
export { redact } from './redact.js';
export { runJob, estimateJob, findJob, jobSources, jobRepository, jobTags, JOB_PROFILES } from './jobs.js';
export type { JobRunRequest, JobRunResult, JobEstimate, JobProfile, JobParams } from './jobs.js';
export { jobRunHandler, queuedRunResult } from './job-runner.js';
export type { JobRunHandlerOptions, QueuedRunResult } from './job-runner.js';
export { sizeSchema, formatSize } from './size.js';
export { notifyJobRun, runNotification } from './notify.js';
export type { JobRunEnd, NotificationFailure } from './notify.js';
export { Scheduler, parseSchedule, scheduleSchema, memoryScheduleState } from './schedule.js';
export type { Schedule, ScheduleSpec, ScheduleState, ScheduleStateStore, ScheduleInfo, SchedulerOptions, MissedPolicy } from './schedule.js';
export { sqliteScheduleState } from './schedule-state-sqlite.js';
export { sqliteAbortRequests } from './abort-requests.js';
export type { AbortRequests } from './abort-requests.js';
export type { SqliteScheduleState, SqliteScheduleStateOptions } from './schedule-state-sqlite.js';
export type { RunMeta } from './api.js';
export type { RunOutcome } from './events.js';
export {
  memoryHistory, sqliteHistory, sqliteHistoryOptions, historyRecorder, historyRecorderOptions, HistoryError, RUN_STATUSES,
} from './history/index.js';
export type {
  AuditEntry, AuditFilter, AuditRecord, HistoryErrorCode, HistoryStore, HistoryRecorder, HistoryRecorderOptions, LogLine, LogQuery, LogRecord, RunEndRecord, RunFilter, RunRecord,
  RunStartRecord, RunStatus, SqliteHistoryOptions,
} from './history/index.js';
export { deletedTags } from './guard-delete.js';
export type { GuardDeleteRequest, GuardDeleteResult } from './guard-delete.js';
export { blobKeyProblem, checkBlobKey, TEMP_UPLOAD_SUFFIX } from './blob-keys.js';
export type { BlobKeyRules } from './blob-keys.js';
