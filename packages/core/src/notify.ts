import type { Cairn } from './api.js';
import type { CairnConfig } from './config.js';
import type { RunNotification } from './contracts.js';
import { AbortedError, CairnError } from './errors.js';
import type { JobRunRequest, JobRunResult } from './jobs.js';
import { redact } from './redact.js';

/** How one run of a job ended, as `runJob` saw it. */
export interface JobRunEnd {
  request: JobRunRequest;
  runId: string;
  startedAt: Date;
  result?: JobRunResult;
  error?: unknown;
}

/** A notifier gets this long to deliver, retries included, before it is given up (and logged). */
const DELIVERY_DEADLINE_MS = 120_000;

/** The summary a notifier sends: job, environment, status, duration, sizes, snapshot, error. Secret-free. */
export function runNotification(config: CairnConfig, end: JobRunEnd, endedAt = new Date()): RunNotification {
  const { request, result, error } = end;
  const job = config.jobs[request.job];
  const url = job ? config.repositories[job.repository]?.url : undefined;
  const status: RunNotification['status'] = result ? 'succeeded' : error instanceof AbortedError ? 'aborted' : 'failed';
  const notification: RunNotification = {
    runId: end.runId,
    operation: 'backup',
    job: request.job,
    ...(request.environment ? { environment: request.environment } : {}),
    status,
    ...(request.requestedBy ? { requestedBy: request.requestedBy } : {}),
    startedAt: end.startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    durationMs: endedAt.getTime() - end.startedAt.getTime(),
    ...(url ? { repository: redact(url) } : {}),
  };
  if (result) {
    const { snapshot, warnings } = result.backup;
    const s = snapshot.summary;
    Object.assign(notification, {
      snapshot: { id: snapshot.id, time: snapshot.time, ...(warnings.length > 0 ? { incomplete: true } : {}) },
      bytesRead: s.bytesRead,
      bytesAdded: s.bytesAdded,
      filesTotal: s.filesNew + s.filesChanged + s.filesUnchanged,
      warnings: warnings.length,
    });
  }
  if (error !== undefined) {
    const code = error instanceof CairnError ? error.code : 'UNEXPECTED';
    notification.error = { code, message: redact(error instanceof Error ? error.message : String(error)) };
  }
  return notification;
}

/** A notifier that could not deliver: `could not notify ops (email to …) about job docs: …`. */
export interface NotificationFailure {
  notifier: string;
  message: string;
}

/**
 * Tells the job's notifiers how a run ended, when the job asks for it (`notifications.on`), all
 * at once. A notifier that fails is logged as a warning and returned, never thrown: it does not
 * fail the run it reports on.
 */
export async function notifyJobRun(cairn: Cairn, config: CairnConfig, end: JobRunEnd): Promise<NotificationFailure[]> {
  const job = config.jobs[end.request.job];
  if (!job || job.notificationEnabled === false) return [];
  const notification = runNotification(config, end);
  const on = job.notifications?.on ?? 'failure';
  if (on === 'failure' && notification.status === 'succeeded') return [];
  if (on === 'success' && notification.status !== 'succeeded') return [];
  const names = job.notifications?.notifiers ?? Object.keys(config.notifiers);
  const failures: NotificationFailure[] = [];
  await Promise.all(names.map(async (name) => {
    const notifier = config.notifiers[name];
    if (!notifier) return; // the config check reports unknown names at load
    try {
      await notifier.notify(notification, { signal: AbortSignal.timeout(DELIVERY_DEADLINE_MS), logger: cairn.logger });
      cairn.logger.info(`notified ${notifier.description} that job ${end.request.job} ${notification.status}`, { run: end.runId, notifier: name });
    } catch (error) {
      const message = `could not notify ${name} (${notifier.description}) about job ${end.request.job}: ${redact(error instanceof Error ? error.message : String(error))}`;
      failures.push({ notifier: name, message });
      cairn.logger.warn(message, { run: end.runId, notifier: name });
    }
  }));
  return failures;
}
