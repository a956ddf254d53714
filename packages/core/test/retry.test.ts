import { describe, expect, it } from 'vitest';
import { AbortedError, TargetError, isTransientNetworkError, retryDelay, withRetry, withTimeout } from '../src/index.js';

const transient = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

describe('withRetry', () => {
  it('tries again after transient failures and returns the first success', async () => {
    const seen: number[] = [];
    const result = await withRetry(async (attempt) => {
      seen.push(attempt);
      if (attempt < 3) throw transient();
      return 'done';
    }, { retryable: isTransientNetworkError, baseDelayMs: 1 });
    expect(result).toBe('done');
    expect(seen).toEqual([1, 2, 3]);
  });

  it('gives up after the last attempt with the last error', async () => {
    let calls = 0;
    const error = await withRetry(async () => {
      calls++;
      throw transient();
    }, { retryable: isTransientNetworkError, attempts: 4, baseDelayMs: 1 }).catch((e: unknown) => e);
    expect(calls).toBe(4);
    expect((error as { code: string }).code).toBe('ECONNRESET');
  });

  it('never retries a permanent failure', async () => {
    let calls = 0;
    const denied = new TargetError('TARGET_PERMISSION', 'login refused');
    await expect(withRetry(async () => {
      calls++;
      throw denied;
    }, { retryable: isTransientNetworkError, baseDelayMs: 1 })).rejects.toBe(denied);
    expect(calls).toBe(1);
  });

  it('stops waiting as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const run = withRetry(async () => {
      throw transient();
    }, { retryable: () => true, baseDelayMs: 60_000, maxDelayMs: 60_000, signal: controller.signal, onRetry: () => controller.abort() });
    await expect(run).rejects.toBeInstanceOf(AbortedError);
  });

  it('tells onRetry about each back-off, with growing ceilings', async () => {
    const delays: number[] = [];
    await withRetry(async (attempt) => {
      if (attempt < 4) throw transient();
    }, { retryable: isTransientNetworkError, baseDelayMs: 2, onRetry: (_e, _a, delay) => void delays.push(delay) });
    expect(delays.length).toBe(3);
    for (const [i, delay] of delays.entries()) expect(delay).toBeLessThanOrEqual(2 * 2 ** i);
  });
});

describe('retryDelay', () => {
  it('stays within [base/10, min(max, base·2^(n-1))]', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      for (let i = 0; i < 50; i++) {
        const delay = retryDelay(attempt, 100, 5_000);
        expect(delay).toBeGreaterThanOrEqual(10);
        expect(delay).toBeLessThanOrEqual(Math.min(5_000, 100 * 2 ** (attempt - 1)));
      }
    }
  });
});

describe('withTimeout', () => {
  it('rejects with TARGET_UNAVAILABLE naming the call, and runs onTimeout first', async () => {
    let tornDown = false;
    const error = await withTimeout(new Promise(() => undefined), 20, 'connect to sftp://host:22', { plugin: 'sftp', onTimeout: () => (tornDown = true) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetError);
    expect((error as TargetError).code).toBe('TARGET_UNAVAILABLE');
    expect((error as Error).message).toBe('[sftp] connect to sftp://host:22: no answer within 0.0 s');
    expect(tornDown).toBe(true);
  });

  it('passes through a result or an error that comes in time', async () => {
    expect(await withTimeout(Promise.resolve(7), 1_000, 'x')).toBe(7);
    await expect(withTimeout(Promise.reject(new Error('boom')), 1_000, 'x')).rejects.toThrow('boom');
  });
});

describe('isTransientNetworkError', () => {
  it('recognises network codes, also as a cause, and TARGET_UNAVAILABLE', () => {
    expect(isTransientNetworkError(transient())).toBe(true);
    expect(isTransientNetworkError(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ETIMEDOUT' }) }))).toBe(true);
    expect(isTransientNetworkError(new TargetError('TARGET_UNAVAILABLE', 'gone'))).toBe(true);
  });

  it('rejects everything else', () => {
    expect(isTransientNetworkError(new TargetError('TARGET_PERMISSION', 'no'))).toBe(false);
    expect(isTransientNetworkError(new AbortedError())).toBe(false);
    expect(isTransientNetworkError(new Error('plain'))).toBe(false);
    expect(isTransientNetworkError(undefined)).toBe(false);
  });
});
