import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { storeSources } from './backup.js';
import { BlobReader } from './blob-reader.js';
import type { BlobStore } from './blob-store.js';
import { BlobWriter } from './blob-writer.js';
import { checkRepository } from './check.js';
import { Chunker, DEFAULT_CHUNKER, gearTable, type ChunkerParams } from './chunker.js';
import { zstdLevel } from './compression.js';
import { generateMasterKeys, type MasterKeys } from './crypto.js';
import { diffTrees } from './diff.js';
import { estimateSources } from './estimate.js';
import type { RestoreEntry } from './entry.js';
import { CairnError, RepositoryError, TargetError } from './errors.js';
import { openWithPassword, safeUsername, writeKeyFile } from './keys.js';
import { CONFIG_KEY, KEYS_PREFIX, SNAPSHOTS_PREFIX, isObjectId } from './layout.js';
import { Lock, removeLocks } from './locks.js';
import { MasterIndex } from './master-index.js';
import { getJson, listKeys, putJson } from './objects.js';
import { pruneRepository } from './prune.js';
import { SealPool } from './seal-pool.js';
import { applyPolicy } from './retention.js';
import { findNode, listTree, walkTree } from './walk.js';
import type {
  BackupOptions, BackupProgress, BackupSourceInput, CheckOptions, CheckProblem, CheckReport, DiffEntry, DirectoryEntry, ForgetOptions, ForgetResult,
  InitOptions, ListDirectoryOptions, OpenOptions, PruneResult, RetentionPolicy, SizeEstimate, Snapshot, WalkOptions,
} from './types.js';

const FORMAT_VERSION = 1;
const PROGRAM_VERSION = '0.1.0';

interface RepositoryConfig {
  version: number;
  id: string;
  created: string;
  chunker: ChunkerParams;
  compressionLevel: number;
}

/** An open repository. Each operation takes the lock it needs and loads the index it reads. */
export class Repository {
  private pool: SealPool | undefined;

  private constructor(
    readonly store: BlobStore,
    private readonly keys: MasterKeys,
    private keyId: string,
    readonly config: Readonly<RepositoryConfig>,
  ) {}

  /** Creates a repository in an empty location. */
  static async init(store: BlobStore, options: InitOptions): Promise<Repository> {
    requirePassword(options.password);
    const compressionLevel = options.compressionLevel ?? 3;
    zstdLevel(compressionLevel);
    if ((await store.stat(CONFIG_KEY)) || (await listKeys(store, KEYS_PREFIX)).length > 0) {
      throw new RepositoryError('REPO_EXISTS', `a repository already exists at ${store.location}`);
    }
    const keys = generateMasterKeys();
    const config: RepositoryConfig = {
      version: FORMAT_VERSION,
      id: randomBytes(32).toString('hex'),
      created: new Date().toISOString(),
      chunker: DEFAULT_CHUNKER,
      compressionLevel,
    };
    // The key comes first: a config without a key could never be opened, a key alone is harmless.
    const keyId = await writeKeyFile(store, options.password, keys, options.kdf);
    await putJson(store, keys.encryption, '', config, CONFIG_KEY);
    return new Repository(store, keys, keyId, config);
  }

  static async open(store: BlobStore, options: OpenOptions): Promise<Repository> {
    requirePassword(options.password);
    if (!(await store.stat(CONFIG_KEY))) {
      throw new RepositoryError('REPO_NOT_FOUND', `no repository at ${store.location}; create one with \`cairn init\``);
    }
    const { keys, keyId } = await openWithPassword(store, options.password);
    const config = await getJson<RepositoryConfig>(store, keys.encryption, CONFIG_KEY, 'the repository config');
    if (config.version !== FORMAT_VERSION) {
      throw new RepositoryError('REPO_UNSUPPORTED_VERSION', `repository format ${config.version} is not supported by this version of Cairn (it reads format ${FORMAT_VERSION}); upgrade Cairn`);
    }
    return new Repository(store, keys, keyId, config);
  }

  get id(): string {
    return this.config.id;
  }

  /** Stores the sources' entries as a new snapshot: packs, then index, then the snapshot itself. */
  async backup(sources: BackupSourceInput[], options: BackupOptions = {}): Promise<Snapshot> {
    const started = options.time ?? new Date();
    const startedAt = performance.now(); // monotonic: a clock step must not change a duration
    return this.withLock(false, async () => {
      const index = await MasterIndex.load(this.store, this.keys.encryption);
      const reader = new BlobReader(this.store, this.keys, index);
      const host = options.host ?? hostname();
      const parent = options.parent === undefined ? await this.latestOf(host, sources.map((s) => s.name)) : options.parent ?? undefined;
      const writer = new BlobWriter(this.store, this.keys, index, { zstdLevel: zstdLevel(options.compressionLevel ?? this.config.compressionLevel) }, this.workers());
      const chunker = new Chunker(gearTable(this.keys.chunker), this.config.chunker);
      let outcome;
      try {
        const estimate = parent ? { filesTotal: parent.summary.filesNew + parent.summary.filesChanged + parent.summary.filesUnchanged, bytesTotal: parent.summary.bytesTotal } : {};
        const onProgress = options.onProgress && ((p: BackupProgress) => options.onProgress!({ ...p, ...estimate }));
        outcome = await storeSources({ writer, reader, index, idKey: this.keys.id, chunker }, sources, parent?.tree, { ...options, ...(onProgress ? { onProgress } : {}) });
        await writer.flush();
      } catch (error) {
        await writer.abandon();
        throw error;
      }
      const snapshot: Omit<Snapshot, 'id'> = {
        time: started.toISOString(),
        host,
        username: safeUsername(),
        sources: sources.map(({ name, kind, description }) => ({ name, kind, description })),
        paths: sources.map((s) => s.description),
        tags: [...new Set(options.tags ?? [])],
        ...(parent ? { parent: parent.id } : {}),
        tree: outcome.tree,
        summary: { ...outcome.summary, bytesAdded: writer.bytesAdded, blobsAdded: writer.blobsAdded, durationMs: Math.round(performance.now() - startedAt) },
        programVersion: PROGRAM_VERSION,
      };
      const id = await putJson(this.store, this.keys.encryption, SNAPSHOTS_PREFIX, snapshot);
      return { id, ...snapshot };
    });
  }

  /** What a backup of `sources` would read and roughly add, from metadata alone; takes no lock and writes nothing. */
  async estimate(sources: BackupSourceInput[], options: { host?: string; signal?: AbortSignal } = {}): Promise<SizeEstimate> {
    const index = await MasterIndex.load(this.store, this.keys.encryption);
    const reader = new BlobReader(this.store, this.keys, index);
    const parent = await this.latestOf(options.host ?? hostname(), sources.map((s) => s.name));
    const estimate = await estimateSources({ reader, index }, sources, parent?.tree, options.signal ? { signal: options.signal } : {});
    return { ...estimate, ...(parent ? { parent: parent.id } : {}) };
  }

  /** All snapshots, oldest first. An unreadable snapshot is an error here; `check` reports it instead. */
  async snapshots(): Promise<Snapshot[]> {
    const { snapshots, problems } = await this.loadSnapshots();
    if (problems[0]) throw new RepositoryError('REPO_CORRUPT', `${problems[0].message}; run \`cairn check\``);
    return snapshots;
  }

  /** `latest`, a full id or a unique prefix; with `at`, the newest snapshot taken at or before it. */
  async findSnapshot(ref: string, options: { at?: Date } = {}): Promise<Snapshot> {
    const all = await this.snapshots();
    if (ref === 'latest') {
      const at = options.at?.toISOString();
      const candidates = at ? all.filter((s) => s.time <= at) : all;
      const found = candidates[candidates.length - 1];
      if (!found) {
        throw new RepositoryError('SNAPSHOT_NOT_FOUND', at ? `no snapshot was taken at or before ${at}` : 'the repository has no snapshots yet');
      }
      return found;
    }
    if (!/^[0-9a-f]{4,64}$/.test(ref)) throw new RepositoryError('SNAPSHOT_NOT_FOUND', `"${ref}" is not a snapshot id: use "latest" or the hex id shown by \`cairn snapshots\``);
    const matches = all.filter((s) => s.id.startsWith(ref));
    if (matches.length > 1) throw new RepositoryError('SNAPSHOT_AMBIGUOUS', `snapshot id prefix ${ref} matches ${matches.length} snapshots; give more digits`);
    if (!matches[0]) throw new RepositoryError('SNAPSHOT_NOT_FOUND', `no snapshot ${ref} in this repository`);
    return matches[0];
  }

  /** Every node of the snapshot, depth-first, directories before their contents. Holds a shared lock while iterating. */
  async *walk(snapshot: Snapshot, options: WalkOptions = {}): AsyncGenerator<RestoreEntry> {
    const include = options.include?.map(normalizeInclude);
    const lock = await Lock.acquire(this.store, this.keys, false);
    try {
      const index = await MasterIndex.load(this.store, this.keys.encryption);
      const reader = new BlobReader(this.store, this.keys, index, this.workers());
      // Every include must exist before anything is yielded, so a typo never restores a bare skeleton.
      for (const path of include ?? []) {
        if (!(await findNode(reader, snapshot.tree, path.split('/')))) {
          throw new RepositoryError('PATH_NOT_FOUND', `${path} is not in snapshot ${snapshot.id.slice(0, 8)}`);
        }
      }
      yield* walkTree(reader, snapshot.tree, include);
    } finally {
      await lock.release();
    }
  }

  /**
   * One directory of the snapshot, its entries by name: `path` as `walk` names it (`files/docs`),
   * empty for the root (a directory per source). Only the trees on the way to it are read, and with
   * `sizes` those below its directories, one at a time, for their totals. PATH_NOT_FOUND when the
   * path is not in the snapshot, NOT_A_DIRECTORY when it is a file or a symlink.
   */
  async listDirectory(snapshot: Snapshot, path: string, options: ListDirectoryOptions = {}): Promise<DirectoryEntry[]> {
    const wanted = normalizeInclude(path);
    return this.withLock(false, async () => {
      const index = await MasterIndex.load(this.store, this.keys.encryption);
      // Trees are opened here, not on the pool's workers: a listing reads a few small blobs, and
      // starting a worker took longer (~60 ms) than the rest of a request to list a folder.
      const reader = new BlobReader(this.store, this.keys, index);
      let tree: string | undefined = snapshot.tree;
      if (wanted !== '') {
        const node = await findNode(reader, snapshot.tree, wanted.split('/'));
        const id = snapshot.id.slice(0, 8);
        if (!node) throw new RepositoryError('PATH_NOT_FOUND', `${wanted} is not in snapshot ${id}`);
        if (node.type !== 'dir') throw new RepositoryError('NOT_A_DIRECTORY', `${wanted} is a ${node.type}, not a directory (snapshot ${id}): list the directory that holds it`);
        tree = node.subtree;
      }
      return tree === undefined ? [] : listTree(reader, tree, wanted, options);
    });
  }

  async *diff(from: Snapshot, to: Snapshot): AsyncGenerator<DiffEntry> {
    const index = await MasterIndex.load(this.store, this.keys.encryption);
    yield* diffTrees(new BlobReader(this.store, this.keys, index), from.tree, to.tree);
  }

  async check(options: CheckOptions = {}): Promise<CheckReport> {
    return this.withLock(false, async () => {
      let index: MasterIndex;
      try {
        index = await MasterIndex.load(this.store, this.keys.encryption);
      } catch (error) {
        if (!(error instanceof RepositoryError)) throw error;
        const problem: CheckProblem = { kind: 'index-unreadable', message: error.message, affects: [] };
        return { ok: false, snapshots: 0, packs: 0, blobs: 0, bytesRead: 0, problems: [problem] };
      }
      const { snapshots, problems } = await this.loadSnapshots();
      const pool = this.workers();
      return checkRepository(this.store, this.keys.encryption, index, new BlobReader(this.store, this.keys, index, pool), pool, snapshots, problems, options);
    });
  }

  async forget(policy: RetentionPolicy, options: ForgetOptions = {}): Promise<ForgetResult> {
    const tags = options.tags ?? [];
    const considered = (await this.snapshots()).filter((snapshot) => tags.every((tag) => snapshot.tags.includes(tag)));
    const decision = applyPolicy(considered, policy);
    if (options.dryRun) {
      return { ...decision, ...(options.prune ? { prune: await this.prune({ dryRun: true }) } : {}) };
    }
    await this.withLock(true, async () => {
      for (const snapshot of decision.remove) await this.store.delete(SNAPSHOTS_PREFIX + snapshot.id);
    });
    return { ...decision, ...(options.prune ? { prune: await this.prune() } : {}) };
  }

  async prune(options: { dryRun?: boolean } = {}): Promise<PruneResult> {
    return this.withLock(true, async () => {
      const index = await MasterIndex.load(this.store, this.keys.encryption);
      const snapshots = await this.snapshots();
      return pruneRepository(this.store, this.keys, index, new BlobReader(this.store, this.keys, index), snapshots, options.dryRun ?? false);
    });
  }

  /** Adds a key for `newPassword` and removes the one this repository was opened with; no data is rewritten. */
  async changePassword(newPassword: string): Promise<void> {
    requirePassword(newPassword);
    const newKeyId = await writeKeyFile(this.store, newPassword, this.keys);
    await this.store.delete(KEYS_PREFIX + this.keyId);
    this.keyId = newKeyId;
  }

  /** Removes stale locks (or every lock, with `all`); returns how many were removed. */
  async unlock(options: { all?: boolean } = {}): Promise<number> {
    return removeLocks(this.store, this.keys, options.all ?? false);
  }

  /**
   * Stops the worker threads. Content streams handed out by `walk` read through them, so close
   * the repository only once those are consumed.
   */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }

  /** Worker threads for hashing, compression and encryption, started on first use. */
  private workers(): SealPool {
    return (this.pool ??= new SealPool(this.keys));
  }

  private async withLock<T>(exclusive: boolean, work: () => Promise<T>): Promise<T> {
    const lock = await Lock.acquire(this.store, this.keys, exclusive);
    try {
      return await work();
    } finally {
      await lock.release();
    }
  }

  private async latestOf(host: string, names: string[]): Promise<Snapshot | undefined> {
    const wanted = [...names].sort().join('\0');
    const all = await this.snapshots();
    return all.filter((s) => s.host === host && s.sources.map((x) => x.name).sort().join('\0') === wanted).at(-1);
  }

  private async loadSnapshots(): Promise<{ snapshots: Snapshot[]; problems: CheckProblem[] }> {
    const snapshots: Snapshot[] = [];
    const problems: CheckProblem[] = [];
    for (const key of await listKeys(this.store, SNAPSHOTS_PREFIX)) {
      const id = key.slice(SNAPSHOTS_PREFIX.length);
      if (!isObjectId(id)) continue;
      try {
        snapshots.push({ ...(await getJson<Omit<Snapshot, 'id'>>(this.store, this.keys.encryption, key, `snapshot ${id.slice(0, 8)}`)), id });
      } catch (error) {
        if (error instanceof TargetError && error.code === 'TARGET_NOT_FOUND') continue; // forgotten while we listed
        if (!(error instanceof CairnError) || error.code !== 'REPO_CORRUPT') throw error;
        problems.push({ kind: 'snapshot-unreadable', message: error.message, key, affects: [{ snapshot: id }] });
      }
    }
    snapshots.sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
    return { snapshots, problems };
  }
}

function requirePassword(password: string): void {
  if (typeof password !== 'string' || password.length === 0) {
    throw new RepositoryError('REPO_WRONG_PASSWORD', 'a password is required: set CAIRN_PASSWORD or pass --password-file');
  }
}

function normalizeInclude(path: string): string {
  return path.split('/').filter((s) => s !== '' && s !== '.').join('/');
}
