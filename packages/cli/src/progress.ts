import type { Cairn, ProgressEvent } from '@cairn/core';
import { formatBytes, formatDuration, formatRate, plural } from './output.js';

/** What a running operation reports; every field is optional so backup, restore and check can share the bar. */
export interface ProgressState {
  filesDone?: number;
  filesTotal?: number;
  bytesDone?: number;
  bytesTotal?: number;
  bytesAdded?: number;
  /** For check: packs verified so far of packsTotal. */
  packsDone?: number;
  packsTotal?: number;
  currentPath?: string;
}

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBar {
  update(state: ProgressState): void;
  /** Erases the bar so the next line starts clean. Safe to call twice. */
  done(): void;
}

/** Redraws at most this often: enough to look alive, cheap enough never to slow a run. */
const minIntervalMs = 100;

const noop: ProgressBar = { update() {}, done() {} };

/** A one-line bar on stderr; a no-op unless `enabled` (a TTY, no --json, no --quiet). */
export function createProgressBar(stream: ProgressStream, options: { enabled: boolean; label: string; now?: () => number }): ProgressBar {
  if (!options.enabled) return noop;
  const now = options.now ?? Date.now;
  const started = now();
  let latest: ProgressState = {};
  let lastDraw = 0;
  let drawn = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let finished = false;

  const draw = (): void => {
    timer = undefined;
    if (finished) return;
    lastDraw = now();
    const width = Math.max(20, (stream.columns ?? 80) - 1);
    stream.write(`\r${renderProgressLine(options.label, latest, lastDraw - started, width)}\x1b[K`);
    drawn = true;
  };

  return {
    update(state) {
      if (finished) return;
      latest = { ...latest, ...state };
      const wait = minIntervalMs - (now() - lastDraw);
      if (wait <= 0) draw();
      else if (!timer) {
        timer = setTimeout(draw, wait);
        timer.unref?.();
      }
    },
    done() {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}

/** `backup  1234 files  850.0 MiB  45.2 MiB/s  42% ETA 12.0s  photos/a.jpg`, cut to `width`. */
export function renderProgressLine(label: string, state: ProgressState, elapsedMs: number, width: number): string {
  const parts = [label];
  if (state.filesDone !== undefined) {
    parts.push(state.filesTotal ? `${state.filesDone}/${state.filesTotal} files` : plural(state.filesDone, 'file'));
  }
  const bytesDone = state.bytesDone ?? 0;
  if (state.bytesDone !== undefined) {
    parts.push(state.bytesTotal ? `${formatBytes(bytesDone)}/${formatBytes(state.bytesTotal)}` : formatBytes(bytesDone));
  }
  if (state.bytesAdded !== undefined) parts.push(`+${formatBytes(state.bytesAdded)} added`);
  if (state.packsDone !== undefined) parts.push(state.packsTotal ? `${state.packsDone}/${state.packsTotal} packs` : plural(state.packsDone, 'pack'));
  if (state.bytesDone !== undefined && elapsedMs >= 1000) parts.push(formatRate((bytesDone * 1000) / elapsedMs));
  const ratio = state.bytesTotal ? bytesDone / state.bytesTotal : state.packsTotal ? (state.packsDone ?? 0) / state.packsTotal : undefined;
  if (ratio !== undefined) {
    const clamped = Math.min(1, Math.max(0, ratio));
    parts.push(`${Math.floor(clamped * 100)}%`);
    // Time so far scaled by what is left: no ETA until there is something to scale.
    if (clamped > 0 && clamped < 1 && elapsedMs >= 1000) parts.push(`ETA ${formatDuration((elapsedMs * (1 - clamped)) / clamped)}`);
  }
  let line = parts.join('  ');
  if (state.currentPath) {
    const room = width - line.length - 2;
    if (room >= 8) line += `  ${state.currentPath.length > room ? `…${state.currentPath.slice(-(room - 1))}` : state.currentPath}`;
  }
  return line.length > width ? line.slice(0, width) : line;
}

/** Runs `work` with `bar` following the orchestrator's progress events for `operation`; the bar is always cleared. */
export async function withProgress<T>(cairn: Cairn, bar: ProgressBar, operation: ProgressEvent['operation'], work: () => Promise<T>): Promise<T> {
  const unfollow = followProgress(cairn, bar, operation);
  try {
    return await work();
  } finally {
    unfollow();
    bar.done();
  }
}

/** Feeds the orchestrator's `progress` events for one kind of run into `bar`; returns the unsubscribe. */
export function followProgress(cairn: Cairn, bar: ProgressBar, operation: ProgressEvent['operation']): () => void {
  const listener = (event: ProgressEvent): void => {
    if (event.operation !== operation) return;
    bar.update({
      filesDone: event.filesDone,
      bytesDone: event.bytesDone,
      ...(event.bytesAdded !== undefined ? { bytesAdded: event.bytesAdded } : {}),
      ...(event.filesTotal !== undefined ? { filesTotal: event.filesTotal } : {}),
      ...(event.bytesTotal !== undefined ? { bytesTotal: event.bytesTotal } : {}),
      ...(event.packsDone !== undefined ? { packsDone: event.packsDone } : {}),
      ...(event.packsTotal !== undefined ? { packsTotal: event.packsTotal } : {}),
      ...(event.currentPath !== undefined ? { currentPath: event.currentPath } : {}),
    });
  };
  cairn.events.on('progress', listener);
  return () => {
    cairn.events.off('progress', listener);
  };
}
