import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { AbortedError, TargetError, isReplayable, isTransientNetworkError, retryDelay, sleep, throwIfAborted, withRetry } from '@cairn/core';
import type { BlobInfo, BlobStore, Logger } from '@cairn/core';
import { FTPError, FileType } from 'basic-ftp';
import type { Client, FileInfo } from 'basic-ftp';
import type { ConnectionPool } from './connection-pool.js';
import { serverName } from './ftp-connection.js';
import { toTargetError } from './ftp-errors.js';
import type { FtpAction } from './ftp-errors.js';
import { keyToRelativePath, TEMP_SUFFIX } from './keys.js';
import { Handovers } from './handovers.js';
import type { Carried, Handover } from './handovers.js';
import { Retrieval, upload } from './transfers.js';

export interface StoreSettings {
  host: string;
  port: number;
  username: string;
  path: string;
  retries: number;
  timeoutMs: number;
}

const STALE_TEMP_MS = 24 * 60 * 60 * 1000;

/** The blob-store methods over a directory on an FTP server. Every path sent is absolute. */
export function ftpStore(pool: ConnectionPool, settings: StoreSettings, logger: Logger): Omit<BlobStore, 'capabilities' | 'location'> {
  const root = settings.path === '/' ? '' : settings.path.replace(/\/+$/, '');
  const server = serverName(settings);
  const pathOf = (key: string) => `${root}/${keyToRelativePath(key)}`;
  const scene = (action: FtpAction, path: string) => ({ action, path, server, username: settings.username });
  /** Directories known to exist, so a put does not ask again. */
  const knownDirs = new Set<string>();
  /** Connections whose transfer failed: their state is unknown, so they are not reused. */
  const tainted = new WeakSet<Client>();
  /** Open RETRs carried from one range read to the next (see Handovers). */
  const handovers = new Handovers(pool, settings.timeoutMs);

  /**
   * Runs `operation` on a pooled connection, retrying transient failures on a fresh one.
   * A connection is kept only when it ended with a clean reply.
   */
  async function session<T>(action: FtpAction, path: string, operation: (client: Client) => Promise<T>, options: { signal?: AbortSignal | undefined; retry?: boolean } = {}): Promise<T> {
    return withRetry(
      async () => {
        const client = await pool.acquire(options.signal);
        let keep = false;
        try {
          const result = await operation(client);
          keep = true;
          return result;
        } catch (error) {
          // An FTP error reply to a command leaves the control connection in step; a failed
          // transfer or any other failure does not.
          keep = error instanceof FTPError && error.code !== 421 && !tainted.has(client);
          throw toTargetError(error, scene(action, path));
        } finally {
          if (keep) pool.release(client);
          else pool.discard(client);
        }
      },
      {
        attempts: options.retry === false ? 1 : settings.retries + 1,
        ...(options.signal ? { signal: options.signal } : {}),
        retryable: isTransientNetworkError,
        onRetry: (error, attempt, delay) => logger.debug(`${ftpTagged((error as Error).message)}; retrying in ${Math.round(delay)} ms (attempt ${attempt + 1} of ${settings.retries + 1})`),
      },
    );
  }

  /** mkdir -p with absolute paths (basic-ftp's ensureDir would change the working directory). */
  async function ensureDir(client: Client, dir: string): Promise<void> {
    if (dir === '' || dir === '/' || knownDirs.has(dir)) return;
    if ((await client.sendIgnoringError(`MKD ${dir}`)).code === 257 || (await isDirectory(client, dir))) {
      knownDirs.add(dir);
      return;
    }
    // MKD fails alike for "exists", "no parent" and "not allowed": create the parent, then try again.
    await ensureDir(client, posix.dirname(dir));
    const again = await client.sendIgnoringError(`MKD ${dir}`);
    if (again.code !== 257 && !(await isDirectory(client, dir))) throw new FTPError(again);
    knownDirs.add(dir);
  }

  async function putOnce(path: string, body: Parameters<BlobStore['put']>[1], signal: AbortSignal | undefined, leftovers: string[]): Promise<void> {
    const temp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
    let uploaded = false;
    try {
      await session('write', path, async (client) => {
        // Temporaries of earlier attempts that failed with the connection: remove them now.
        for (const old of leftovers.splice(0)) await client.sendIgnoringError(`DELE ${old}`);
        await ensureDir(client, posix.dirname(path));
        uploaded = true;
        try {
          await upload(client, body, temp, signal);
        } catch (error) {
          tainted.add(client);
          // The directory may have been removed behind our back: ask again next time.
          if (error instanceof FTPError && error.code === 553) knownDirs.delete(posix.dirname(path));
          throw error;
        }
        throwIfAborted(signal);
        // vsftpd (and RFC 959 servers on POSIX file systems) rename over an existing file
        // atomically, so a reader sees the old object or the new one, never neither.
        await client.rename(temp, path);
        handovers.invalidate(path);
      }, { signal, retry: false });
    } catch (error) {
      if (uploaded) await removeTemp(temp, error, leftovers);
      throw error;
    }
  }

  /** A failed upload leaves its temporary file; it is never listed, but removing it is tidy. */
  async function removeTemp(temp: string, cause: unknown, leftovers: string[]): Promise<void> {
    if (isTransientNetworkError(cause)) {
      leftovers.push(temp); // the server may be gone: the next attempt, if any, removes it
      return;
    }
    await session('delete', temp, (client) => client.sendIgnoringError(`DELE ${temp}`), { retry: false }).catch(() => undefined);
  }

  async function sizeOf(path: string, signal?: AbortSignal): Promise<number | undefined> {
    return session('read', path, async (client) => {
      const reply = await client.sendIgnoringError(`SIZE ${path}`);
      if (reply.code === 213) {
        const size = Number.parseInt(reply.message.slice(4), 10);
        if (Number.isSafeInteger(size)) return size;
      }
      if (reply.code === 550) return undefined; // missing, or a directory
      throw new FTPError(reply);
    }, { signal });
  }

  /**
   * The bytes [from, to) of a file of `size` bytes: on the transfer carried over from the read
   * before (`carried`) if there is one, else on a RETR of its own, resumed with REST after a
   * transient failure. At `to`, the transfer goes to the read that continues there (`next`).
   */
  async function* read(
    path: string,
    range: { from: number; to: number; size: number },
    carried: () => Retrieval | undefined,
    next: Handover | undefined,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Uint8Array> {
    const { from, to, size } = range;
    let position = from;
    let failures = 0;
    let retrieval = carried();
    try {
      while (position < to) {
        throwIfAborted(signal);
        try {
          retrieval ??= new Retrieval(await pool.acquire(signal), path, position, size);
          let complete = false;
          try {
            // A gap before the range (blobs not needed now) is read and dropped: cheaper than a new login.
            for await (const skipped of retrieval.read(position, signal)) void skipped;
            for await (const chunk of retrieval.read(to, signal)) {
              position += chunk.byteLength;
              yield chunk;
            }
            complete = true;
          } finally {
            if (!complete) {
              const failed = retrieval;
              retrieval = undefined;
              await failed.cut();
              pool.discard(failed.client);
            }
          }
        } catch (error) {
          const mapped = toTargetError(error, scene('read', path));
          if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
          if (!isTransientNetworkError(mapped) || ++failures > settings.retries) throw mapped;
          // What arrived is kept: the next attempt resumes with REST where this one stopped.
          const delay = retryDelay(failures, 250, 8_000);
          logger.debug(`${ftpTagged(mapped.message)}; resuming at byte ${position} in ${Math.round(delay)} ms (attempt ${failures + 1} of ${settings.retries + 1})`);
          await sleep(delay, signal);
        }
      }
      if (retrieval && next && to < size) {
        next.hand({ retrieval, size });
        retrieval = undefined;
      }
    } finally {
      next?.hand(undefined); // a no-op once handed
      if (retrieval) {
        // The range ended at the end of the file (the 226 comes next), or nobody reads on.
        const done = retrieval;
        if (to === size && (await done.finish().catch(() => false))) pool.release(done.client);
        else await handovers.drop(done);
      }
    }
  }

  async function listDir(dir: string, signal: AbortSignal | undefined): Promise<FileInfo[] | undefined> {
    return session('list', dir, async (client) => {
      // CWD then a bare LIST: vsftpd reads LIST's argument as options and a glob pattern.
      const cwd = await client.sendIgnoringError(`CWD ${dir || '/'}`);
      if (cwd.code === 550) return undefined;
      if (cwd.code >= 400) throw new FTPError(cwd);
      const entries = await client.list();
      for (const entry of entries) {
        if (entry.isFile && TEMP_SUFFIX.test(entry.name)) await dropIfStale(client, `${dir}/${entry.name}`);
      }
      return entries;
    }, { signal });
  }

  /** Left by a writer that was killed: never visible, only costs space. A day's age keeps it clear of writes in progress. */
  async function dropIfStale(client: Client, path: string): Promise<void> {
    const reply = await client.sendIgnoringError(`MDTM ${path}`);
    const stamp = /^213 (\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)/.exec(reply.message);
    if (!stamp) return;
    const [, y, mo, d, h, mi, s] = stamp.map(Number) as [number, number, number, number, number, number, number];
    if (Date.now() - Date.UTC(y, mo - 1, d, h, mi, s) > STALE_TEMP_MS) await client.sendIgnoringError(`DELE ${path}`);
  }

  async function* walk(dirKey: string, prefix: string, signal: AbortSignal | undefined): AsyncGenerator<BlobInfo> {
    throwIfAborted(signal);
    const dir = dirKey ? `${root}/${dirKey.slice(0, -1)}` : root;
    const entries = await listDir(dir, signal); // the connection is back in the pool before anything is yielded
    for (const entry of entries ?? []) {
      if (entry.name === '.' || entry.name === '..') continue;
      const key = dirKey + entry.name;
      if (entry.type === FileType.File && !TEMP_SUFFIX.test(key)) {
        if (key.startsWith(prefix)) yield { key, size: entry.size };
      } else if (entry.type === FileType.Directory) {
        const sub = `${key}/`;
        if (sub.startsWith(prefix) || prefix.startsWith(sub)) yield* walk(sub, prefix, signal);
      } else if (entry.type === FileType.SymbolicLink && key.startsWith(prefix)) {
        // A link (a user's choice of layout) counts as the object it points to, if it is one.
        const size = await sizeOf(`${root}/${key}`, signal);
        if (size !== undefined) yield { key, size };
      }
    }
  }

  return {
    async put(key, body, options = {}) {
      const path = pathOf(key);
      const { signal } = options;
      throwIfAborted(signal);
      const leftovers: string[] = [];
      handovers.invalidate(path);
      // A buffer can be sent again after a dropped connection; a stream cannot.
      await withRetry(() => putOnce(path, body, signal, leftovers), {
        attempts: isReplayable(body) ? settings.retries + 1 : 1,
        ...(signal ? { signal } : {}),
        retryable: isTransientNetworkError,
        onRetry: (error, attempt, delay) => logger.debug(`${ftpTagged((error as Error).message)}; uploading ${key} again in ${Math.round(delay)} ms (attempt ${attempt + 1} of ${settings.retries + 1})`),
      });
    },

    async get(key, options = {}) {
      const path = pathOf(key);
      const { signal, range } = options;
      throwIfAborted(signal);
      // Claimed and offered before the first await, so that reads asked for together find each other.
      const resuming = range && range.offset > 0 && range.length > 0 ? handovers.claim(path, range.offset, signal) : undefined;
      const next = range && range.length > 0 ? handovers.offer(path, range.offset + range.length) : undefined;
      let carried: Carried | undefined;
      try {
        carried = await resuming;
        // SIZE first: a missing object fails here, before any stream exists, and the size tells
        // whether a range ends at the end of the file and whether a transfer came back whole.
        // A carried transfer already knows it.
        const size = carried?.size ?? (await sizeOf(path, signal));
        if (size === undefined) throw new TargetError('TARGET_NOT_FOUND', `no object ${key} in ${root || '/'} on ${server}`, { plugin: 'ftp' });
        const from = Math.min(range?.offset ?? 0, size);
        const to = range ? Math.min(size, range.offset + Math.max(0, range.length)) : size;
        // A body nobody starts reading must not hold a connection, nor keep the next read waiting.
        let unread = carried?.retrieval;
        const idle = unread || next ? setTimeout(() => {
          if (unread) void handovers.drop(unread);
          unread = undefined;
          next?.hand(undefined);
        }, settings.timeoutMs) : undefined;
        idle?.unref();
        const take = () => {
          clearTimeout(idle);
          const taken = unread;
          unread = undefined;
          return taken;
        };
        return read(path, { from, to, size }, take, next, signal);
      } catch (error) {
        next?.hand(undefined);
        if (carried) await handovers.drop(carried.retrieval);
        throw error;
      }
    },

    list(prefix, options = {}) {
      const slash = prefix.lastIndexOf('/');
      const startKey = slash < 0 ? '' : prefix.slice(0, slash + 1);
      if (startKey) keyToRelativePath(startKey.slice(0, -1));
      return walk(startKey, prefix, options.signal);
    },

    async delete(key) {
      const path = pathOf(key);
      handovers.invalidate(path);
      await session('delete', path, async (client) => {
        const reply = await client.sendIgnoringError(`DELE ${path}`);
        if (reply.code < 400) return;
        // 550 means "missing" as well as "not allowed": only a file still there is a refusal.
        const size = await client.sendIgnoringError(`SIZE ${path}`);
        if (reply.code === 550 && size.code === 550) return;
        throw new FTPError(reply);
      });
    },

    async stat(key) {
      const size = await sizeOf(pathOf(key));
      return size === undefined ? undefined : { key, size };
    },

    async close() {
      handovers.close();
      pool.close();
    },
  };
}

async function isDirectory(client: Client, dir: string): Promise<boolean> {
  return (await client.sendIgnoringError(`CWD ${dir}`)).code === 250;
}

/** A message with the plugin's tag once (the store's own errors already carry it). Retries log at debug, as in the other targets: the final error says what failed. */
function ftpTagged(message: string): string {
  return message.startsWith('[ftp]') ? message : `[ftp] ${message}`;
}
