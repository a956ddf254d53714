import { TargetError } from './errors.js';

/**
 * The contract a storage target implements: a flat store of immutable blobs under string keys.
 * Keys are `/`-separated, made of [A-Za-z0-9._/-] by the repository; targets may accept more.
 */
export interface BlobStore {
  /** What this store can do; the repository checks before a run instead of probing. */
  readonly capabilities: BlobStoreCapabilities;
  /**
   * Stores `body` under `key`. Visibility is atomic: a reader sees either no object or the whole
   * one, never a partial write, even when the writer dies half-way. Overwrites replace the object.
   * A buffer or an array of buffers can be sent again, so a remote target retries a transient
   * failure of such a put; a stream cannot be replayed, so its put fails on the first one.
   */
  put(key: string, body: PutBody, options?: { signal?: AbortSignal }): Promise<void>;
  /** Streams the object, or the byte range `[offset, offset + length)` of it. Missing: TARGET_NOT_FOUND. */
  get(key: string, options?: { range?: ByteRange; signal?: AbortSignal }): Promise<AsyncIterable<Uint8Array>>;
  /** Lists every object whose key starts with `prefix`, in no particular order. */
  list(prefix: string, options?: { signal?: AbortSignal }): AsyncIterable<BlobInfo>;
  /** Removes the object; removing a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** The object's size, or undefined when it does not exist. */
  stat(key: string): Promise<BlobInfo | undefined>;
  /**
   * Optional: the path of the object's bytes when they are a plain file on this machine, which
   * the repository may then read itself (on worker threads, with positioned reads) instead of
   * through `get`. Only for stores whose objects stay as they are once written; checks `key` as
   * `get` does. A restore reads envelopes this way.
   */
  localPath?(key: string): string;
  /** Releases connections; the store is unusable afterwards. */
  close(): Promise<void>;
  /** Human-readable location with any secret removed, for logs and errors. */
  readonly location: string;
}

export interface BlobStoreCapabilities {
  /** `get` honours `range` without reading the whole object. */
  rangeReads: boolean;
  /** `put` is atomic through a temporary name and a rename (rather than the store's own atomic put). */
  atomicRename: boolean;
  /** How many transfers the store handles well at once. */
  maxParallel: number;
}

/** What `put` accepts: one buffer, buffers in order (replayable, sent without concatenating), or a stream. */
export type PutBody = Uint8Array | readonly Uint8Array[] | AsyncIterable<Uint8Array>;

/** True when the body can be sent again after a failed attempt. */
export function isReplayable(body: PutBody): body is Uint8Array | readonly Uint8Array[] {
  return body instanceof Uint8Array || Array.isArray(body);
}

/** The body as pieces to iterate, whichever form it came in. */
export function bodyParts(body: PutBody): Iterable<Uint8Array> | AsyncIterable<Uint8Array> {
  return body instanceof Uint8Array ? [body] : body;
}

/** The total size of a replayable body. */
export function replayableSize(body: Uint8Array | readonly Uint8Array[]): number {
  return body instanceof Uint8Array ? body.byteLength : body.reduce((sum, part) => sum + part.byteLength, 0);
}

export interface ByteRange {
  offset: number;
  length: number;
}

export interface BlobInfo {
  key: string;
  size: number;
}

/** Reads a whole (small) object into memory: for repository metadata, never for user data. */
export async function readAll(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of body) parts.push(Buffer.from(part.buffer, part.byteOffset, part.byteLength));
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** A failed read of a file a store named through `localPath`, reported as that store's `get` would report it. */
export function localReadError(path: string, error: unknown): TargetError {
  const { code } = error as NodeJS.ErrnoException;
  const kind = code === 'ENOENT' ? 'TARGET_NOT_FOUND' : code === 'EACCES' || code === 'EPERM' ? 'TARGET_PERMISSION' : 'TARGET_IO';
  return new TargetError(kind, `cannot read ${path} (${code})`, { cause: error });
}
