import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError } from './api.js';
import { screenChanged } from './router.js';
import type { ApiClient, Progress, Run, RunStatus } from './api.js';
import { formatBytes, formatCount, formatDuration, formatRate, progressFigures } from './format.js';

export const ApiContext = createContext<ApiClient | undefined>(undefined);

export function useApi(): ApiClient {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi outside a signed-in page');
  return api;
}

/** A screen: its heading takes the focus when the screen opens, so a screen reader says where you are. */
export function Page(props: { title: string; children: ReactNode; actions?: ReactNode }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${props.title} · Cairn`;
    // Not on the first page load: there the browser starts at the top, with Skip to content first.
    if (screenChanged()) heading.current?.focus();
  }, [props.title]);
  return (
    <>
      <div className="page-head">
        <h1 ref={heading} tabIndex={-1}>{props.title}</h1>
        {props.actions ? <div className="actions">{props.actions}</div> : null}
      </div>
      {props.children}
    </>
  );
}

const STATUS_TEXT: Record<RunStatus, { icon: string; text: string }> = {
  queued: { icon: '◷', text: 'Queued' },
  running: { icon: '▶', text: 'Running' },
  succeeded: { icon: '✓', text: 'Succeeded' },
  failed: { icon: '✕', text: 'Failed' },
  aborted: { icon: '■', text: 'Aborted' },
  removed: { icon: '–', text: 'Removed' },
};

/** A run's status as an icon and a word; the colour only repeats what the word says. */
export function StatusBadge(props: { status: RunStatus }) {
  const label = STATUS_TEXT[props.status] ?? { icon: '?', text: props.status };
  return (
    <span className={`status status-${props.status}`}>
      <span aria-hidden="true">{label.icon}</span> {label.text}
    </span>
  );
}

export function ErrorNote(props: { error: unknown; title?: string }) {
  if (props.error === undefined || props.error === null) return null;
  const text = props.error instanceof ApiError ? props.error.describe() : props.error instanceof Error ? props.error.message : String(props.error);
  return (
    <div className="note note-error" role="alert">
      <strong><span aria-hidden="true">⚠ </span>{props.title ?? 'Error'}:</strong> {text}
    </div>
  );
}

/** A wide table scrolls inside its own box at high zoom; the box is focusable so the keyboard can scroll it. */
export function TableBox(props: { label: string; children: ReactNode }) {
  return (
    <div className="table-box" role="region" aria-label={props.label} tabIndex={0}>
      {props.children}
    </div>
  );
}

/** A run's progress bar and its figures: bytes, files, rate, time left. */
export function RunProgress(props: { run: Run; now: number; compact?: boolean }) {
  const { run } = props;
  const active = run.status === 'running' || run.status === 'queued';
  // An ended run's own figures are final; its last progress report may be older.
  const reported = active ? (run.progress ?? undefined) : {
    bytesDone: run.bytesRead ?? run.bytesWritten ?? run.progress?.bytesDone,
    filesDone: run.files ?? run.progress?.filesDone,
    ...(run.status === 'succeeded' ? { ratio: 1 } : {}),
  } as Progress;
  const figures = progressFigures(reported, run.startedAt ?? undefined, props.now);
  const percent = figures.ratio === undefined ? undefined : Math.round(figures.ratio * 100);
  const label = `Progress of run ${run.id}`;
  return (
    <div className="progress">
      {active ? (
        <progress aria-label={label} max={100} {...(percent !== undefined ? { value: percent } : {})}>
          {percent !== undefined ? `${percent} %` : 'in progress'}
        </progress>
      ) : (
        <progress aria-label={label} max={100} value={run.status === 'succeeded' ? 100 : (percent ?? 0)} />
      )}
      <p className="progress-text">
        {percent !== undefined ? <strong>{percent} % · </strong> : null}
        {formatBytes(figures.bytesDone)}
        {figures.bytesTotal !== undefined ? ` of ${formatBytes(figures.bytesTotal)}` : ''} · {formatCount(figures.filesDone)} files
        {active ? <> · {formatRate(figures.rate)} · {figures.etaMs === undefined ? 'time left unknown' : `${formatDuration(figures.etaMs)} left`}</> : null}
      </p>
      {!props.compact && run.progress?.message ? <p className="progress-path"><span className="sr-only">Now at </span><code>{run.progress.message}</code></p> : null}
    </div>
  );
}

/** Loads something, and loads it again on `reload()` or every `pollMs` while `poll` is true. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[], options: { pollMs?: number; poll?: boolean } = {}) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    load(controller.signal).then(
      (value) => { if (!controller.signal.aborted) { setData(value); setError(undefined); setLoading(false); } },
      (failure: unknown) => { if (!controller.signal.aborted) { setError(failure); setLoading(false); } },
    );
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const { pollMs, poll = true } = options;
  useEffect(() => {
    if (!pollMs || !poll) return undefined;
    const timer = setInterval(reload, pollMs);
    return () => clearInterval(timer);
  }, [pollMs, poll, reload]);
  return { data, error, loading, reload };
}

/** The current time, updated every `ms` while `active`: for elapsed times and ETAs between updates. */
export function useNow(ms: number, active = true): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return undefined;
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms, active]);
  return now;
}

export function Loading(props: { what: string }) {
  return <p className="muted" role="status">Loading {props.what}…</p>;
}
