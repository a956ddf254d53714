import type { QueueLogLine, QueueRunStatus } from '@cairn/core';
import type { ApiContext } from '../context.js';
import { HttpError } from '../http.js';
import { route } from '../router.js';
import type { AnyRoute } from '../router.js';
import type { ApiRun } from '../runs.js';
import { isFinal } from '../runs.js';
import type { RunProgress } from '../run-feed.js';
import { eventsQuery, logList, logsQuery, runAborting, runDetail, runList, runRemoved, runsQuery } from '../schemas.js';

const runId = { id: 'The run\'s id.' };
/** Log lines a run's page shows with the run. */
const RECENT_LINES = 50;
/** How often an event stream looks at the run itself, in case an event was missed (a queue on a network). */
const POLL_MS = 1000;
const HEARTBEAT_MS = 15_000;

async function requireRun(api: ApiContext, id: string): Promise<ApiRun> {
  const run = await api.runs.get(id);
  if (!run) throw new HttpError(404, 'RUN_NOT_FOUND', `no run ${id} (it may have ended long ago, or been recorded by another history)`);
  return run;
}

/** A run's lines: the history's (numbered), else what the queue kept from its worker. */
async function runLogs(api: ApiContext, id: string, options: { minLevel?: 'debug' | 'info' | 'warn' | 'error'; after?: number; limit: number }) {
  const lines = await api.history.logs(id, { ...(options.minLevel ? { minLevel: options.minLevel } : {}), ...(options.after !== undefined ? { afterSeq: options.after } : {}), limit: options.limit });
  if (lines.length > 0 || options.after !== undefined) return lines.map(({ runId: _runId, ...line }) => line);
  return (await api.queue.logs(id)).slice(0, options.limit);
}

/** Aborts a run: a restore of this process, or a queued or running backup wherever its worker is. */
async function abortRun(api: ApiContext, id: string): Promise<void> {
  if (api.restores.has(id)) {
    if (!api.restores.abort(id)) throw new HttpError(409, 'RUN_ENDED', `run ${id} has already ended`);
    return;
  }
  const info = await api.queue.get(id);
  if (!info) {
    const record = await api.history.getRun(id);
    if (record && isFinal(record.status)) throw new HttpError(409, 'RUN_ENDED', `run ${id} has already ended (${record.status})`);
    throw new HttpError(404, 'RUN_NOT_FOUND', `no run ${id} that this server can abort`);
  }
  if (isFinal(info.status === 'waiting' ? 'queued' : info.status)) throw new HttpError(409, 'RUN_ENDED', `run ${id} has already ended (${info.status})`);
  await api.queue.abort(id, 'aborted through the API');
}

export function runRoutes(api: ApiContext): AnyRoute[] {
  return [
    route({
      method: 'GET', path: '/api/runs', role: 'viewer', tag: 'runs', query: runsQuery,
      summary: 'Runs, newest first: history merged with what is queued and running, each with its progress when known.',
      responses: { 200: { description: 'The runs, newest first.', schema: runList } },
      async handle({ query }) {
        const runs = await api.runs.list({
          limit: query.limit, ...(query.job ? { job: query.job } : {}), ...(query.status ? { status: query.status } : {}),
          ...(query.since ? { since: new Date(query.since) } : {}), ...(query.until ? { until: new Date(query.until) } : {}),
        });
        return { status: 200, body: { runs } };
      },
    }),
    route({
      method: 'GET', path: '/api/runs/:id', role: 'viewer', tag: 'runs', params: runId,
      summary: 'One run: its record, progress and last log lines.',
      responses: { 200: { description: 'The run and its last log lines.', schema: runDetail } },
      async handle({ params }) {
        const run = await requireRun(api, params.id!);
        const all = await runLogs(api, run.id, { limit: 100_000 });
        return { status: 200, body: { run, logs: all.slice(-RECENT_LINES) } };
      },
    }),
    route({
      method: 'GET', path: '/api/runs/:id/logs', role: 'viewer', tag: 'runs', params: runId, query: logsQuery,
      summary: 'A run\'s log lines, oldest first.',
      responses: { 200: { description: 'The lines: the history\'s, or for a run it has not recorded, those its queue kept.', schema: logList } },
      async handle({ params, query }) {
        await requireRun(api, params.id!);
        return { status: 200, body: { logs: await runLogs(api, params.id!, query) } };
      },
    }),
    route({
      method: 'GET', path: '/api/runs/:id/events', role: 'viewer', tag: 'runs', params: runId, query: eventsQuery, queryToken: true,
      summary: 'Server-Sent Events of a run: `status`, `progress`, `log`, then `end`. Takes the token from `?access_token=` too.',
      responses: { 200: { description: 'An event stream; each event\'s data is JSON.', contentType: 'text/event-stream' } },
      async handle({ params, res }) {
        const id = params.id!;
        const first = await requireRun(api, id);
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
        res.flushHeaders();
        let ended = false;
        let lastStatus = '';
        const send = (event: string, data: unknown): void => {
          if (!ended) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        };
        const cleanup: Array<() => void> = [];
        const finish = (run: ApiRun | undefined): void => {
          if (ended) return;
          send('end', { status: run?.status ?? lastStatus, run: run ?? null });
          ended = true;
          for (const step of cleanup) step();
          res.end();
        };
        const onStatus = (runId: string, status: QueueRunStatus): void => {
          if (runId !== id) return;
          const shown = status === 'waiting' ? 'queued' : status;
          if (shown !== lastStatus) send('status', { status: shown });
          lastStatus = shown;
          if (isFinal(shown)) void api.runs.get(id).then(finish, () => finish(undefined));
        };
        const onProgress = (runId: string, progress: RunProgress): void => {
          if (runId === id) send('progress', progress);
        };
        const onLog = (runId: string, line: QueueLogLine): void => {
          if (runId === id) send('log', line);
        };
        api.feed.on('status', onStatus);
        api.feed.on('progress', onProgress);
        api.feed.on('log', onLog);
        const poll = setInterval(() => {
          void api.runs.get(id).then((run) => {
            if (!run || ended) return;
            if (run.status !== lastStatus) {
              send('status', { status: run.status });
              lastStatus = run.status;
            }
            if (isFinal(run.status)) finish(run);
          }, () => {});
        }, POLL_MS);
        const heartbeat = setInterval(() => {
          if (!ended) res.write(': keep-alive\n\n');
        }, HEARTBEAT_MS);
        const onClose = (): void => finish(undefined);
        api.closing.addEventListener('abort', onClose);
        cleanup.push(() => {
          api.feed.off('status', onStatus);
          api.feed.off('progress', onProgress);
          api.feed.off('log', onLog);
          clearInterval(poll);
          clearInterval(heartbeat);
          api.closing.removeEventListener('abort', onClose);
        });
        // The response's close (the client went away); the request's fires as soon as its (empty) body is read.
        res.on('close', () => {
          if (ended) return;
          ended = true;
          for (const step of cleanup) step();
        });

        // What happened before the client connected: the lines so far, the status, the latest progress.
        for (const line of await runLogs(api, id, { limit: 5000 })) send('log', line);
        lastStatus = first.status;
        send('status', { status: first.status });
        if (first.progress) send('progress', first.progress);
        if (isFinal(first.status)) finish(first);
      },
    }),
    route({
      method: 'POST', path: '/api/runs/:id/abort', role: 'operator', tag: 'runs', params: runId, audit: 'abort',
      summary: 'Abort a queued or running run (a backup wherever its worker is, or a restore).',
      responses: { 202: { description: 'Asked: the run ends `aborted` within seconds.', schema: runAborting } },
      errors: { 409: 'The run has already ended (`RUN_ENDED`, `QUEUE_RUN_ENDED`): there is nothing to abort.' },
      async handle(ctx) {
        ctx.audit.target = ctx.params.id!;
        await abortRun(api, ctx.params.id!);
        return { status: 202, body: { runId: ctx.params.id!, status: 'aborting' } };
      },
    }),
    route({
      method: 'DELETE', path: '/api/runs/:id', role: 'operator', tag: 'runs', params: runId, audit: 'delete-run',
      summary: 'Remove a queued run, or abort a running one.',
      responses: { 200: { description: 'Removed from the queue.', schema: runRemoved }, 202: { description: 'It was running: aborting.', schema: runAborting } },
      errors: { 409: 'The run has already ended (`RUN_ENDED`), or left the queue or started while being removed (`QUEUE_RUN_ENDED`, `QUEUE_RUN_REMOVED`, `QUEUE_RUN_STARTED`).' },
      async handle(ctx) {
        const id = ctx.params.id!;
        ctx.audit.target = id;
        const info = api.restores.has(id) ? undefined : await api.queue.get(id);
        if (info && (info.status === 'queued' || info.status === 'waiting')) {
          try {
            await api.queue.remove(id);
            return { status: 200, body: { runId: id, status: 'removed' } };
          } catch (error) {
            // It started between the look and the removal: abort it instead.
            if ((error as { code?: string }).code !== 'QUEUE_RUN_STARTED') throw error;
          }
        }
        await abortRun(api, id);
        return { status: 202, body: { runId: id, status: 'aborting' } };
      },
    }),
  ];
}
