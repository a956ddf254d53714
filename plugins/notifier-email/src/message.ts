import { formatSize } from '@cairn/core';
import type { RunNotification } from '@cairn/core';

function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

const SIGN = { succeeded: '✔', failed: '✖', aborted: '■' } as const;

/** `✔ job docs (production) succeeded — 1.2 GiB read, 40.0 MiB added`: what a person acts on from the inbox. */
export function subjectOf(n: RunNotification, prefix: string): string {
  const what = n.job ? `job ${n.job}${n.environment ? ` (${n.environment})` : ''}` : n.operation;
  const detail = n.status === 'succeeded'
    ? `${n.bytesRead !== undefined ? `${formatSize(n.bytesRead)} read, ` : ''}${n.bytesAdded !== undefined ? `${formatSize(n.bytesAdded)} added` : ''}${n.snapshot?.incomplete ? `, ${n.warnings} skipped` : ''}`
    : n.error ? `${n.error.code}: ${n.error.message}` : '';
  const subject = `${prefix ? `${prefix} ` : ''}${SIGN[n.status]} ${what} ${n.status}${detail ? ` — ${detail}` : ''}`;
  // One line, and short enough for every mail client.
  return subject.replace(/[\r\n]+/g, ' ').slice(0, 200);
}

/** Every field of the notification, one per line, as label and value. */
export function fieldsOf(n: RunNotification): Array<[string, string]> {
  const rows: Array<[string, string | undefined]> = [
    ['Job', n.job],
    ['Environment', n.environment],
    ['Operation', n.operation],
    ['Status', n.status],
    ['Error', n.error ? `${n.error.code}: ${n.error.message}` : undefined],
    ['Started', n.startedAt],
    ['Ended', n.endedAt],
    ['Duration', duration(n.durationMs)],
    ['Read', n.bytesRead !== undefined ? formatSize(n.bytesRead) : undefined],
    ['Added to the repository', n.bytesAdded !== undefined ? formatSize(n.bytesAdded) : undefined],
    ['Files', n.filesTotal !== undefined ? String(n.filesTotal) : undefined],
    ['Skipped entries', n.warnings ? `${n.warnings} (the snapshot is incomplete)` : undefined],
    ['Snapshot', n.snapshot ? `${n.snapshot.id} (${n.snapshot.time})` : undefined],
    ['Repository', n.repository],
    ['Requested by', n.requestedBy],
    ['Run', `${n.runId} — details: cairn logs ${n.runId}`],
  ];
  return rows.filter((row): row is [string, string] => row[1] !== undefined);
}

export function textOf(n: RunNotification): string {
  const rows = fieldsOf(n);
  const width = Math.max(...rows.map(([label]) => label.length));
  return `${rows.map(([label, value]) => `${`${label}:`.padEnd(width + 2)}${value}`).join('\n')}\n`;
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function htmlOf(n: RunNotification, subject: string): string {
  const rows = fieldsOf(n).map(([label, value]) => `<tr><th scope="row" style="text-align:left;padding-right:1em">${escape(label)}</th><td>${escape(value)}</td></tr>`);
  return `<!doctype html><html><body><h1 style="font-size:1.2em">${escape(subject)}</h1><table>${rows.join('')}</table></body></html>\n`;
}
