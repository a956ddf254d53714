import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'eventemitter3';
import type { ProgressEvent, RunOperation, RunRequestInfo } from './hooks.js';
import type { Logger } from './logger.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The numbers a successful run reports in `run:end` (absent for operations that have none). */
export interface RunOutcome {
  /** The snapshot a backup saved or a restore read. */
  snapshotId?: string;
  /** Backup: files in the snapshot (new, changed and unchanged); restore: files restored. */
  files?: number;
  /** Backup: content bytes read from the sources. */
  bytesRead?: number;
  /** Backup: bytes added to the repository (compressed and encrypted). */
  bytesAdded?: number;
  /** Restore: content bytes written. */
  bytesWritten?: number;
  /** Backup: entries that could not be read. */
  warnings?: number;
}

export interface RunEndInfo extends RunRequestInfo, RunOutcome {
  ok: boolean;
  durationMs: number;
  /** The error the run failed with (ok: false). */
  error?: Error;
}

export interface RunWarning {
  runId: string;
  operation: RunOperation;
  path: string;
  message: string;
  code?: string;
}

/** Observation only: listeners run after the fact, asynchronously, and cannot change or stall a run. */
export interface CairnEvents {
  progress: [progress: ProgressEvent];
  log: [level: LogLevel, message: string, fields: Record<string, unknown> | undefined];
  'run:start': [info: RunRequestInfo];
  'run:end': [info: RunEndInfo];
  warning: [warning: RunWarning];
}

/**
 * The id of the run whose job is executing (internal): the orchestrator's logger adds it to the
 * fields of `log` events, so lines logged by plugins during a run carry it too.
 */
export const currentRun = new AsyncLocalStorage<string>();

type Listener = (...args: unknown[]) => unknown;

/**
 * An eventemitter3 emitter whose `emit` only queues: listeners are called from a `setImmediate`
 * flush, each in its own try/catch, so a slow or throwing listener never stalls or breaks a run.
 * Listener failures (thrown or rejected) go to `onListenerError`.
 */
export class AsyncEventEmitter<Events extends EventEmitter.ValidEventTypes> extends EventEmitter<Events> {
  readonly #queue: Array<{ event: EventEmitter.EventNames<Events>; args: unknown[] }> = [];
  #scheduled = false;
  #delivering: string | symbol = '';
  /** Listener → its guarded wrapper, so `off(event, listener)` still finds it. */
  readonly #guarded = new WeakMap<Listener, Listener>();
  readonly #original = new WeakMap<Listener, Listener>();
  readonly #reportListenerError: (event: string | symbol, error: unknown) => void;

  constructor(onListenerError: (event: string | symbol, error: unknown) => void) {
    super();
    this.#reportListenerError = onListenerError;
  }

  #onListenerError(event: string | symbol, error: unknown): void {
    try {
      this.#reportListenerError(event, error);
    } catch {
      // The reporter (a logger) failed too; there is nowhere left to send it, and a run must not fail for it.
    }
  }

  override emit<T extends EventEmitter.EventNames<Events>>(event: T, ...args: EventEmitter.EventArgs<Events, T>): boolean {
    if (this.listenerCount(event) === 0) return false;
    this.#queue.push({ event, args });
    if (!this.#scheduled) {
      this.#scheduled = true;
      // Outside any run's context: one flush delivers events of several runs, so listeners must not inherit the first one's id.
      currentRun.exit(() => setImmediate(() => this.#flush()));
    }
    return true;
  }

  override on<T extends EventEmitter.EventNames<Events>>(event: T, fn: EventEmitter.EventListener<Events, T>, context?: unknown): this {
    return super.on(event, this.#guard(fn as Listener) as EventEmitter.EventListener<Events, T>, context);
  }

  override addListener<T extends EventEmitter.EventNames<Events>>(event: T, fn: EventEmitter.EventListener<Events, T>, context?: unknown): this {
    return this.on(event, fn, context);
  }

  override once<T extends EventEmitter.EventNames<Events>>(event: T, fn: EventEmitter.EventListener<Events, T>, context?: unknown): this {
    return super.once(event, this.#guard(fn as Listener) as EventEmitter.EventListener<Events, T>, context);
  }

  override off<T extends EventEmitter.EventNames<Events>>(event: T, fn?: EventEmitter.EventListener<Events, T>, context?: unknown, once?: boolean): this {
    const guarded = fn ? (this.#guarded.get(fn as Listener) ?? fn) : undefined;
    return super.off(event, guarded as EventEmitter.EventListener<Events, T> | undefined, context, once);
  }

  override removeListener<T extends EventEmitter.EventNames<Events>>(event: T, fn?: EventEmitter.EventListener<Events, T>, context?: unknown, once?: boolean): this {
    return this.off(event, fn, context, once);
  }

  override listeners<T extends EventEmitter.EventNames<Events>>(event: T): Array<EventEmitter.EventListener<Events, T>> {
    return super.listeners(event).map((fn) => (this.#original.get(fn as Listener) ?? fn) as EventEmitter.EventListener<Events, T>);
  }

  /** Resolves once every event queued so far has been delivered (for tests and orderly shutdown). */
  async drain(): Promise<void> {
    while (this.#scheduled) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  #flush(): void {
    // Events queued by listeners during this flush are delivered in the same pass, in order.
    while (this.#queue.length > 0) {
      const { event, args } = this.#queue.shift()!;
      this.#delivering = event;
      super.emit(event, ...(args as EventEmitter.EventArgs<Events, typeof event>));
    }
    this.#scheduled = false;
  }

  #guard(fn: Listener): Listener {
    const existing = this.#guarded.get(fn);
    if (existing) return existing;
    const report = (event: string | symbol, error: unknown): void => this.#onListenerError(event, error);
    const delivering = (): string | symbol => this.#delivering;
    // A plain function, not an arrow: eventemitter3 calls listeners with their `context` as `this`.
    const guarded: Listener = function (this: unknown, ...args: unknown[]) {
      const event = delivering();
      try {
        const result = fn.apply(this, args);
        if (result && typeof (result as PromiseLike<unknown>).then === 'function') {
          (result as Promise<unknown>).then(undefined, (error: unknown) => report(event, error));
        }
      } catch (error) {
        report(event, error);
      }
    };
    this.#guarded.set(fn, guarded);
    this.#original.set(guarded, fn);
    return guarded;
  }
}

/** The orchestrator's emitter: listener failures are logged (to the plain logger, never re-emitted). */
export function createEvents(logger: Logger): AsyncEventEmitter<CairnEvents> {
  return new AsyncEventEmitter<CairnEvents>((event, error) => {
    logger.error(`a listener of "${String(event)}" failed: ${error instanceof Error ? error.message : String(error)}`, { event: String(event) });
  });
}
