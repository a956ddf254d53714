import { HttpError } from './http.js';

/**
 * A sliding window per subject: at most `limit` triggers in any minute. Refused requests do not
 * count, so a client that waits `Retry-After` seconds gets through.
 */
export function createRateLimiter(limit: number, windowMs = 60_000, now: () => number = Date.now): (subject: string) => void {
  const seen = new Map<string, number[]>();
  return (subject) => {
    const time = now();
    const recent = (seen.get(subject) ?? []).filter((at) => at > time - windowMs);
    if (recent.length >= limit) {
      const retryAfter = Math.max(1, Math.ceil((recent[0]! + windowMs - time) / 1000));
      seen.set(subject, recent);
      throw new HttpError(429, 'RATE_LIMITED', `at most ${limit} backups and restores a minute per user: try again in ${retryAfter} s`, { headers: { 'retry-after': String(retryAfter) } });
    }
    recent.push(time);
    seen.set(subject, recent);
    // Forget subjects with nothing recent, so the map does not grow with every token ever seen.
    if (seen.size > 10_000) for (const [key, times] of seen) if (times.every((at) => at <= time - windowMs)) seen.delete(key);
  };
}
