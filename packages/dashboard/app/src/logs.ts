import type { LogEntry } from './api.js';

/**
 * A run's log lines from the last load followed by those heard live since, each once, oldest
 * first. A line is the same line when it has the same `seq`, or, for lines without one (heard
 * live from the queue), the same time, level and message. Lines of the same time keep their order.
 */
export function mergeLogs(loaded: readonly LogEntry[], heard: readonly LogEntry[]): LogEntry[] {
  const seen = new Set<string>();
  const out: LogEntry[] = [];
  for (const line of [...loaded, ...heard]) {
    const content = `${line.time}\u0000${line.level}\u0000${line.message}`;
    const key = typeof line.seq === 'number' ? `#${line.seq}` : content;
    if (seen.has(key) || seen.has(content)) continue;
    seen.add(key);
    seen.add(content);
    out.push(line);
  }
  return out
    .map((line, index) => ({ line, index }))
    .sort((a, b) => timeOf(a.line) - timeOf(b.line) || (a.line.seq ?? Infinity) - (b.line.seq ?? Infinity) || a.index - b.index)
    .map(({ line }) => line);
}

function timeOf(line: LogEntry): number {
  const time = Date.parse(line.time);
  return Number.isNaN(time) ? 0 : time;
}
