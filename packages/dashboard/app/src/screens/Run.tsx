import { useEffect, useRef, useState } from 'react';
import { isActive } from '../api.js';
import type { LogEntry, LogLevel, Progress, Run, RunStatus } from '../api.js';
import { ErrorNote, Loading, Page, RunProgress, StatusBadge, TableBox, useApi, useLoad, useNow } from '../components.js';
import { formatBytes, formatCount, formatDuration, formatTime, shortId } from '../format.js';
import { mergeLogs } from '../logs.js';
import { Link } from '../router.js';
import { runTitle } from './Runs.js';

const LEVELS: Array<{ value: LogLevel; label: string }> = [
  { value: 'debug', label: 'Everything' },
  { value: 'info', label: 'Info and above' },
  { value: 'warn', label: 'Warnings and errors' },
  { value: 'error', label: 'Errors only' },
];
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const LEVEL_ICON: Record<LogLevel, string> = { debug: '·', info: 'ℹ', warn: '⚠', error: '✕' };

/** One run: live progress (Server-Sent Events), times, status, abort, and its log. */
export function RunScreen(props: { id: string }) {
  const api = useApi();
  const [live, setLive] = useState<{ progress?: Progress; status?: RunStatus; logs: LogEntry[] }>({ logs: [] });
  const detail = useLoad(async (signal) => {
    const loaded = await api.run(props.id, signal);
    setLive((current) => ({ logs: current.logs.filter((line) => line.seq === undefined || !loaded.logs.some((have) => have.seq === line.seq)) }));
    return loaded;
  }, [api, props.id], { pollMs: 5000 });
  const baseRun = detail.data?.run;
  const status = live.status ?? baseRun?.status;
  const active = isActive(status);
  const now = useNow(1000, active);
  const [minLevel, setMinLevel] = useState<LogLevel>('info');
  const [abortState, setAbortState] = useState<{ busy: boolean; error?: unknown; asked?: boolean }>({ busy: false });
  const reload = detail.reload;
  const baseActive = isActive(baseRun?.status);
  const jobs = useLoad(() => api.jobs(), [api]);
  const logRef = useRef<HTMLElement>(null);

  // Live updates while the run is active; the poll above covers a stream that cannot connect.
  useEffect(() => {
    if (!baseActive || typeof EventSource === 'undefined') return undefined;
    const source = new EventSource(api.eventsUrl(props.id));
    const parse = (event: MessageEvent<string>): unknown => {
      try { return JSON.parse(event.data); } catch { return undefined; }
    };
    source.addEventListener('progress', (event) => {
      const data = parse(event as MessageEvent<string>) as (Progress & { progress?: Progress }) | undefined;
      if (data) setLive((current) => ({ ...current, progress: data.progress ?? data }));
    });
    source.addEventListener('status', (event) => {
      const data = parse(event as MessageEvent<string>) as { status?: RunStatus } | RunStatus | undefined;
      const next = typeof data === 'string' ? data : data?.status;
      if (next) setLive((current) => ({ ...current, status: next }));
    });
    source.addEventListener('log', (event) => {
      const data = parse(event as MessageEvent<string>) as LogEntry | undefined;
      if (data && typeof data.message === 'string') setLive((current) => ({ ...current, logs: mergeLogs(current.logs, [data]) }));
    });
    source.addEventListener('end', () => {
      source.close();
      reload();
    });
    return () => source.close();
  }, [api, props.id, baseActive, reload]);

  // A link to `#log` (from the history) lands on the log once it is there.
  useEffect(() => {
    if (detail.data && window.location.hash === '#log') logRef.current?.scrollIntoView();
  }, [detail.data]);

  if (!detail.data) {
    return (
      <Page title={`Run ${props.id}`}>
        <ErrorNote error={detail.error} title="Cannot load this run" />
        {detail.loading ? <Loading what="the run" /> : null}
      </Page>
    );
  }

  const run: Run = { ...detail.data.run, ...(status ? { status } : {}), ...(live.progress && active ? { progress: live.progress } : {}) };
  const logs = mergeLogs(detail.data.logs, live.logs).filter((line) => RANK[line.level] >= RANK[minLevel]);
  const abort = async (): Promise<void> => {
    setAbortState({ busy: true });
    try {
      await api.abortRun(run.id);
      setAbortState({ busy: false, asked: true });
      reload();
    } catch (error) {
      setAbortState({ busy: false, error });
    }
  };
  const repository = jobs.data?.find((job) => job.name === run.job)?.repository ?? undefined;

  return (
    <Page
      title={runTitle(run)}
      actions={active ? <button type="button" className="danger" onClick={abort} disabled={abortState.busy || abortState.asked}>{abortState.asked ? 'Abort requested' : abortState.busy ? 'Aborting…' : 'Abort run'}</button> : null}
    >
      <p className="muted">Run <code>{run.id}</code></p>
      <ErrorNote error={abortState.error} title="Cannot abort" />
      <ErrorNote error={detail.error} title="Cannot refresh" />
      <div className="panel">
        <p role="status" aria-live="polite" className="run-status">Status: <StatusBadge status={run.status} /></p>
        <RunProgress run={run} now={now} />
        {run.error ? <div className="note note-error"><strong><span aria-hidden="true">✕ </span>{run.error.code}:</strong> {run.error.message}</div> : null}
        <dl className="figures">
          <div><dt>Started</dt><dd>{formatTime(run.startedAt)}</dd></div>
          <div><dt>Ended</dt><dd>{active ? 'not yet' : formatTime(run.endedAt)}</dd></div>
          <div><dt>Duration</dt><dd>{formatDuration(run.durationMs ?? (run.startedAt && active ? now - Date.parse(run.startedAt) : undefined))}</dd></div>
          {run.operation === 'restore'
            ? <div><dt>Written</dt><dd>{formatBytes(run.bytesWritten ?? run.progress?.bytesDone)}</dd></div>
            : <>
              <div><dt>Read</dt><dd>{formatBytes(run.bytesRead ?? run.progress?.bytesDone)}</dd></div>
              <div><dt>Added to the repository</dt><dd>{formatBytes(run.bytesAdded)}</dd></div>
            </>}
          <div><dt>Files</dt><dd>{formatCount(run.files ?? run.progress?.filesDone)}</dd></div>
          <div><dt>Requested by</dt><dd>{run.requestedBy ?? '—'}</dd></div>
          {run.environment ? <div><dt>Environment</dt><dd>{run.environment}</dd></div> : null}
          {run.snapshotId ? (
            <div>
              <dt>Snapshot</dt>
              <dd>{repository
                ? <Link to={`/snapshots/${encodeURIComponent(repository)}/${encodeURIComponent(run.snapshotId)}`}><code>{shortId(run.snapshotId)}</code></Link>
                : <code>{shortId(run.snapshotId)}</code>}</dd>
            </div>
          ) : null}
        </dl>
      </div>
      <section aria-labelledby="log-title" id="log" ref={logRef}>
        <div className="section-head">
          <h2 id="log-title">Log</h2>
          <div className="field inline">
            <label htmlFor="log-level">Show</label>
            <select id="log-level" value={minLevel} onChange={(event) => setMinLevel(event.target.value as LogLevel)}>
              {LEVELS.map((level) => <option key={level.value} value={level.value}>{level.label}</option>)}
            </select>
          </div>
        </div>
        {logs.length === 0 ? <p className="muted">No log lines at this level{active ? ' yet' : ''}.</p> : (
          <TableBox label="Log lines">
            <table className="log">
              <caption className="sr-only">Log of run {run.id}</caption>
              <thead><tr><th scope="col">Time</th><th scope="col">Level</th><th scope="col">Message</th></tr></thead>
              <tbody>
                {logs.map((line, index) => (
                  <tr key={line.seq ?? `live-${index}`} className={`level-${line.level}`}>
                    <td>{formatTime(line.time)}</td>
                    <td><span aria-hidden="true">{LEVEL_ICON[line.level]} </span>{line.level}</td>
                    <td>{line.message}{line.fields && Object.keys(line.fields).length > 0 ? <small className="fields"> {fieldsText(line.fields)}</small> : null}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
      </section>
    </Page>
  );
}

function fieldsText(fields: Record<string, unknown>): string {
  return Object.entries(fields).filter(([key]) => key !== 'run').map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`).join(' ');
}
