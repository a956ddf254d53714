/*
 * How numbers, times and progress read on screen. Pure functions, no DOM: unit-tested in Node.
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** `1536` → `1.5 KiB`; one decimal below 10 of a unit, none above. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return '—';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${value} B`;
  const text = value < 10 ? value.toFixed(1) : Math.round(value).toString();
  return `${text} ${UNITS[unit]}`;
}

/** `1234567` → `1,234,567`. */
export function formatCount(count: number | null | undefined): string {
  if (count === null || count === undefined || !Number.isFinite(count)) return '—';
  return Math.round(count).toLocaleString('en-US');
}

/** A duration for people: `850 ms`, `42 s`, `3 min 5 s`, `2 h 4 min`, `3 d 1 h`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 === 0 ? `${minutes} min` : `${minutes} min ${seconds % 60} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days} d` : `${days} d ${hours % 24} h`;
}

/** Bytes per second as `12 MiB/s`. */
export function formatRate(bytesPerSecond: number | null | undefined): string {
  if (bytesPerSecond === null || bytesPerSecond === undefined || !Number.isFinite(bytesPerSecond) || bytesPerSecond < 0) return '—';
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** An ISO time in the reader's time zone, to the second (`2025-01-02 03:04:05`), or `—`. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '—';
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** The first 8 characters of a snapshot id, as listings show it. */
export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : '—';
}

/** What a run has reported so far. */
export interface ProgressInput {
  bytesDone?: number | undefined;
  filesDone?: number | undefined;
  /** 0…1 when the run knows its total. */
  ratio?: number | undefined;
  bytesTotal?: number | undefined;
  filesTotal?: number | undefined;
}

/** What the progress bar and its figures show. */
export interface ProgressFigures {
  bytesDone: number;
  filesDone: number;
  /** 0…1, or undefined when the total is unknown (the bar is then indeterminate). */
  ratio: number | undefined;
  bytesTotal: number | undefined;
  /** Average bytes per second since the run started; undefined before there is anything to average. */
  rate: number | undefined;
  /** Time left at that rate; undefined when the total or the rate is unknown. */
  etaMs: number | undefined;
}

/**
 * The figures of a running run: the ratio from the run's own or from its byte total, the average
 * rate since `startedAt`, and the time left at that rate. An average over the whole run, not the
 * last second, so that the ETA does not jump with each small file.
 */
export function progressFigures(progress: ProgressInput | undefined, startedAt: string | undefined, now: number): ProgressFigures {
  const bytesDone = finite(progress?.bytesDone) ?? 0;
  const filesDone = finite(progress?.filesDone) ?? 0;
  let bytesTotal = finite(progress?.bytesTotal);
  let ratio = finite(progress?.ratio);
  if (ratio === undefined && bytesTotal !== undefined && bytesTotal > 0) ratio = bytesDone / bytesTotal;
  if (ratio !== undefined) ratio = Math.min(1, Math.max(0, ratio));
  if (bytesTotal === undefined && ratio !== undefined && ratio > 0) bytesTotal = bytesDone / ratio;
  const started = startedAt ? Date.parse(startedAt) : Number.NaN;
  const elapsedMs = Number.isNaN(started) ? undefined : now - started;
  const rate = elapsedMs !== undefined && elapsedMs > 0 && bytesDone > 0 ? bytesDone / (elapsedMs / 1000) : undefined;
  let etaMs: number | undefined;
  if (ratio !== undefined && ratio >= 1) etaMs = 0;
  else if (bytesTotal !== undefined && rate !== undefined && rate > 0) etaMs = Math.max(0, ((bytesTotal - bytesDone) / rate) * 1000);
  else if (ratio !== undefined && ratio > 0 && elapsedMs !== undefined && elapsedMs > 0) etaMs = (elapsedMs * (1 - ratio)) / ratio;
  return { bytesDone, filesDone, ratio, bytesTotal, rate, etaMs };
}

function finite(value: number | undefined): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** `datetime-local` input value (local time, no zone) → ISO-8601 in UTC, or undefined when empty or invalid. */
export function localInputToIso(value: string): string | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** The parent of a `/`-separated path inside a snapshot (`a/b/c` → `a/b`, `a` → ``). */
export function parentPath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  const cut = trimmed.lastIndexOf('/');
  return cut < 0 ? '' : trimmed.slice(0, cut);
}

/** `a/b/c` → the crumbs `[{ name: 'a', path: 'a' }, { name: 'b', path: 'a/b' }, { name: 'c', path: 'a/b/c' }]`. */
export function pathCrumbs(path: string): Array<{ name: string; path: string }> {
  const parts = path.split('/').filter((part) => part !== '');
  return parts.map((name, index) => ({ name, path: parts.slice(0, index + 1).join('/') }));
}

/** A fresh folder name for a restore, from the time (UTC), so that two restores never meet: `restore-2026-11-22-10-00-05`. */
export function restoreFolderName(now: Date): string {
  return `restore-${now.toISOString().slice(0, 19).replace(/[:T]/g, '-')}`;
}

/**
 * Why `value` cannot be a restore's folder, or undefined when it can. The server refuses the same
 * (its folder is relative to the server's restore folder); saying so here spares a round trip.
 */
export function restoreFolderProblem(value: string): string | undefined {
  const folder = value.trim();
  if (folder === '') return 'Enter a name for the new folder, like restore-2026-11-22-10-00.';
  if (folder.startsWith('/')) return 'Enter the folder as a name inside the restore folder, without a leading /, like restore-2026-11-22-10-00.';
  const segments = folder.split('/');
  if (segments.includes('..')) return 'The folder cannot contain "..": it must stay inside the restore folder.';
  if (segments.every((segment) => segment === '' || segment === '.')) return 'Enter a name for the new folder, like restore-2026-11-22-10-00.';
  return undefined;
}
