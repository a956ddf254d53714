import type { BlobStore } from './blob-store.js';
import type { RestoreEntry } from './entry.js';
import type {
  BackupOptions, BackupSourceInput, CheckOptions, CheckReport, DiffEntry, ForgetOptions, ForgetResult,
  InitOptions, OpenOptions, PruneResult, RetentionPolicy, Snapshot, WalkOptions,
} from './types.js';

/** An open, unlocked-by-default repository. Methods take the locks they need. */
export class Repository {
  private constructor(readonly store: BlobStore) {}

  static async init(store: BlobStore, options: InitOptions): Promise<Repository> { void store; void options; throw new Error('TODO'); }
  static async open(store: BlobStore, options: OpenOptions): Promise<Repository> { void store; void options; throw new Error('TODO'); }

  /** Stores the sources' entries as a new snapshot: packs, then index, then the snapshot itself. */
  async backup(sources: BackupSourceInput[], options: BackupOptions = {}): Promise<Snapshot> { void sources; void options; throw new Error('TODO'); }
  /** All snapshots, oldest first. */
  async snapshots(): Promise<Snapshot[]> { throw new Error('TODO'); }
  /** `latest`, a full id or a unique prefix (8+ hex); with `at`, the newest snapshot taken at or before it. */
  async findSnapshot(ref: string, options: { at?: Date } = {}): Promise<Snapshot> { void ref; void options; throw new Error('TODO'); }
  /** Every node of the snapshot, depth-first, directories before their contents. */
  walk(snapshot: Snapshot, options: WalkOptions = {}): AsyncIterable<RestoreEntry> { void snapshot; void options; throw new Error('TODO'); }
  diff(from: Snapshot, to: Snapshot): AsyncIterable<DiffEntry> { void from; void to; throw new Error('TODO'); }
  async check(options: CheckOptions = {}): Promise<CheckReport> { void options; throw new Error('TODO'); }
  async forget(policy: RetentionPolicy, options: ForgetOptions = {}): Promise<ForgetResult> { void policy; void options; throw new Error('TODO'); }
  async prune(options: { dryRun?: boolean } = {}): Promise<PruneResult> { void options; throw new Error('TODO'); }
  /** Adds a key for `newPassword` and removes the one this repository was opened with; no data is rewritten. */
  async changePassword(newPassword: string): Promise<void> { void newPassword; throw new Error('TODO'); }
  async close(): Promise<void> { throw new Error('TODO'); }
}
