import type { Snapshot } from '@cairn/core';

const byteUnits = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** `512 B`, `1.5 KiB`, `850.0 MiB`: binary units, one decimal. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.max(0, Math.round(bytes || 0))} B`;
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < byteUnits.length - 1) {
    value /= 1024;
    unit++;
  }
  // 1023.96 KiB would print as "1024.0 KiB"; step up instead.
  if (value.toFixed(1) === '1024.0' && unit < byteUnits.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${byteUnits[unit]}`;
}

/** `850 ms`, `12.3s`, `4m05s`, `2h03m`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const totalSeconds = Math.round(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, '0')}m`;
  return `${minutes}m${String(seconds).padStart(2, '0')}s`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** `2024-05-01 13:45:10` in local time: what a person compares with their clock. */
export function formatTime(time: string | number | Date): string {
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) return String(time);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** `drwxr-xr-x`, `-rw-r--r--`, `lrwxrwxrwx`. */
export function formatMode(type: 'file' | 'dir' | 'symlink', mode: number): string {
  const kind = type === 'dir' ? 'd' : type === 'symlink' ? 'l' : '-';
  const bits = 'rwxrwxrwx';
  let text = '';
  for (let i = 0; i < 9; i++) text += mode & (1 << (8 - i)) ? bits[i] : '-';
  return kind + text;
}

export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

/** The first 8 hex digits of a snapshot id or a UUID run id; a chosen run id (`schedule.docs.2026-…`) whole. */
export function shortId(id: string): string {
  return /^[0-9a-f]{8}/i.test(id) ? id.slice(0, 8) : id;
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return all
    .map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ').trimEnd())
    .join('\n');
}

/** The shape `--json` listings use for a snapshot. */
export interface SnapshotJson {
  id: string;
  shortId: string;
  time: string;
  host: string;
  paths: string[];
  tags: string[];
  parent?: string;
  summary: Snapshot['summary'];
}

export function snapshotJson(snapshot: Snapshot): SnapshotJson {
  return {
    id: snapshot.id,
    shortId: shortId(snapshot.id),
    time: snapshot.time,
    host: snapshot.host,
    paths: [...snapshot.paths],
    tags: [...snapshot.tags],
    ...(snapshot.parent ? { parent: snapshot.parent } : {}),
    summary: snapshot.summary,
  };
}

/** One line for a finished backup, e.g. `snapshot 1a2b3c4d saved: 8200 files (12 new, …), 850.0 MiB read, 2.1 MiB added in 12.3s`. */
export function backupLine(snapshot: Snapshot): string {
  const s = snapshot.summary;
  const files = s.filesNew + s.filesChanged + s.filesUnchanged;
  return `snapshot ${shortId(snapshot.id)} saved: ${plural(files, 'file')} (${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnchanged} unchanged), `
    + `${formatBytes(s.bytesRead)} read, ${formatBytes(s.bytesAdded)} added in ${formatDuration(s.durationMs)}`;
}

/** The snapshot table of `cairn snapshots` and `cairn forget`. */
export function snapshotTable(snapshots: Snapshot[], extra?: { header: string; cell(snapshot: Snapshot): string }): string {
  const header = ['ID', 'Time', 'Host', 'Tags', 'Files', 'Size', 'Paths'];
  if (extra) header.splice(6, 0, extra.header);
  const rows = snapshots.map((snapshot) => {
    const s = snapshot.summary;
    const row = [
      shortId(snapshot.id),
      formatTime(snapshot.time),
      snapshot.host,
      snapshot.tags.join(',') || '-',
      String(s.filesNew + s.filesChanged + s.filesUnchanged),
      formatBytes(s.bytesTotal),
      snapshot.paths.join(', ') + (s.complete ? '' : ' (incomplete)'),
    ];
    if (extra) row.splice(6, 0, extra.cell(snapshot));
    return row;
  });
  return table(header, rows);
}

/** Writes one JSON value followed by a newline. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * Prints a JSON array an element at a time, exactly as `toJson` prints it whole, for listings too
 * long to gather first. One element is held back, to know whether a comma follows it.
 */
export function jsonArrayPrinter(print: (line: string) => void): { add(value: unknown): void; end(): void } {
  let held: string | undefined;
  return {
    add(value) {
      print(held === undefined ? '[' : `${held},`);
      held = JSON.stringify(value, null, 2).replace(/^/gm, '  ');
    },
    end() {
      print(held === undefined ? '[]' : `${held}\n]`);
    },
  };
}
