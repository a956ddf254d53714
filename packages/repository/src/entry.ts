/**
 * Entries are what sources yield and restore consume: one file-system-like node each.
 * Paths are relative, `/`-separated, without `.` or `..` segments, and never empty.
 */
export type EntryType = 'file' | 'dir' | 'symlink';

export interface EntryBase {
  /** Relative `/`-separated path inside the source, e.g. `photos/2024/a.jpg`. */
  path: string;
  type: EntryType;
  /** Permission bits (e.g. 0o644). */
  mode: number;
  /** Modification time in milliseconds since the epoch (may carry sub-millisecond precision). */
  mtimeMs: number;
  /** Size in bytes of the content (0 for directories and symlinks). */
  size: number;
  /** Symlink target, verbatim. */
  linkTarget?: string;
  /** Free-form, JSON-serialisable facts a source wants back at restore (owner, content type, tags…). */
  metadata?: Record<string, unknown>;
}

/** What a source yields while backing up. */
export interface SourceEntry extends EntryBase {
  /**
   * Identity used with size and mtime to detect unchanged files against the parent snapshot
   * (the inode for files on disk, an ETag for objects). Undefined: always read the content.
   */
  changeKey?: string;
  /** Opens the content of a file. Called at most once, and only when the content is needed. */
  open?: () => AsyncIterable<Uint8Array> | Promise<AsyncIterable<Uint8Array>>;
  /**
   * For content in a local regular file: opens it and returns its file descriptor, which the
   * repository reads from its start to its end (positioned reads: the descriptor's offset does not
   * matter) on a worker thread and then closes, so the bytes never pass through the main thread. Used instead of `open` when given; called at most once. Its errors, and read errors
   * (as for `open`), make the file a warning.
   */
  openFile?: () => number | Promise<number>;
}

/** What restore hands to a source: the stored node, with its content as a stream. */
export interface RestoreEntry extends EntryBase {
  /** Streams the content of a file, verified chunk by chunk. Call at most once. */
  open: (options?: OpenContentOptions) => AsyncIterable<Uint8Array>;
  /**
   * For content going into a local file: writes all of it into `fd`, an open descriptor of an
   * empty regular file, from offset 0, on worker threads, so the bytes never pass through the
   * main thread. Resolves once written. It rejects with the system's error (its `code`, e.g.
   * ENOSPC) when the file cannot be written, and with a CairnError for anything else (damage,
   * abort). Either way nothing writes into `fd` once it has settled: keep it open until then.
   * Call at most once, instead of `open`.
   */
  writeFile?: (fd: number, options?: WriteFileOptions) => Promise<void>;
}

export interface WriteFileOptions {
  signal?: AbortSignal;
  /** Called as parts of the content are written, with their length. */
  onBytes?: (bytes: number) => void;
}

export interface OpenContentOptions {
  /**
   * The caller is done with each chunk once it asks for the next one (or stops reading), so the
   * chunk's memory may then be reused for another: no new buffer per chunk. For callers that write
   * each chunk out before reading on, as a restore to disk does; one that keeps chunks must not ask.
   */
  reuseChunks?: boolean;
}
