import type { Cairn, CairnConfig, HistoryStore, JobQueue, Logger, Scheduler } from '@cairn/core';
import type { RestoreRuns } from './restores.js';
import type { RunFeed } from './run-feed.js';
import type { RunsView } from './runs.js';

/** What the routes share: the caller's parts and the API's own state. */
export interface ApiContext {
  cairn: Cairn;
  config: CairnConfig;
  queue: JobQueue;
  history: HistoryStore;
  scheduler: Scheduler | undefined;
  env: Readonly<Record<string, string | undefined>>;
  /** The absolute folder restores into a folder go into; undefined: such restores are refused. */
  restoreDir: string | undefined;
  logger: Logger | undefined;
  feed: RunFeed;
  restores: RestoreRuns;
  runs: RunsView;
  /** Throws a 429 when the subject has triggered too often. */
  limitTriggers(subject: string): void;
  /** Fires when the API closes: event streams end. */
  closing: AbortSignal;
}
