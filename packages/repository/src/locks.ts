import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { BlobStore } from './blob-store.js';
import type { MasterKeys } from './crypto.js';
import { CairnError, RepositoryError } from './errors.js';
import { LOCKS_PREFIX } from './layout.js';
import { getJson, listKeys, putJson } from './objects.js';
import { safeUsername } from './keys.js';

/**
 * Locks are small sealed objects under `locks/`. Backups, restores and checks take shared locks;
 * prune takes an exclusive one. A lock is refreshed while held; one not refreshed for
 * STALE_MS, or held by a process on this host that no longer runs (a killed backup), is ignored.
 */
const REFRESH_MS = 5 * 60_000;
const STALE_MS = 30 * 60_000;

interface LockFile {
  exclusive: boolean;
  host: string;
  pid: number;
  username: string;
  time: string;
  refreshed: string;
}

export class Lock {
  private timer: NodeJS.Timeout | undefined;
  private released = false;

  private constructor(
    private readonly store: BlobStore,
    private readonly keys: MasterKeys,
    private readonly name: string,
    private readonly file: LockFile,
  ) {}

  static async acquire(store: BlobStore, keys: MasterKeys, exclusive: boolean): Promise<Lock> {
    const now = new Date().toISOString();
    const file: LockFile = { exclusive, host: hostname(), pid: process.pid, username: safeUsername(), time: now, refreshed: now };
    const name = randomBytes(32).toString('hex');
    await putJson(store, keys.encryption, LOCKS_PREFIX, file, name);
    const lock = new Lock(store, keys, name, file);
    try {
      const conflict = await lock.findConflict();
      if (conflict) {
        throw new RepositoryError(
          'REPO_LOCKED',
          `the repository is locked ${conflict.exclusive ? 'exclusively ' : ''}by ${conflict.username}@${conflict.host} (pid ${conflict.pid}) since ${conflict.time}; wait for it to finish, or remove a stale lock with \`cairn unlock\``,
        );
      }
    } catch (error) {
      await lock.release();
      throw error;
    }
    lock.timer = setInterval(() => void lock.refresh(), REFRESH_MS);
    lock.timer.unref();
    return lock;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    await this.store.delete(LOCKS_PREFIX + this.name);
  }

  private async refresh(): Promise<void> {
    if (this.released) return;
    this.file.refreshed = new Date().toISOString();
    // A failed refresh is retried at the next interval; the lock only turns stale after STALE_MS.
    await putJson(this.store, this.keys.encryption, LOCKS_PREFIX, this.file, this.name).catch(() => undefined);
  }

  private async findConflict(): Promise<LockFile | undefined> {
    for (const key of await listKeys(this.store, LOCKS_PREFIX)) {
      if (key === LOCKS_PREFIX + this.name) continue;
      const other = await readLock(this.store, this.keys, key);
      if (!other || isStale(other)) continue;
      if (this.file.exclusive || other.exclusive) return other;
    }
    return undefined;
  }
}

/** Removes locks that are stale (or all, with `all`); returns how many. */
export async function removeLocks(store: BlobStore, keys: MasterKeys, all: boolean): Promise<number> {
  let removed = 0;
  for (const key of await listKeys(store, LOCKS_PREFIX)) {
    const lock = await readLock(store, keys, key);
    if (all || !lock || isStale(lock)) {
      await store.delete(key);
      removed++;
    }
  }
  return removed;
}

async function readLock(store: BlobStore, keys: MasterKeys, key: string): Promise<LockFile | undefined> {
  try {
    return await getJson<LockFile>(store, keys.encryption, key, `lock ${key}`);
  } catch (error) {
    // A lock deleted while we list, or one half-visible on a store without atomic puts, holds nothing.
    if (error instanceof CairnError && error.code === 'REPO_CORRUPT') return undefined;
    throw error;
  }
}

function isStale(lock: LockFile): boolean {
  if (Date.now() - Date.parse(lock.refreshed) > STALE_MS) return true;
  if (lock.host !== hostname()) return false;
  try {
    process.kill(lock.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
