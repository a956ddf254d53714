import { RepositoryError } from './errors.js';
import type { RetentionPolicy, Snapshot } from './types.js';

const UNIT_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** Parses `30d`, `12h`, `2w`, `6m`, `1y`, `1y6m`; months and years count calendar units back from `from`. */
function durationBefore(duration: string, from: Date): Date {
  const parts = [...duration.matchAll(/(\d+)([hdwmy])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== duration) {
    throw new RepositoryError('INVALID_ARGUMENT', `invalid duration ${JSON.stringify(duration)}: use a number and a unit h, d, w, m or y, e.g. 30d or 1y6m`);
  }
  const at = new Date(from);
  for (const [, amount, unit] of parts) {
    const n = Number(amount);
    if (unit === 'y') at.setUTCFullYear(at.getUTCFullYear() - n);
    else if (unit === 'm') at.setUTCMonth(at.getUTCMonth() - n);
    else at.setTime(at.getTime() - n * UNIT_MS[unit!]!);
  }
  return at;
}

const BUCKETS: Array<[keyof RetentionPolicy, string, (d: Date) => string]> = [
  ['keepHourly', 'hourly', (d) => d.toISOString().slice(0, 13)],
  ['keepDaily', 'daily', (d) => d.toISOString().slice(0, 10)],
  ['keepWeekly', 'weekly', isoWeek],
  ['keepMonthly', 'monthly', (d) => d.toISOString().slice(0, 7)],
  ['keepYearly', 'yearly', (d) => d.toISOString().slice(0, 4)],
];

function isEmptyPolicy(policy: RetentionPolicy): boolean {
  return !policy.keepLast && !policy.keepWithin && !policy.keepTags?.length && BUCKETS.every(([key]) => !policy[key]);
}

/**
 * Decides which snapshots a policy keeps, per group of the same host and sources. Each rule
 * keeps the newest snapshot of each of its N most recent periods; a snapshot kept by any rule
 * is kept. `keepWithin` counts back from the group's newest snapshot, not from now, so a repository
 * that stopped receiving backups does not silently empty itself.
 */
export function applyPolicy(snapshots: Snapshot[], policy: RetentionPolicy): { keep: Array<{ snapshot: Snapshot; reasons: string[] }>; remove: Snapshot[] } {
  if (isEmptyPolicy(policy)) {
    throw new RepositoryError('INVALID_ARGUMENT', 'no retention rule given: refusing to remove every snapshot; pass at least one --keep-* option');
  }
  const groups = new Map<string, Snapshot[]>();
  for (const snapshot of snapshots) {
    const group = `${snapshot.host}\0${snapshot.sources.map((s) => s.name).sort().join('\0')}`;
    groups.set(group, [...(groups.get(group) ?? []), snapshot]);
  }
  const keep: Array<{ snapshot: Snapshot; reasons: string[] }> = [];
  const remove: Snapshot[] = [];
  for (const members of groups.values()) {
    const newestFirst = [...members].sort((a, b) => b.time.localeCompare(a.time));
    const reasons = new Map<Snapshot, string[]>();
    const mark = (snapshot: Snapshot, reason: string): void => {
      reasons.set(snapshot, [...(reasons.get(snapshot) ?? []), reason]);
    };
    newestFirst.slice(0, policy.keepLast ?? 0).forEach((s) => mark(s, 'last'));
    for (const [key, label, bucketOf] of BUCKETS) {
      const limit = policy[key] as number | undefined;
      if (!limit) continue;
      const seen = new Set<string>();
      for (const snapshot of newestFirst) {
        const bucket = bucketOf(new Date(snapshot.time));
        if (seen.has(bucket)) continue;
        if (seen.size >= limit) break;
        seen.add(bucket);
        mark(snapshot, label);
      }
    }
    if (policy.keepWithin && newestFirst[0]) {
      const cutoff = durationBefore(policy.keepWithin, new Date(newestFirst[0].time)).toISOString();
      newestFirst.filter((s) => s.time >= cutoff).forEach((s) => mark(s, `within ${policy.keepWithin}`));
    }
    if (policy.keepTags?.length) {
      newestFirst.filter((s) => s.tags.some((t) => policy.keepTags!.includes(t))).forEach((s) => mark(s, 'tag'));
    }
    for (const snapshot of newestFirst) {
      const why = reasons.get(snapshot);
      if (why) keep.push({ snapshot, reasons: why });
      else remove.push(snapshot);
    }
  }
  return { keep, remove };
}

function isoWeek(date: Date): string {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const day = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}
