export { memoryHistory } from './memory.js';
export { sqliteHistory, sqliteHistoryOptions } from './sqlite.js';
export type { SqliteHistoryOptions } from './sqlite.js';
export { historyRecorder, historyRecorderOptions } from './recorder.js';
export type { HistoryRecorder, HistoryRecorderOptions } from './recorder.js';
export { HistoryError, RUN_STATUSES } from './types.js';
export type {
  AuditEntry, AuditFilter, AuditRecord, HistoryErrorCode, HistoryStore, LogLine, LogQuery, LogRecord, RunEndRecord, RunFilter, RunRecord, RunStartRecord, RunStatus,
} from './types.js';
