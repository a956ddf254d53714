import { AbortedError, TargetError, throwIfAborted } from '@cairn/repository';

export interface RetryOptions {
  /** Tries in all, the first included. Default 6: with the default delays, a window of about 15 s. */
  attempts?: number;
  /** The first back-off; each later one doubles, up to `maxDelayMs`. Default 250 ms. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
  /** Whether an error is worth another try: a dropped connection or a timeout is, a wrong password is not. */
  retryable(error: unknown): boolean;
  /** The back-off after `error`, given the computed one: a server's Retry-After, say. Default: the computed delay. */
  delayFor?(error: unknown, computedMs: number): number;
  /** Told before each back-off, e.g. to log it or to drop a broken connection. */
  onRetry?(error: unknown, attempt: number, delayMs: number): void | Promise<void>;
}

/**
 * Runs `operation` until it succeeds, a non-retryable error occurs or the attempts are spent,
 * waiting an exponentially growing, fully jittered delay between tries (so many clients that lost
 * the same server do not come back at the same instant). The last error travels up unchanged.
 */
export async function withRetry<T>(operation: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 6);
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(options.signal);
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt >= attempts || options.signal?.aborted || !options.retryable(error)) throw error;
      const computed = retryDelay(attempt, options.baseDelayMs ?? 250, options.maxDelayMs ?? 8_000);
      const delay = options.delayFor ? options.delayFor(error, computed) : computed;
      await options.onRetry?.(error, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}

/** Full jitter: a random delay in [0, min(max, base · 2^(attempt-1))], never below a tenth of base. */
export function retryDelay(attempt: number, baseDelayMs: number, maxDelayMs: number): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.max(baseDelayMs / 10, Math.random() * ceiling);
}

/**
 * Rejects with TARGET_UNAVAILABLE when `promise` has not settled within `ms`: every network call
 * gets a deadline, so a server that stops answering fails a run instead of hanging it.
 * `onTimeout` runs first, to tear down whatever is stuck (a socket, a session).
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string, options: { plugin?: string; onTimeout?: () => void } = {}): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      options.onTimeout?.();
      reject(new TargetError('TARGET_UNAVAILABLE', `${what}: no answer within ${formatSeconds(ms)}`, { plugin: options.plugin }));
    }, ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN',
  'EAI_AGAIN', 'ENOTCONN', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'TARGET_UNAVAILABLE',
]);

/**
 * True for failures that may pass if tried again: a refused, reset or timed-out connection, or a
 * TargetError coded TARGET_UNAVAILABLE. Looks through `cause` chains, since clients wrap errors.
 */
export function isTransientNetworkError(error: unknown): boolean {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current instanceof AbortedError) return false;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Waits `ms`, or rejects with AbortedError as soon as `signal` aborts (at once when it already has). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError(undefined, { cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError(undefined, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
