import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Scheduler, parseSchedule, sqliteScheduleState } from '../src/index.js';
import type { SqliteScheduleState } from '../src/index.js';
import { tempDir } from './helpers.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
let dir: { path: string; remove(): Promise<void> };
const opened: SqliteScheduleState[] = [];
/** Another process's view of the same file. */
const open = () => {
  const state = sqliteScheduleState({ path: join(dir.path, 'state', 'state.db') });
  opened.push(state);
  return state;
};

beforeEach(async () => {
  dir = await tempDir('cairn-schedule-state-');
});
afterEach(async () => {
  for (const state of opened.splice(0)) state.close();
  await dir.remove();
});

describe('sqliteScheduleState', () => {
  it('keeps pauses and fired slots in the file, for every process that opens it', async () => {
    const a = open();
    expect(await a.get('docs')).toEqual({ paused: false });
    await a.setPaused('docs', true);
    expect(await a.claim('docs', '2026-01-05T10:01:00.000Z')).toBe(true);
    const b = open();
    expect(await b.get('docs')).toEqual({ paused: true, lastSlot: '2026-01-05T10:01:00.000Z' });
    await b.setPaused('docs', false);
    expect((await a.get('docs')).paused).toBe(false);
  });

  it('lets exactly one of several processes claim a slot, and never an older one', async () => {
    const stores = [open(), open(), open()];
    const slot = '2026-01-05T10:02:00.000Z';
    const claims = await Promise.all(stores.map((s) => s.claim('site', slot)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await stores[1]!.claim('site', slot)).toBe(false);
    expect(await stores[2]!.claim('site', '2026-01-05T10:01:00.000Z')).toBe(false);
    expect(await stores[0]!.claim('site', '2026-01-05T10:03:00.000Z')).toBe(true);
  });

  it('makes a schedule fire once per minute across restarts of two scheduler processes, and a pause from a third process stop it', async () => {
    let now = new Date('2026-01-05T10:00:10Z');
    const fired: string[] = [];
    const scheduler = () => new Scheduler({
      schedules: { minute: parseSchedule('* * * * *', 'minute') },
      state: open(),
      trigger: (name, slot) => void fired.push(slot.toISOString()),
      logger: quiet,
      now: () => now,
    });
    let one = scheduler();
    const two = scheduler();
    await one.start();
    await two.start();
    for (const minute of ['01', '02', '03']) {
      now = new Date(`2026-01-05T10:${minute}:00.050Z`);
      await Promise.all([one.tick(), two.tick()]);
      if (minute === '02') {
        one.stop();
        one = scheduler(); // a restart
        await one.start();
      }
    }
    expect(fired).toEqual(['2026-01-05T10:01:00.000Z', '2026-01-05T10:02:00.000Z', '2026-01-05T10:03:00.000Z']);

    await open().setPaused('minute', true); // `cairn pause minute`
    now = new Date('2026-01-05T10:04:00.050Z');
    await Promise.all([one.tick(), two.tick()]);
    expect(fired).toHaveLength(3);
    one.stop();
    two.stop();
  });

  it('says which file it cannot open', async () => {
    const file = join(dir.path, 'a-file');
    await writeFile(file, 'not a folder');
    expect(() => sqliteScheduleState({ path: join(file, 'state.db') })).toThrow(`cannot open the schedule state in ${join(file, 'state.db')}: `);
  });
});
