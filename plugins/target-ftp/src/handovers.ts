import type { ConnectionPool } from './connection-pool.js';
import type { Retrieval } from './transfers.js';

/** How long a transfer paused at the end of a range waits for a read that continues it. */
const PARK_MS = 1000;
/** A tail this short is read and dropped rather than cutting the transfer, which costs a new connection. */
const DRAIN_TAIL_BYTES = 256 * 1024;
/** A read may continue a transfer that stopped this far before its start, dropping the bytes between. */
const SKIP_BYTES = 1024 * 1024;

/** An open RETR passed from one range read to the next, with the size of its file. */
export interface Carried {
  retrieval: Retrieval;
  size: number;
}

/** The end of a range being read, where a read of the same file may carry on. */
export interface Handover {
  /** Passes the transfer on (or nothing, when it failed or stopped elsewhere); only the first call counts. */
  hand(carried: Carried | undefined): void;
}

interface Entry extends Handover {
  path: string;
  position: number;
  claimed: boolean;
  /** The file was written or deleted since: the transfer no longer reads the object. */
  stale: boolean;
  ready: Promise<Carried | undefined>;
  /** A transfer nobody has claimed yet, until PARK_MS pass or a connection is needed. */
  parked?: { retrieval: Retrieval; timer: NodeJS.Timeout } | undefined;
}

/**
 * Carries open RETRs from one range read to the next. FTP cannot stop a RETR and keep its
 * connection, so every range that ends short of the file costs a cut transfer and a new login;
 * a restore reads a pack's blobs in order, each range starting where another one stops, and the
 * transfer that stopped there can simply go on. A range offers its end when its get is called,
 * before any byte moves, so that a read asked for at the same time (read-ahead) still finds it;
 * the first get starting there (or a little after) claims it and waits for the range before.
 * A transfer nobody claims is parked briefly, and gives its connection up to any operation that
 * would otherwise wait for one.
 */
export class Handovers {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly pool: ConnectionPool,
    /** How long a claim waits for the range before it (a get whose body is never read hands nothing over). */
    private readonly waitMs: number,
  ) {
    pool.onStarved(() => {
      const entry = [...this.entries.values()].find((e) => e.parked);
      if (entry) this.unpark(entry);
      return entry !== undefined;
    });
  }

  /** Registers the end of a range at `position` of `path`; undefined when another read already ends there. */
  offer(path: string, position: number): Handover | undefined {
    const key = `${position}:${path}`;
    if (this.entries.has(key)) return undefined;
    let resolve!: (carried: Carried | undefined) => void;
    let handed = false;
    const entry: Entry = {
      path,
      position,
      claimed: false,
      stale: false,
      ready: new Promise((r) => (resolve = r)),
      hand: (carried) => {
        if (carried && (handed || entry.stale)) void this.drop(carried.retrieval);
        if (handed) return;
        handed = true;
        let pass = entry.stale ? undefined : carried;
        if (pass && !entry.claimed && this.pool.waiting) {
          void this.drop(pass.retrieval); // an operation waits for a connection: it comes first
          pass = undefined;
        }
        if (pass && !entry.claimed) {
          const timer = setTimeout(() => this.unpark(entry), PARK_MS);
          timer.unref();
          entry.parked = { retrieval: pass.retrieval, timer };
        } else if (this.entries.get(key) === entry) {
          this.entries.delete(key);
        }
        resolve(pass);
      },
    };
    this.entries.set(key, entry);
    return entry;
  }

  /**
   * The transfer a read of `path` from `position` can continue: one that stops there or up to
   * SKIP_BYTES before, once the range before it has been read. Claimed synchronously, so call it
   * before the first await; resolves with nothing when there is none or the wait ends.
   */
  async claim(path: string, position: number, signal: AbortSignal | undefined): Promise<Carried | undefined> {
    let found: Entry | undefined;
    for (const entry of this.entries.values()) {
      if (entry.path !== path || entry.claimed || entry.stale || entry.position > position || entry.position < position - SKIP_BYTES) continue;
      if (!found || entry.position > found.position) found = entry;
    }
    if (!found) return undefined;
    const entry = found;
    entry.claimed = true;
    this.entries.delete(`${entry.position}:${path}`);
    if (entry.parked) clearTimeout(entry.parked.timer);
    entry.parked = undefined;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const gaveUp = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.waitMs);
      onAbort = () => resolve(undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const carried = await Promise.race([entry.ready, gaveUp]);
      if (!carried) void entry.ready.then((late) => late && this.drop(late.retrieval));
      return carried;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  /** `path` was written or deleted: reads that follow must not continue a transfer of the old file. */
  invalidate(path: string): void {
    for (const entry of [...this.entries.values()]) {
      if (entry.path !== path) continue;
      entry.stale = true;
      if (entry.parked) this.unpark(entry);
    }
  }

  /** Ends a transfer nobody reads on: a short tail is read to the end (the connection stays), otherwise it is cut. */
  async drop(retrieval: Retrieval): Promise<void> {
    if (retrieval.size - retrieval.position <= DRAIN_TAIL_BYTES && (await retrieval.finish().catch(() => false))) {
      this.pool.release(retrieval.client);
      return;
    }
    await retrieval.cut();
    this.pool.discard(retrieval.client);
  }

  /** Forgets every parked transfer (the pool closes their connections). */
  close(): void {
    for (const entry of this.entries.values()) if (entry.parked) clearTimeout(entry.parked.timer);
    this.entries.clear();
  }

  private unpark(entry: Entry): void {
    const parked = entry.parked;
    if (!parked) return;
    clearTimeout(parked.timer);
    entry.parked = undefined;
    this.entries.delete(`${entry.position}:${entry.path}`);
    void this.drop(parked.retrieval);
  }
}
