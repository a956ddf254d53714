import { AbortedError, TargetError } from '@cairn/core';
import type { Logger } from '@cairn/core';
import type { Client } from 'basic-ftp';
import { openConnection } from './ftp-connection.js';
import type { ConnectionSettings } from './ftp-connection.js';

interface Waiter {
  resolve(client: Client | undefined): void;
  reject(error: unknown): void;
}

/**
 * Up to `connections` logged-in control connections, reused across operations. FTP runs one
 * transfer per control connection, so the pool size is the parallelism. A connection that broke,
 * or whose transfer was cut short, is discarded (never handed out again) and its slot reopens.
 */
export class ConnectionPool {
  private readonly idle: Client[] = [];
  private readonly all = new Set<Client>();
  private readonly waiters: Waiter[] = [];
  /** Connections handed out or being opened. */
  private busy = 0;
  private closed = false;
  private reclaim: (() => boolean) | undefined;

  constructor(
    private readonly settings: ConnectionSettings & { connections: number },
    private readonly logger: Logger,
  ) {}

  /** A logged-in connection for one operation; give it back with `release` or `discard`. */
  async acquire(signal?: AbortSignal): Promise<Client> {
    for (;;) {
      this.assertOpen();
      if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
      const reused = this.idle.pop();
      if (reused) {
        // The server (idle timeout) or the network may have closed it while it waited.
        if (!reused.closed) {
          this.busy++;
          return reused;
        }
        this.forget(reused);
        continue;
      }
      if (this.busy < this.settings.connections) return this.open();
      this.reclaim?.(); // a connection it frees goes to the first waiter
      const handed = await this.wait(signal);
      if (handed) return handed;
    }
  }

  /**
   * `reclaim` is asked to free a connection held for later (a transfer paused between two ranges)
   * when an operation would otherwise wait; it returns whether it will.
   */
  onStarved(reclaim: () => boolean): void {
    this.reclaim = reclaim;
  }

  /** Whether an operation waits for a connection. */
  get waiting(): boolean {
    return this.waiters.length > 0;
  }

  /** Returns a healthy connection for reuse. */
  release(client: Client): void {
    this.busy--;
    if (this.closed || client.closed) {
      this.forget(client);
      this.wakeOne();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      this.busy++;
      waiter.resolve(client);
    } else {
      this.idle.push(client);
    }
  }

  /** Drops a connection whose state is unknown (a failed or abandoned transfer, a lost socket). */
  discard(client: Client): void {
    this.busy--;
    this.forget(client);
    this.wakeOne();
  }

  /** Ends every connection, busy ones included; the pool refuses work afterwards. */
  close(): void {
    this.closed = true;
    for (const client of this.all) client.close();
    this.all.clear();
    this.idle.length = 0;
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.closedError());
  }

  private async open(): Promise<Client> {
    this.busy++;
    try {
      const client = await openConnection(this.settings);
      if (this.closed) {
        client.close();
        throw this.closedError();
      }
      this.all.add(client);
      this.logger.debug(`[ftp] connected to ${this.settings.host}:${this.settings.port} (${this.all.size} open)`);
      return client;
    } catch (error) {
      this.busy--;
      this.wakeOne();
      throw error;
    }
  }

  private wait(signal: AbortSignal | undefined): Promise<Client | undefined> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(new AbortedError(undefined, { cause: signal?.reason }));
      };
      const waiter: Waiter = {
        resolve: (client) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(client);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A slot opened: the first waiter goes round again and opens a connection of its own. */
  private wakeOne(): void {
    this.waiters.shift()?.resolve(undefined);
  }

  private forget(client: Client): void {
    this.all.delete(client);
    client.close();
  }

  private assertOpen(): void {
    if (this.closed) throw this.closedError();
  }

  private closedError(): TargetError {
    return new TargetError('TARGET_IO', 'the FTP store is closed: connect the target again', { plugin: 'ftp' });
  }
}
