import { Cron } from 'croner';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import type { Logger } from './logger.js';

/** What to do with the runs a paused (or stopped) schedule missed: run once now, or forget them. */
export type MissedPolicy = 'catch-up' | 'skip';

const SHORTHANDS: Record<string, string> = {
  hourly: '0 * * * *',
  daily: '0 0 * * *',
  weekly: '0 0 * * 1',
  monthly: '0 0 1 * *',
};

export const scheduleSchema = z.union([
  z.string().min(1),
  z.strictObject({
    cron: z.string().min(1).describe('A cron expression (5 or 6 fields) or hourly, daily, weekly, monthly.'),
    timezone: z.string().min(1).optional().describe('IANA time zone the expression is read in (`Europe/Paris`); default: the machine\'s.'),
    missed: z.enum(['catch-up', 'skip']).default('catch-up').describe('After a pause or downtime: run once for what was missed (`catch-up`), or wait for the next time (`skip`).'),
  }),
], { error: 'expected a schedule: a cron expression, hourly/daily/weekly/monthly, or { cron, timezone?, missed? }' });

export type ScheduleSpec = z.input<typeof scheduleSchema>;

export interface Schedule {
  cron: string;
  timezone?: string;
  missed: MissedPolicy;
}

/** Normalises a job's schedule and checks that croner can read it; a bad one is a ConfigError naming `path`. */
export function parseSchedule(spec: ScheduleSpec, path: string): Schedule {
  const { cron: given, timezone, missed } = typeof spec === 'string' ? { cron: spec, timezone: undefined, missed: 'catch-up' as const } : { missed: 'catch-up' as const, ...spec };
  const cron = SHORTHANDS[given.trim().toLowerCase()] ?? given.trim();
  try {
    if (timezone) new Intl.DateTimeFormat('en', { timeZone: timezone }); // croner accepts an unknown zone silently
    new Cron(cron, { paused: true, ...(timezone ? { timezone } : {}) }).stop();
  } catch (error) {
    throw new ConfigError(`${path}: invalid schedule "${given}"${timezone ? ` in time zone ${timezone}` : ''}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { cron, ...(timezone ? { timezone } : {}), missed };
}

/** The persistent part of a schedule: paused or not, and the last time slot it fired for. */
export interface ScheduleState {
  paused: boolean;
  /** ISO time of the last slot a run was requested for (not when it ran). */
  lastSlot?: string;
}

/**
 * Where schedules keep their state, so that a restart neither repeats nor forgets a run and a
 * `cairn pause` from another process reaches the scheduler. Implementations must make `claim`
 * atomic: of several schedulers sharing a store, one alone gets true for a slot.
 */
export interface ScheduleStateStore {
  get(name: string): Promise<ScheduleState>;
  setPaused(name: string, paused: boolean): Promise<void>;
  /** Records `slot` as fired if it is later than the stored one; true when this call recorded it. */
  claim(name: string, slot: string): Promise<boolean>;
}

export function memoryScheduleState(): ScheduleStateStore {
  const states = new Map<string, ScheduleState>();
  const get = (name: string): ScheduleState => states.get(name) ?? { paused: false };
  return {
    async get(name) {
      return { ...get(name) };
    },
    async setPaused(name, paused) {
      states.set(name, { ...get(name), paused });
    },
    async claim(name, slot) {
      const state = get(name);
      if (state.lastSlot !== undefined && state.lastSlot >= slot) return false;
      states.set(name, { ...state, lastSlot: slot });
      return true;
    },
  };
}

export interface ScheduleInfo extends Schedule, ScheduleState {
  name: string;
  /** The next time it will fire, or null for an expression that never fires again. */
  next: Date | null;
}

export interface SchedulerOptions {
  /** Each schedule's name (usually its job's) and its schedule. */
  schedules: Record<string, Schedule>;
  state: ScheduleStateStore;
  /** Asks for a run; `slot` is the scheduled time it is for. Errors are logged, never thrown at the timer. */
  trigger(name: string, slot: Date): Promise<void> | void;
  logger: Logger;
  /** The clock; tests inject one and call `tick()` instead of waiting. */
  now?: () => Date;
}

/** A slot reached later than this after its time (downtime, a pause) counts as missed. */
const ON_TIME_MS = 30_000;

/**
 * Longest the scheduler sleeps between looks at its state store, so that a pause or a resume made
 * by another process (`cairn pause`) takes effect within this time, catch-up included.
 */
const POLL_MS = 30_000;

/**
 * Fires schedules on time, once per slot. On start, and after a resume, a schedule that missed
 * slots (the process was down, or it was paused) runs once for the latest missed slot with
 * `missed: 'catch-up'`, or waits for the next one with `skip`. A schedule never seen before starts
 * from now: it does not run for its past.
 */
export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #now: () => Date;
  readonly #crons = new Map<string, Cron>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #ticking: Promise<void> = Promise.resolve();

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
    for (const [name, schedule] of Object.entries(options.schedules)) {
      this.#crons.set(name, new Cron(schedule.cron, { paused: true, ...(schedule.timezone ? { timezone: schedule.timezone } : {}) }));
    }
  }

  /** Starts firing: catches up what was missed, then arms a timer for the next slot. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.tick();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const cron of this.#crons.values()) cron.stop();
  }

  /** Fires every schedule whose slot has come (once per slot), then re-arms the timer. Serialised. */
  tick(): Promise<void> {
    this.#ticking = this.#ticking.then(() => this.#tickNow());
    return this.#ticking;
  }

  async list(): Promise<ScheduleInfo[]> {
    const now = this.#now();
    const out: ScheduleInfo[] = [];
    for (const [name, schedule] of Object.entries(this.#options.schedules)) {
      const state = await this.#options.state.get(name);
      out.push({ name, ...schedule, ...state, next: this.#crons.get(name)!.nextRun(now) });
    }
    return out;
  }

  /** Pauses one schedule, or all of them. */
  async pause(name?: string): Promise<void> {
    for (const each of this.#names(name)) await this.#options.state.setPaused(each, true);
  }

  /** Resumes one schedule, or all; what was missed while paused follows each schedule's `missed` policy. */
  async resume(name?: string): Promise<void> {
    for (const each of this.#names(name)) await this.#options.state.setPaused(each, false);
    await this.tick();
  }

  async #tickNow(): Promise<void> {
    const now = this.#now();
    for (const [name, schedule] of Object.entries(this.#options.schedules)) {
      const cron = this.#crons.get(name)!;
      const state = await this.#options.state.get(name);
      if (state.paused) continue;
      const due = cron.previousRuns(1, now)[0];
      if (!due) continue;
      if (state.lastSlot === undefined) {
        // First sight of this schedule: its past is not owed.
        await this.#options.state.claim(name, due.toISOString());
        continue;
      }
      if (due.toISOString() <= state.lastSlot) continue;
      if (schedule.missed === 'skip' && now.getTime() - due.getTime() > ON_TIME_MS) {
        // Slots passed while down or paused: skip them, and wait for the next one.
        await this.#options.state.claim(name, due.toISOString());
        this.#options.logger.info(`schedule ${name}: skipped the runs missed since ${state.lastSlot}`, { schedule: name });
        continue;
      }
      // Claimed before the run is asked for: a crash in between loses a run rather than doubling it.
      if (!(await this.#options.state.claim(name, due.toISOString()))) continue;
      try {
        await this.#options.trigger(name, due);
      } catch (error) {
        this.#options.logger.error(`schedule ${name}: could not request a run: ${error instanceof Error ? error.message : String(error)}`, { schedule: name });
      }
    }
    this.#arm(now);
  }

  #arm(now: Date): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    const next = Math.min(...[...this.#crons.values()].map((cron) => cron.nextRun(now)?.getTime() ?? Infinity));
    if (!Number.isFinite(next)) return;
    this.#timer = setTimeout(() => void this.tick(), Math.min(POLL_MS, Math.max(0, next - now.getTime()) + 5));
    this.#timer.unref();
  }

  #names(name: string | undefined): string[] {
    if (name === undefined) return Object.keys(this.#options.schedules);
    if (!(name in this.#options.schedules)) {
      const names = Object.keys(this.#options.schedules);
      throw new ConfigError(`no schedule named "${name}" (schedules: ${names.length ? names.join(', ') : 'none'})`);
    }
    return [name];
  }
}
