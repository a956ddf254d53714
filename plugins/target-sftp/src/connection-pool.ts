import { TargetError } from '@cairn/core';
import type { SftpConnection } from './connection.js';

/**
 * Up to `size` SSH connections, opened on demand and shared: an SFTP session multiplexes many
 * requests, so a connection is lent to several operations at once and each operation goes to the
 * least busy one. Nothing waits for a free slot, so a caller that holds a read stream open can
 * never starve the others. A broken connection leaves the pool at once; the next operation opens
 * a replacement.
 */
export class ConnectionPool {
  private readonly live = new Set<SftpConnection>();
  private readonly opening = new Set<Promise<SftpConnection>>();
  private closed = false;

  constructor(
    private readonly size: number,
    private readonly open: () => Promise<SftpConnection>,
    private readonly endTimeoutMs: number,
  ) {}

  /** A connection to run one operation on; call `release` when the operation is over. */
  async acquire(): Promise<{ connection: SftpConnection; release: () => void }> {
    if (this.closed) throw new TargetError('TARGET_UNAVAILABLE', 'the store is closed', { plugin: 'sftp' });
    const connection = await this.pick();
    connection.active++;
    let released = false;
    return {
      connection,
      release: () => {
        if (released) return;
        released = true;
        connection.active--;
      },
    };
  }

  /** Takes a connection that failed out of the pool and closes its socket. */
  drop(connection: SftpConnection): void {
    this.live.delete(connection);
    connection.destroy();
  }

  async close(): Promise<void> {
    this.closed = true;
    const opening = [...this.opening];
    const live = [...this.live];
    this.live.clear();
    await Promise.all([
      ...live.map((connection) => connection.end(this.endTimeoutMs)),
      ...opening.map((pending) => pending.then((connection) => connection.end(this.endTimeoutMs), () => undefined)),
    ]);
  }

  private async pick(): Promise<SftpConnection> {
    for (const connection of this.live) if (connection.broken) this.live.delete(connection);
    let best: SftpConnection | undefined;
    for (const connection of this.live) if (best === undefined || connection.active < best.active) best = connection;
    if (best && best.active === 0) return best;
    if (this.live.size + this.opening.size < this.size) return this.openOne();
    if (best) return best;
    // Every slot is still connecting: share the first one that comes up.
    return Promise.any(this.opening).catch((error: AggregateError) => {
      throw error.errors[0];
    });
  }

  private async openOne(): Promise<SftpConnection> {
    const pending = this.open();
    this.opening.add(pending);
    try {
      const connection = await pending;
      if (this.closed) {
        await connection.end(this.endTimeoutMs);
        throw new TargetError('TARGET_UNAVAILABLE', 'the store is closed', { plugin: 'sftp' });
      }
      this.live.add(connection);
      connection.whenBroken(() => this.live.delete(connection));
      return connection;
    } finally {
      this.opening.delete(pending);
    }
  }
}
