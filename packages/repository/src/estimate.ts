import type { BlobReader } from './blob-reader.js';
import { throwIfAborted } from './errors.js';
import type { MasterIndex } from './master-index.js';
import { ParentLookup, isUnchanged } from './parent-lookup.js';
import { splitEntryPath } from './tree.js';
import type { BackupSourceInput, BackupWarning, SizeEstimate } from './types.js';

/**
 * What a backup of `sources` would do, from their entries' metadata alone: no content is read.
 * A file whose change key, size and mtime match the parent snapshot would be reused unread, as
 * the backup itself decides; every other file would be read and chunked. Its bytes bound the new
 * data from above: deduplication and compression usually store much less.
 */
export async function estimateSources(
  deps: { reader: BlobReader; index: MasterIndex },
  sources: BackupSourceInput[],
  parentTree: string | undefined,
  options: { signal?: AbortSignal } = {},
): Promise<Omit<SizeEstimate, 'parent'>> {
  const parents = new ParentLookup(deps.reader, parentTree);
  const estimate = { files: 0, dirs: 0, bytes: 0, filesToRead: 0, bytesToRead: 0, warnings: 0 };
  const warn = (_warning: BackupWarning): void => {
    estimate.warnings++;
  };
  for (const source of sources) {
    const [sourceName] = splitEntryPath(source.name);
    const entries = typeof source.entries === 'function' ? source.entries(warn) : source.entries;
    for await (const entry of entries) {
      throwIfAborted(options.signal);
      if (entry.type === 'dir') estimate.dirs++;
      if (entry.type !== 'file') continue;
      estimate.files++;
      estimate.bytes += entry.size;
      const segments = [sourceName!, ...splitEntryPath(entry.path)];
      if (!isUnchanged(await parents.node(segments), entry, deps.index)) {
        estimate.filesToRead++;
        estimate.bytesToRead += entry.size;
      }
    }
  }
  return estimate;
}
