export { Repository } from './repository.js';
export { CairnError, RepositoryError, TargetError, AbortedError, throwIfAborted } from './errors.js';
export type { RepositoryErrorCode, TargetErrorCode } from './errors.js';
export { readAll, isReplayable, bodyParts, replayableSize } from './blob-store.js';
export type { BlobStore, BlobStoreCapabilities, BlobInfo, ByteRange, PutBody } from './blob-store.js';
export type { EntryType, EntryBase, SourceEntry, RestoreEntry, OpenContentOptions, WriteFileOptions } from './entry.js';
export type * from './types.js';
