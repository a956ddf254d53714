import { describe, expect, it } from 'vitest';
import { ConfigError, Scheduler, defineConfig, memoryScheduleState, parseSchedule } from '../src/index.js';
import type { ScheduleStateStore } from '../src/index.js';
import { memorySource } from './helpers.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** A scheduler over an injected clock: `at(iso)` moves time and ticks; fired slots are recorded. */
function harness(schedules: Record<string, string | { cron: string; missed?: 'catch-up' | 'skip'; timezone?: string }>, state: ScheduleStateStore = memoryScheduleState()) {
  let now = new Date('2026-01-05T10:00:10Z');
  const fired: string[] = [];
  const make = () => new Scheduler({
    schedules: Object.fromEntries(Object.entries(schedules).map(([name, spec]) => [name, parseSchedule(spec, name)])),
    state,
    trigger: (name, slot) => void fired.push(`${name}@${slot.toISOString()}`),
    logger: quiet,
    now: () => now,
  });
  let scheduler = make();
  return {
    fired,
    state,
    get scheduler() {
      return scheduler;
    },
    async at(iso: string) {
      now = new Date(iso);
      await scheduler.tick();
    },
    /** A new process over the same state (a restart). */
    restart() {
      scheduler.stop();
      scheduler = make();
      return scheduler;
    },
  };
}

describe('parseSchedule', () => {
  it('reads cron expressions, shorthands and the object form', () => {
    expect(parseSchedule('daily', 'x')).toEqual({ cron: '0 0 * * *', missed: 'catch-up' });
    expect(parseSchedule('hourly', 'x').cron).toBe('0 * * * *');
    expect(parseSchedule({ cron: '*/5 * * * *', timezone: 'Europe/Paris', missed: 'skip' }, 'x')).toEqual({ cron: '*/5 * * * *', timezone: 'Europe/Paris', missed: 'skip' });
  });

  it('refuses what croner cannot read, naming the path', () => {
    expect(() => parseSchedule('every tuesday', 'jobs.docs.schedule')).toThrow(ConfigError);
    expect(() => parseSchedule('every tuesday', 'jobs.docs.schedule')).toThrow(/^jobs\.docs\.schedule: invalid schedule "every tuesday"/);
    expect(() => parseSchedule({ cron: '0 3 * * *', timezone: 'Mars/Olympus' }, 'p')).toThrow(/in time zone Mars\/Olympus/);
  });

  it('is checked when a config is defined, with every other problem', () => {
    const error = (() => {
      try {
        defineConfig({ repositories: { main: { url: '/r', password: 'p' } }, jobs: { docs: { sources: [memorySource({ name: 'd', files: {} })], repository: 'main', schedule: '61 * * * *' } } });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(error?.problems.join('\n')).toMatch(/jobs\.docs\.schedule: invalid schedule "61 \* \* \* \*"/);
  });
});

describe('Scheduler', () => {
  it('fires a schedule once per slot, never for its past on first start', async () => {
    const h = harness({ minute: '* * * * *' });
    await h.scheduler.start();
    expect(h.fired).toEqual([]); // 10:00:10: the 10:00 slot is the past of a schedule never seen
    await h.at('2026-01-05T10:01:00.010Z');
    await h.at('2026-01-05T10:01:30Z');
    await h.at('2026-01-05T10:02:00.005Z');
    expect(h.fired).toEqual(['minute@2026-01-05T10:01:00.000Z', 'minute@2026-01-05T10:02:00.000Z']);
    h.scheduler.stop();
  });

  it('does not fire twice for a slot across a restart, and catches up once for what it missed while down', async () => {
    const h = harness({ minute: '* * * * *' });
    await h.scheduler.start();
    await h.at('2026-01-05T10:01:00.010Z');
    await h.restart().start(); // same slot, new process
    expect(h.fired).toEqual(['minute@2026-01-05T10:01:00.000Z']);
    await h.at('2026-01-05T10:05:20Z'); // down for four slots: one catch-up run, for the latest
    expect(h.fired).toEqual(['minute@2026-01-05T10:01:00.000Z', 'minute@2026-01-05T10:05:00.000Z']);
    h.scheduler.stop();
  });

  it('pauses and resumes; with `skip`, a resume does not replay what was missed', async () => {
    const h = harness({ nightly: { cron: '0 3 * * *', missed: 'skip' }, hourly: 'hourly' });
    await h.scheduler.start();
    await h.scheduler.pause('nightly');
    expect((await h.scheduler.list()).find((s) => s.name === 'nightly')?.paused).toBe(true);
    await h.at('2026-01-06T03:00:00.010Z');
    expect(h.fired).toEqual(['hourly@2026-01-06T03:00:00.000Z']);
    await h.at('2026-01-06T09:00:00.020Z');
    await h.scheduler.resume('nightly');
    expect(h.fired.filter((f) => f.startsWith('nightly'))).toEqual([]);
    await h.at('2026-01-07T03:00:00.010Z');
    expect(h.fired.filter((f) => f.startsWith('nightly'))).toEqual(['nightly@2026-01-07T03:00:00.000Z']);
    h.scheduler.stop();
  });

  it('with `catch-up`, a resume runs once for the missed slot; pause and resume apply to all without a name', async () => {
    const h = harness({ a: '0 3 * * *', b: '0 4 * * *' });
    await h.scheduler.start();
    await h.scheduler.pause();
    await h.at('2026-01-06T05:00:00Z');
    expect(h.fired).toEqual([]);
    await h.scheduler.resume();
    expect(h.fired.sort()).toEqual(['a@2026-01-06T03:00:00.000Z', 'b@2026-01-06T04:00:00.000Z']);
    h.scheduler.stop();
  });

  it('lists each schedule with its next run, in its time zone', async () => {
    const h = harness({ paris: { cron: '0 3 * * *', timezone: 'Europe/Paris' } });
    const [info] = await h.scheduler.list();
    expect(info).toMatchObject({ name: 'paris', cron: '0 3 * * *', timezone: 'Europe/Paris', paused: false });
    expect(info!.next?.toISOString()).toBe('2026-01-06T02:00:00.000Z'); // 03:00 in Paris (UTC+1 in winter)
    await expect(h.scheduler.pause('nope')).rejects.toThrow('no schedule named "nope" (schedules: paris)');
  });

  it('of two schedulers sharing a state store, only one fires a slot', async () => {
    const state = memoryScheduleState();
    const one = harness({ minute: '* * * * *' }, state);
    const two = harness({ minute: '* * * * *' }, state);
    await one.scheduler.start();
    await two.scheduler.start();
    await Promise.all([one.at('2026-01-05T10:01:00.010Z'), two.at('2026-01-05T10:01:00.010Z')]);
    expect([...one.fired, ...two.fired]).toEqual(['minute@2026-01-05T10:01:00.000Z']);
    one.scheduler.stop();
    two.scheduler.stop();
  });
});
