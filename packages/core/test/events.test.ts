import { describe, expect, it } from 'vitest';
import { AsyncEventEmitter, createCairn, createConsoleLogger, createHooks, silentLogger } from '../src/index.js';
import type { CairnEvents, JobProgress, Logger, ProgressEvent, RunEndInfo } from '../src/index.js';
import { createProgressReporter } from '../src/progress.js';
import { deferred, dirTarget, memorySource, tempDir, until } from './helpers.js';

function recordingLogger() {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const logger: Logger = {
    debug: (message, fields) => lines.push({ level: 'debug', message, ...(fields ? { fields } : {}) }),
    info: (message, fields) => lines.push({ level: 'info', message, ...(fields ? { fields } : {}) }),
    warn: (message, fields) => lines.push({ level: 'warn', message, ...(fields ? { fields } : {}) }),
    error: (message, fields) => lines.push({ level: 'error', message, ...(fields ? { fields } : {}) }),
  };
  return { logger, lines };
}

describe('AsyncEventEmitter', () => {
  it('delivers after emit returns, in order', async () => {
    const errors: unknown[] = [];
    const emitter = new AsyncEventEmitter<{ tick: [n: number] }>((_, error) => errors.push(error));
    const seen: number[] = [];
    emitter.on('tick', (n) => seen.push(n));
    expect(emitter.emit('tick', 1)).toBe(true);
    emitter.emit('tick', 2);
    expect(seen).toEqual([]);
    await emitter.drain();
    expect(seen).toEqual([1, 2]);
    expect(errors).toEqual([]);
  });

  it('keeps delivering to the other listeners when one throws or rejects, and reports both', async () => {
    const errors: Array<[string | symbol, unknown]> = [];
    const emitter = new AsyncEventEmitter<{ tick: [n: number] }>((event, error) => errors.push([event, error]));
    const seen: number[] = [];
    emitter.on('tick', () => {
      throw new Error('sync boom');
    });
    emitter.on('tick', async () => {
      throw new Error('async boom');
    });
    emitter.on('tick', (n) => seen.push(n));
    emitter.emit('tick', 7);
    await emitter.drain();
    expect(seen).toEqual([7]);
    await until(() => errors.length === 2, 'both failures reported');
    expect(errors.map(([event, error]) => [event, (error as Error).message]).sort()).toEqual([['tick', 'async boom'], ['tick', 'sync boom']]);
  });

  it('off() and once() work with the listener the caller registered', async () => {
    const emitter = new AsyncEventEmitter<{ tick: [n: number] }>(() => {});
    const always: number[] = [];
    const once: number[] = [];
    const listener = (n: number) => always.push(n);
    emitter.on('tick', listener);
    emitter.once('tick', (n) => once.push(n));
    expect(emitter.listeners('tick')).toContain(listener);
    emitter.emit('tick', 1);
    await emitter.drain();
    emitter.off('tick', listener);
    emitter.emit('tick', 2);
    await emitter.drain();
    expect(always).toEqual([1]);
    expect(once).toEqual([1]);
    expect(emitter.listenerCount('tick')).toBe(0);
    expect(emitter.emit('tick', 3)).toBe(false);
  });
});

describe('orchestrator events', () => {
  it('run:end reaches its listener only after the run has settled, and a listener that never finishes stalls nothing', async () => {
    const dir = await tempDir();
    const cairn = createCairn({ targets: [dirTarget] });
    cairn.hooks.veto.tap('refuse', () => 'not today');
    let settled = false;
    const ends: Array<{ info: RunEndInfo; settledFirst: boolean }> = [];
    const starts: string[] = [];
    cairn.events.on('run:start', (info) => { starts.push(info.operation); });
    cairn.events.on('run:end', (info) => {
      ends.push({ info, settledFirst: settled });
      return new Promise<void>(() => {}); // a listener that never completes
    });
    cairn.events.on('run:end', () => {
      for (let i = 0; i < 1e6; i++); // and a slow synchronous one
    });
    await expect(cairn.backup({
      repository: { target: dir.path, password: 'pw' },
      sources: [memorySource({ name: 'docs', files: {} })],
    })).rejects.toMatchObject({ code: 'RUN_VETOED' });
    settled = true;
    expect(ends).toEqual([]);
    await cairn.close();
    expect(starts).toEqual(['backup']);
    expect(ends).toHaveLength(1);
    expect(ends[0]!.settledFirst).toBe(true);
    expect(ends[0]!.info).toMatchObject({ operation: 'backup', ok: false, error: { code: 'RUN_VETOED' } });
    await dir.remove();
  });

  it('log lines go to the logger and to `log` listeners; a throwing listener is logged, not propagated', async () => {
    const dir = await tempDir();
    const { logger, lines } = recordingLogger();
    const cairn = createCairn({ targets: [dirTarget], logger });
    const logged: Array<[string, string]> = [];
    cairn.events.on('log', (level, message) => { logged.push([level, message]); });
    cairn.events.on('run:start', () => {
      throw new Error('listener bug');
    });
    cairn.hooks.veto.tap('refuse', () => 'no');
    await expect(cairn.snapshots({ repository: { target: dir.path, password: 'pw' } })).rejects.toMatchObject({ code: 'RUN_VETOED' });
    await cairn.close();
    expect(logged).toContainEqual(['error', 'snapshots failed: run refused by refuse: no']);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', message: 'a listener of "run:start" failed: listener bug' }));
    // The listener failure went to the logger only, not back out as a `log` event (which could loop).
    expect(logged.some(([, message]) => message.includes('listener bug'))).toBe(false);
    await dir.remove();
  });
});

describe('progress reporting', () => {
  it('throttles updates, always ends with one final event, and feeds hook, event and job alike', async () => {
    const hooks = createHooks();
    const events = new AsyncEventEmitter<CairnEvents>(() => {});
    const fromHook: ProgressEvent[] = [];
    const fromEvent: ProgressEvent[] = [];
    const fromJob: JobProgress[] = [];
    hooks.onProgress.tap('collect', (p) => { fromHook.push(p); });
    events.on('progress', (p) => { fromEvent.push(p); });
    const reporter = createProgressReporter({
      runId: 'r1', operation: 'backup', hooks, events, logger: silentLogger,
      job: { signal: new AbortController().signal, progress: (p) => fromJob.push(p) },
    });
    const started = performance.now();
    for (let i = 1; i <= 5000; i++) reporter.update({ filesDone: i, bytesDone: i * 10 });
    const elapsed = performance.now() - started;
    reporter.finish();
    reporter.update({ filesDone: 9999, bytesDone: 0 }); // ignored after finish
    await events.drain();

    // At most one per 100 ms of elapsed time (plus the first and the final one).
    expect(fromHook.length).toBeLessThanOrEqual(2 + Math.floor(elapsed / 100));
    expect(fromHook.at(-1)).toMatchObject({ runId: 'r1', operation: 'backup', filesDone: 5000, bytesDone: 50000, final: true });
    expect(fromHook.filter((p) => p.final)).toHaveLength(1);
    expect(fromEvent).toEqual(fromHook);
    expect(fromJob.at(-1)).toEqual({ filesDone: 5000, bytesDone: 50000 });
  });

  it('a throwing onProgress tap is logged once and does not fail the reporter', async () => {
    const hooks = createHooks();
    const { logger, lines } = recordingLogger();
    hooks.onProgress.tap('broken', () => {
      throw new Error('bad bar');
    });
    const reporter = createProgressReporter({
      runId: 'r2', operation: 'restore', hooks, events: new AsyncEventEmitter<CairnEvents>(() => {}), logger,
      job: { signal: new AbortController().signal, progress: () => {} }, intervalMs: 0,
    });
    reporter.update({ filesDone: 1, bytesDone: 1 });
    reporter.update({ filesDone: 2, bytesDone: 2 });
    reporter.finish();
    expect(lines.filter((l) => l.message.includes('onProgress tap failed: bad bar'))).toHaveLength(1);
  });
});

describe('createConsoleLogger', () => {
  it('writes lines at or above its level, with fields', () => {
    let out = '';
    const logger = createConsoleLogger({ level: 'warn', stream: { write: (chunk: string) => (out += chunk) } });
    logger.info('hidden');
    logger.warn('disk almost full', { free: '2 GiB', percent: 97 });
    logger.error('failed');
    expect(out).toBe('warn  disk almost full free="2 GiB" percent=97\nerror failed\n');
  });
});

describe('close', () => {
  it('drains queued events so listeners have seen run:end when close resolves', async () => {
    const dir = await tempDir();
    const cairn = createCairn({ targets: [dirTarget] });
    const gate = deferred();
    cairn.hooks.veto.tapPromise('slow-veto', async () => {
      await gate.promise;
      return 'later';
    });
    const ends: string[] = [];
    cairn.events.on('run:end', (info) => { ends.push(info.operation); });
    const run = cairn.snapshots({ repository: { target: dir.path, password: 'pw' } }).catch((e: unknown) => e);
    const closing = cairn.close();
    gate.resolve();
    await closing;
    expect(ends).toEqual(['snapshots']);
    expect(await run).toMatchObject({ code: 'RUN_VETOED' });
    await expect(cairn.snapshots({ repository: { target: dir.path, password: 'pw' } })).rejects.toMatchObject({ code: 'EXECUTOR_CLOSED' });
    await dir.remove();
  });
});
