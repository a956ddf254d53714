import { z } from 'zod';
import type { Cairn, CairnPlugin } from '../api.js';
import { parseOptions } from '../contracts.js';
import { CairnError, ConfigError } from '../errors.js';
import type { LogLevel, RunEndInfo } from '../events.js';
import type { RunRequestInfo } from '../hooks.js';
import { redact } from '../redact.js';
import { LOG_LEVELS, levelRank, scrub } from './types.js';
import type { HistoryStore, LogLine, RunEndRecord, RunStartRecord } from './types.js';

const logLevel = z.enum(LOG_LEVELS as [LogLevel, ...LogLevel[]]);

/**
 * Looking at a repository is not a run anyone needs in the history: a dashboard that lists
 * snapshots and browses trees would otherwise push the backups out of every page of it.
 */
const QUERIES: readonly string[] = ['snapshots', 'ls', 'diff', 'estimate'];

export const historyRecorderOptions = z.object({
  minLevel: logLevel.default('info')
    .describe('Lowest level of the log lines stored (debug, info, warn, error); lower ones are dropped.'),
  jobLevels: z.record(z.string(), logLevel).default({})
    .describe('Verbosity per job: the lowest level stored for runs of that job, instead of minLevel.'),
  queries: z.boolean().default(false)
    .describe('Also record the read-only runs (snapshots, ls, diff, estimate); by default only runs that back up, restore, check or change a repository are kept.'),
  flushIntervalMs: z.number().int().min(0).max(60_000).default(250)
    .describe('How long log lines may wait in memory before they are written in one batch (a run\'s end writes its lines at once).'),
  onError: z.custom<(error: unknown) => void>((value) => typeof value === 'function', 'expected a function').optional()
    .describe('Called when the store fails to record; default: a warning through the orchestrator\'s logger, once per streak of failures.'),
});
export type HistoryRecorderOptions = z.input<typeof historyRecorderOptions>;

/** The `history` plugin: records every run of the orchestrators it is applied to. */
export interface HistoryRecorder extends CairnPlugin {
  readonly name: 'history';
  readonly store: HistoryStore;
  /** Waits until every event delivered so far is written (tests, shutdown). Never rejects. */
  flush(): Promise<void>;
}

/** How long the ids of ended runs are remembered, so that the lines logged just after their end are kept. */
const RECENTLY_ENDED = 1000;

/**
 * A plugin that records runs and their log lines in a history store. It only listens to events
 * (`run:start`, `log`, `warning`, `run:end`), so a slow or failing store never stalls or fails a
 * run. Log lines are buffered and written in batches, at most every `flushIntervalMs` and at each
 * run's end; lines logged outside any run, or below the verbosity, are not stored.
 */
export function historyRecorder(store: HistoryStore, options: HistoryRecorderOptions = {}): HistoryRecorder {
  const { minLevel, jobLevels, queries, flushIntervalMs, onError } = parseOptions('history', historyRecorderOptions, options);
  if (typeof store !== 'object' || store === null || typeof store.recordStart !== 'function' || typeof store.appendLogs !== 'function') {
    throw new ConfigError('historyRecorder: expected a history store, e.g. sqliteHistory({ path })', { plugin: 'history' });
  }

  /** Runs seen starting, by id: the lowest level kept for each and the warnings counted so far. */
  const runs = new Map<string, { minRank: number; warnings: number; ended: boolean }>();
  const ended: string[] = [];
  let buffer: Array<{ runId: string; line: LogLine }> = [];
  let timer: NodeJS.Timeout | undefined;
  /** Every write goes through this chain, so a run's start is stored before its lines and end. */
  let tail: Promise<void> = Promise.resolve();
  const cairns: Cairn[] = [];
  let failing = false;
  let report: (error: unknown) => void = onError ?? (() => {});

  const enqueue = (write: () => Promise<void>): void => {
    tail = tail.then(write).then(() => {
      failing = false;
    }, (error: unknown) => {
      // One report per streak: a broken store must not fill the log with one warning per batch.
      if (failing) return;
      failing = true;
      try {
        report(error);
      } catch {
        // The reporter failed too; there is nowhere left to send it, and no run may fail for it.
      }
    });
  };

  const writeBuffered = (runId?: string): void => {
    const taking = runId === undefined ? buffer : buffer.filter((entry) => entry.runId === runId);
    if (taking.length === 0) return;
    buffer = runId === undefined ? [] : buffer.filter((entry) => entry.runId !== runId);
    if (buffer.length === 0 && timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    const byRun = new Map<string, LogLine[]>();
    for (const { runId: id, line } of taking) byRun.set(id, [...(byRun.get(id) ?? []), line]);
    for (const [id, lines] of byRun) enqueue(() => store.appendLogs(id, lines));
  };

  const onStart = (info: RunRequestInfo): void => {
    if (!queries && QUERIES.includes(info.operation)) return;
    const level = info.job !== undefined ? jobLevels[info.job] ?? minLevel : minLevel;
    runs.set(info.id, { minRank: levelRank[level], warnings: 0, ended: false });
    const record = startRecord(info, new Date());
    enqueue(() => store.recordStart(record));
  };

  const onLog = (level: LogLevel, message: string, fields: Record<string, unknown> | undefined): void => {
    const runId = fields?.run;
    if (typeof runId !== 'string') return;
    const run = runs.get(runId);
    if (!run || levelRank[level] < run.minRank) return;
    const { run: _run, ...rest } = fields ?? {};
    const clean = scrub(rest) as Record<string, unknown>;
    buffer.push({ runId, line: { time: new Date().toISOString(), level, message: redact(message), ...(Object.keys(clean).length ? { fields: clean } : {}) } });
    // Lines logged after the run's end (its error, as the caller sees it) go out with this batch too.
    if (!timer) {
      timer = setTimeout(flushTimer, flushIntervalMs);
      // A process that is done need not wait for it: shutdown calls flush().
      timer.unref();
    }
  };

  const flushTimer = (): void => {
    timer = undefined;
    writeBuffered();
  };

  const onWarning = (warning: { runId: string }): void => {
    const run = runs.get(warning.runId);
    if (run) run.warnings++;
  };

  const onEnd = (info: RunEndInfo): void => {
    const run = runs.get(info.id);
    if (!run) return;
    run.ended = true;
    ended.push(info.id);
    while (ended.length > RECENTLY_ENDED) runs.delete(ended.shift()!);
    writeBuffered(info.id);
    const end = endRecord(info, run.warnings, new Date());
    enqueue(() => store.recordEnd(info.id, end));
  };

  return Object.freeze({
    name: 'history' as const,
    store,
    apply(cairn: Cairn): void {
      cairns.push(cairn);
      if (!onError) {
        report = (error: unknown) => {
          const code = error instanceof CairnError ? error.code : undefined;
          cairn.logger.warn(`history: recording failed: ${redact(error instanceof Error ? error.message : String(error))}`, { plugin: 'history', ...(code ? { code } : {}) });
        };
      }
      cairn.events.on('run:start', onStart);
      cairn.events.on('log', onLog);
      cairn.events.on('warning', onWarning);
      cairn.events.on('run:end', onEnd);
    },
    async flush(): Promise<void> {
      // Events already emitted but not yet delivered (they are queued) are part of "so far".
      for (const cairn of cairns) {
        const events = cairn.events as { drain?: () => Promise<void> };
        if (typeof events.drain === 'function') await events.drain();
      }
      writeBuffered();
      let seen: Promise<void>;
      do {
        seen = tail;
        await seen;
      } while (seen !== tail);
    },
  });
}

function startRecord(info: RunRequestInfo, now: Date): RunStartRecord {
  const { id, operation, repository, requestedBy, job, environment, ...rest } = info;
  // What remains describes the request (sources, tags, snapshot, dryRun, to): the run's options.
  return {
    id, operation, repository, startedAt: now.toISOString(), status: 'running',
    options: scrub(rest) as Record<string, unknown>,
    ...(requestedBy !== undefined ? { requestedBy } : {}),
    ...(job !== undefined ? { job } : {}),
    ...(environment !== undefined ? { environment } : {}),
  };
}

function endRecord(info: RunEndInfo, warningsSeen: number, now: Date): RunEndRecord {
  const { error } = info;
  const aborted = !info.ok && (error instanceof CairnError ? error.code === 'ABORTED' : error?.name === 'AbortError');
  const warnings = info.warnings ?? warningsSeen;
  const end: RunEndRecord = {
    status: info.ok ? 'succeeded' : aborted ? 'aborted' : 'failed',
    endedAt: now.toISOString(),
    durationMs: Math.round(info.durationMs),
    ...(warnings > 0 || info.warnings !== undefined ? { warnings } : {}),
  };
  for (const key of ['snapshotId', 'files', 'bytesRead', 'bytesAdded', 'bytesWritten'] as const) {
    if (info[key] !== undefined) (end as unknown as Record<string, unknown>)[key] = info[key];
  }
  if (!info.ok) {
    const own = (error as { code?: unknown } | undefined)?.code;
    const code = error instanceof CairnError ? error.code : typeof own === 'string' && own !== '' ? own : 'UNKNOWN';
    end.error = { code, message: redact(error?.message ?? 'the run failed') };
  }
  return end;
}
