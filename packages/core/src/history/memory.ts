import {
  HistoryError, checkAuditFilter, checkFilter, normaliseAudit, checkLogQuery, levelRank, normaliseEnd, normaliseLines, normaliseStart,
} from './types.js';
import type { AuditEntry, AuditFilter, AuditRecord, HistoryStore, LogLine, LogQuery, LogRecord, RunEndRecord, RunFilter, RunRecord, RunStartRecord } from './types.js';

/** A history store in memory, for tests and for host apps that keep nothing between restarts. */
export function memoryHistory(): HistoryStore {
  return new MemoryHistory();
}

class MemoryHistory implements HistoryStore {
  /** Insertion order breaks ties between runs that started at the same millisecond. */
  readonly #runs = new Map<string, { record: RunRecord; order: number }>();
  readonly #logs = new Map<string, LogRecord[]>();
  readonly #audit: AuditEntry[] = [];
  #order = 0;
  #closed = false;

  async recordStart(run: RunStartRecord): Promise<void> {
    this.#open();
    const start = normaliseStart(run);
    const existing = this.#runs.get(start.id);
    if (!existing) {
      this.#runs.set(start.id, { record: start, order: this.#order++ });
      return;
    }
    // Recorded again (a queued run that now runs): the start fields are replaced, queuedAt and any end kept.
    for (const key of ['job', 'environment', 'requestedBy'] as const) delete existing.record[key];
    Object.assign(existing.record, start);
  }

  async recordEnd(runId: string, end: RunEndRecord): Promise<void> {
    this.#open();
    const clean = normaliseEnd(runId, end);
    const entry = this.#runs.get(runId);
    if (!entry) throw new HistoryError('HISTORY_UNKNOWN_RUN', `recordEnd: no run ${runId} was recorded; call recordStart first`);
    const { record } = entry;
    // The outcome replaces any earlier end, as the sqlite store's UPDATE does.
    for (const key of ['durationMs', 'snapshotId', 'bytesRead', 'bytesAdded', 'bytesWritten', 'files', 'warnings', 'error'] as const) delete record[key];
    Object.assign(record, clean);
  }

  async appendLogs(runId: string, lines: readonly LogLine[]): Promise<void> {
    this.#open();
    const clean = normaliseLines(runId, lines);
    const stored = this.#logs.get(runId) ?? [];
    for (const line of clean) stored.push({ ...line, runId, seq: stored.length + 1 });
    this.#logs.set(runId, stored);
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    this.#open();
    const { statuses, since, until, limit, offset } = checkFilter(filter);
    const matching = [...this.#runs.values()]
      .filter(({ record: r }) => (filter.idPrefix === undefined || r.id.startsWith(filter.idPrefix))
        && (filter.job === undefined || r.job === filter.job)
        && (filter.environment === undefined || r.environment === filter.environment)
        && (filter.operation === undefined || r.operation === filter.operation)
        && (statuses === undefined || statuses.includes(r.status))
        && (since === undefined || r.startedAt >= since)
        && (until === undefined || r.startedAt < until))
      .sort((a, b) => (a.record.startedAt < b.record.startedAt ? 1 : a.record.startedAt > b.record.startedAt ? -1 : b.order - a.order));
    return matching.slice(offset, limit === undefined ? undefined : offset + limit).map(({ record }) => structuredClone(record));
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    this.#open();
    const entry = this.#runs.get(id);
    return entry ? structuredClone(entry.record) : undefined;
  }

  async logs(runId: string, options: LogQuery = {}): Promise<LogRecord[]> {
    this.#open();
    const { minRank, limit, afterSeq } = checkLogQuery(options);
    const lines = (this.#logs.get(runId) ?? []).filter((line) => line.seq > afterSeq && levelRank[line.level] >= minRank);
    return structuredClone(limit === undefined ? lines : lines.slice(0, limit));
  }

  async recordAudit(record: AuditRecord): Promise<void> {
    this.#open();
    this.#audit.push({ ...normaliseAudit(record), seq: this.#audit.length + 1 });
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    this.#open();
    const { since, until, limit, offset } = checkAuditFilter(filter);
    const matching = this.#audit
      .filter((r) => (filter.actor === undefined || r.actor === filter.actor)
        && (filter.action === undefined || r.action === filter.action)
        && (since === undefined || r.time >= since)
        && (until === undefined || r.time < until))
      .sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : b.seq - a.seq));
    return structuredClone(matching.slice(offset, limit === undefined ? undefined : offset + limit));
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #open(): void {
    if (this.#closed) throw new HistoryError('HISTORY_CLOSED', 'the history store is closed');
  }
}
