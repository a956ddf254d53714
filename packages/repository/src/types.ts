import type { EntryBase, SourceEntry } from './entry.js';

/** One source's contribution to a snapshot: it becomes a top-level directory named `name`. */
export interface BackupSourceInput {
  /** Unique within the snapshot; the top-level directory the source's entries live under. */
  name: string;
  /** The plugin's short name (`"files"`, `"mysql"`). */
  kind: string;
  /** Human-readable description without secrets (`/home/ann/data`). */
  description: string;
  /**
   * Depth-first: a directory before its contents, all of a directory's contents before its next sibling.
   * As a function, it receives `warn` for entries the source had to skip; they count in the summary.
   */
  entries: AsyncIterable<SourceEntry> | ((warn: (warning: BackupWarning) => void) => AsyncIterable<SourceEntry>);
}

/** What a backup would read, before running it (`Repository.estimate`). */
export interface SizeEstimate {
  /** Files, directories and content bytes the sources hold now. */
  files: number;
  dirs: number;
  bytes: number;
  /** Files (and their bytes) that are new or changed since the parent snapshot and would be read: an upper bound of the new data. */
  filesToRead: number;
  bytesToRead: number;
  /** Entries the sources could not read (a backup would skip them). */
  warnings: number;
  /** The snapshot compared with, if any. */
  parent?: string;
}

export interface BackupOptions {
  tags?: string[];
  host?: string;
  /** The snapshot to compare against; default: the newest snapshot of the same host and source names. `null`: none. */
  parent?: Snapshot | null;
  /** 1 (fastest) … 9 (smallest); default: the repository's. */
  compressionLevel?: number;
  /** Override the snapshot time (tests, imports). */
  time?: Date;
  signal?: AbortSignal;
  onProgress?: (progress: BackupProgress) => void;
  /** A problem that does not stop the backup (an unreadable file); it is counted in the summary too. */
  onWarning?: (warning: BackupWarning) => void;
}

export interface BackupProgress {
  filesDone: number;
  bytesDone: number;
  /** Bytes stored so far (after deduplication, compression, encryption). */
  bytesAdded: number;
  currentPath?: string;
  /** Estimated from the parent snapshot, when there is one: enough for an ETA. */
  filesTotal?: number;
  bytesTotal?: number;
}

export interface BackupWarning {
  path: string;
  message: string;
  code?: string;
}

export interface SnapshotSummary {
  filesNew: number;
  filesChanged: number;
  filesUnchanged: number;
  dirs: number;
  /** Content bytes actually read from the sources. */
  bytesRead: number;
  /** Total size of all files in the snapshot. */
  bytesTotal: number;
  /** Bytes written to the repository (compressed and encrypted, new blobs only). */
  bytesAdded: number;
  blobsAdded: number;
  /** Entries that could not be read; a snapshot with warnings is marked incomplete. */
  warnings: number;
  complete: boolean;
  durationMs: number;
}

export interface SnapshotSourceInfo {
  name: string;
  kind: string;
  description: string;
}

export interface Snapshot {
  /** 64 hex characters; commands accept any unique prefix of 4 or more hex digits (8 is what listings show). */
  id: string;
  /** ISO-8601 time the backup started. */
  time: string;
  host: string;
  username: string;
  sources: SnapshotSourceInfo[];
  /** The sources' descriptions, for listings. */
  paths: string[];
  tags: string[];
  parent?: string;
  /** Id of the root tree blob. */
  tree: string;
  summary: SnapshotSummary;
  programVersion: string;
}

export interface InitOptions {
  password: string;
  /** Default compression for backups into this repository, 1…9; default 3. */
  compressionLevel?: number;
  /** scrypt cost; the default (N=2^15, r=8, p=1) takes about 0.1 s. Tests may lower it. */
  kdf?: { N: number; r: number; p: number };
}

export interface OpenOptions {
  password: string;
}

export interface WalkOptions {
  /** Only these paths (and everything under them) — e.g. `files/docs`; parents are included as directories. */
  include?: string[];
}

export interface ListDirectoryOptions {
  /** Give each directory the bytes of the files under it, at any depth, as its size: reads every tree below it, one at a time. */
  sizes?: boolean;
  signal?: AbortSignal;
}

/** One entry of a snapshot's directory (`Repository.listDirectory`). */
export interface DirectoryEntry extends EntryBase {
  /** The last segment of `path`. */
  name: string;
  /** A file's content bytes; a directory's, with `sizes`, the bytes of the files under it (else 0); a symlink's 0. */
  size: number;
}

export type DiffChange = 'added' | 'removed' | 'modified' | 'metadata';
export interface DiffEntry {
  path: string;
  change: DiffChange;
  type: 'file' | 'dir' | 'symlink';
}

export interface CheckOptions {
  /** Download, decrypt and re-hash every blob. */
  readData?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: { packsDone: number; packsTotal: number; bytesDone: number }) => void;
}

export interface CheckProblem {
  kind: 'missing-pack' | 'pack-size' | 'pack-hash' | 'blob-unreadable' | 'blob-missing' | 'index-unreadable' | 'snapshot-unreadable' | 'tree-unreadable';
  message: string;
  /** Object key the problem is in (pack, index, snapshot). */
  key?: string;
  /** Snapshots (ids) and files whose data the problem affects. */
  affects: Array<{ snapshot: string; path?: string }>;
}

export interface CheckReport {
  ok: boolean;
  snapshots: number;
  packs: number;
  blobs: number;
  bytesRead: number;
  problems: CheckProblem[];
}

export interface RetentionPolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  /** A duration like `30d`, `12h`, `2w`, `1y6m`: keep everything newer than that. */
  keepWithin?: string;
  /** Keep every snapshot carrying one of these tags. */
  keepTags?: string[];
}

export interface ForgetOptions {
  dryRun?: boolean;
  prune?: boolean;
  now?: Date;
  /** Only snapshots carrying every one of these tags are considered (a job's own, say); the others are left alone. */
  tags?: string[];
}

export interface ForgetResult {
  keep: Array<{ snapshot: Snapshot; reasons: string[] }>;
  remove: Snapshot[];
  prune?: PruneResult;
}

export interface PruneResult {
  packsDeleted: number;
  packsRewritten: number;
  bytesFreed: number;
  dryRun: boolean;
}
