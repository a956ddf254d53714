import { AbortedError, CairnError, ConfigError } from '@cairn/core';
import type { JobContext, JobProgress } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { deferred } from '@cairn/testkit';
import { localExecutor } from '../src/index.js';


/** Lets queued callbacks and promise chains run, without waiting on a clock. */
async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !condition(); i++) await new Promise<void>((resolve) => setImmediate(resolve));
  if (!condition()) throw new Error('condition never became true');
}

/** A job that waits until the test lets it go (or until it is aborted). */
function gatedJob(id: string, gate: Promise<void>, stats: { running: number; max: number; order: string[] }, type = 'test') {
  return {
    id,
    type,
    async run(ctx: JobContext): Promise<string> {
      stats.running++;
      stats.max = Math.max(stats.max, stats.running);
      stats.order.push(id);
      try {
        await Promise.race([
          gate,
          new Promise<never>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true })),
        ]);
        return `done ${id}`;
      } finally {
        stats.running--;
      }
    },
  };
}

describe('localExecutor', () => {
  it('is a frozen executor plugin with the parsed concurrency', () => {
    const executor = localExecutor({ concurrency: 3 });
    expect(executor.kind).toBe('executor');
    expect(executor.plugin).toBe('local');
    expect(executor.concurrency).toBe(3);
    expect(Object.isFrozen(executor)).toBe(true);
    expect(localExecutor().concurrency).toBe(1);
  });

  it.each([0, 65, 1.5, '2'])('rejects concurrency %j with a ConfigError naming the plugin and option', (concurrency) => {
    const attempt = () => localExecutor({ concurrency: concurrency as number });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (error) {
      expect((error as ConfigError).code).toBe('CONFIG_INVALID');
      expect((error as ConfigError).message).toMatch(/^\[local\] invalid options: concurrency: /);
    }
  });

  it('never runs more jobs at once than its concurrency, and starts them in submission order', async () => {
    const executor = localExecutor({ concurrency: 2 });
    const stats = { running: 0, max: 0, order: [] as string[] };
    const gates = Array.from({ length: 6 }, () => deferred());
    const handles = gates.map((gate, i) => executor.submit(gatedJob(`j${i}`, gate.promise, stats)));
    await settle();
    expect(stats.running).toBe(2);
    for (const gate of gates) {
      gate.resolve();
      await settle();
      expect(stats.running).toBeLessThanOrEqual(2);
    }
    expect(await Promise.all(handles.map((h) => h.result))).toEqual(gates.map((_, i) => `done j${i}`));
    expect(stats.max).toBe(2);
    expect(stats.order).toEqual(['j0', 'j1', 'j2', 'j3', 'j4', 'j5']);
  });

  it('starts a waiting restore ahead of the other waiting jobs, after the restores before it', async () => {
    const executor = localExecutor({ concurrency: 1 });
    const stats = { running: 0, max: 0, order: [] as string[] };
    const gates = Array.from({ length: 5 }, () => deferred());
    const handles = [
      executor.submit(gatedJob('backup-running', gates[0]!.promise, stats, 'backup')),
      executor.submit(gatedJob('backup-waiting', gates[1]!.promise, stats, 'backup')),
      executor.submit(gatedJob('restore-1', gates[2]!.promise, stats, 'restore')),
      executor.submit(gatedJob('check-waiting', gates[3]!.promise, stats, 'check')),
      executor.submit(gatedJob('restore-2', gates[4]!.promise, stats, 'restore')),
    ];
    for (const gate of gates) gate.resolve();
    await Promise.all(handles.map((h) => h.result));
    expect(stats.order).toEqual(['backup-running', 'restore-1', 'restore-2', 'backup-waiting', 'check-waiting']);
  });

  it('removes a job aborted while queued without ever running it', async () => {
    const executor = localExecutor({ concurrency: 1 });
    const stats = { running: 0, max: 0, order: [] as string[] };
    const first = deferred();
    const running = executor.submit(gatedJob('first', first.promise, stats));
    const controller = new AbortController();
    const bySignal = executor.submit(gatedJob('by-signal', Promise.resolve(), stats), { signal: controller.signal });
    const byHandle = executor.submit(gatedJob('by-handle', Promise.resolve(), stats));
    const last = executor.submit(gatedJob('last', Promise.resolve(), stats));

    controller.abort();
    byHandle.abort('not needed');
    await expect(bySignal.result).rejects.toBeInstanceOf(AbortedError);
    await expect(byHandle.result).rejects.toMatchObject({ code: 'ABORTED', message: expect.stringContaining('not needed') });

    first.resolve();
    expect(await running.result).toBe('done first');
    expect(await last.result).toBe('done last');
    expect(stats.order).toEqual(['first', 'last']);
  });

  it('rejects at once a job whose signal is already aborted', async () => {
    const executor = localExecutor();
    let ran = false;
    const handle = executor.submit({ id: 'x', type: 'test', run: async () => { ran = true; } }, { signal: AbortSignal.abort() });
    await expect(handle.result).rejects.toMatchObject({ code: 'ABORTED' });
    await settle();
    expect(ran).toBe(false);
  });

  it('passes the abort to a running job and frees its slot when the job stops', async () => {
    const executor = localExecutor({ concurrency: 1 });
    const stats = { running: 0, max: 0, order: [] as string[] };
    const controller = new AbortController();
    const never = new Promise<void>(() => {});
    const running = executor.submit(gatedJob('running', never, stats), { signal: controller.signal });
    const next = executor.submit(gatedJob('next', Promise.resolve(), stats));
    await until(() => stats.running === 1);

    controller.abort('user pressed ctrl-c');
    await expect(running.result).rejects.toMatchObject({ code: 'ABORTED', message: expect.stringContaining('user pressed ctrl-c') });
    expect(await next.result).toBe('done next');
  });

  it("turns Node's own AbortError from an aborted job into an AbortedError with the cause", async () => {
    const executor = localExecutor();
    const handle = executor.submit({
      id: 'timer',
      type: 'test',
      run: async ({ signal }) => {
        const { setTimeout: wait } = await import('node:timers/promises');
        await wait(60_000, undefined, { signal });
      },
    });
    await settle();
    handle.abort();
    const error = await handle.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as AbortedError).cause).toMatchObject({ name: 'AbortError' });
  });

  it('forwards job progress to onProgress, and a throwing observer does not break the job', async () => {
    const executor = localExecutor();
    const seen: JobProgress[] = [];
    const handle = executor.submit({
      id: 'p',
      type: 'test',
      run: async (ctx) => {
        ctx.progress({ filesDone: 1, bytesDone: 10 });
        ctx.progress({ filesDone: 2, bytesDone: 20, ratio: 1 });
        return 'ok';
      },
    }, { onProgress: (p) => { seen.push(p); throw new Error('observer bug'); } });
    expect(await handle.result).toBe('ok');
    expect(seen).toEqual([{ filesDone: 1, bytesDone: 10 }, { filesDone: 2, bytesDone: 20, ratio: 1 }]);
  });

  it('passes a job failure through unchanged', async () => {
    const executor = localExecutor();
    const failure = new CairnError('SOMETHING', 'it broke');
    const handle = executor.submit({ id: 'f', type: 'test', run: async () => { throw failure; } });
    await expect(handle.result).rejects.toBe(failure);
    // The slot is free again.
    expect(await executor.submit({ id: 'g', type: 'test', run: async () => 7 }).result).toBe(7);
  });

  it('close() waits for accepted jobs and then refuses new ones with EXECUTOR_CLOSED', async () => {
    const executor = localExecutor({ concurrency: 1 });
    const stats = { running: 0, max: 0, order: [] as string[] };
    const gate = deferred();
    const running = executor.submit(gatedJob('a', gate.promise, stats));
    const queued = executor.submit(gatedJob('b', gate.promise, stats));
    let closed = false;
    const closing = executor.close().then(() => { closed = true; });
    await settle();
    expect(closed).toBe(false);

    const refused = executor.submit(gatedJob('late', Promise.resolve(), stats));
    await expect(refused.result).rejects.toMatchObject({ code: 'EXECUTOR_CLOSED', message: expect.stringMatching(/^\[local\] .*executor is closed/) });

    gate.resolve();
    await closing;
    expect(closed).toBe(true);
    expect(await running.result).toBe('done a');
    expect(await queued.result).toBe('done b');
    expect(stats.order).toEqual(['a', 'b']);
  });
});
