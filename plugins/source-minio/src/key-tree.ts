/**
 * Lays object keys out as a tree of entry paths, depth-first, without buffering: S3 lists keys in
 * byte order, in which all keys under `a/` are contiguous (they share that prefix), so each
 * directory's contents arrive together and a directory, once left, never comes back. Siblings need
 * no particular order (the repository sorts each directory), so `a-b` listed before `a/b` is fine.
 *
 * What a file system cannot hold is mapped, never dropped: an empty segment (`a//b`, a leading
 * `/`, a trailing `/` on an object with content) becomes `(empty)`, `.` and `..` become `(dot)` and
 * `(dotdot)`, and a name already taken in its directory — the object `a` next to the objects under
 * `a/`, or a mapped name meeting a real one — gets a `~2`, `~3`… suffix. The exact key travels in
 * the entry's metadata, so a restore into a bucket writes every object back under its own key.
 */
export interface Placement {
  /** Directory entries to yield first: path, and the key of the object that opened each. */
  dirs: string[];
  /** The object's own path (for a folder marker, the directory it stands for). */
  path: string;
  /** Whether the object is a folder marker (`photos/`, empty) yielded as that directory. */
  folder: boolean;
  /** Set when the object's path differs from its key: how it was mapped, for the log. */
  mapped?: string;
}

interface Frame {
  /** The key segment this directory stands for. */
  segment: string;
  path: string;
  /** Every name used in this directory so far. */
  names: Set<string>;
}

export class KeyTree {
  private readonly stack: Frame[] = [{ segment: '', path: '', names: new Set() }];

  /**
   * Where the object with key `relative` (relative to the source prefix) goes. `undefined` for the
   * folder marker of the source's root (the key equal to the prefix followed by `/`), which has no
   * entry of its own. `size` tells an empty folder marker (`dir/`, made by web consoles) from an
   * object that has content and happens to end with `/`.
   */
  place(relative: string, size: number): Placement | undefined {
    if (relative === '') return undefined;
    const folder = relative.endsWith('/') && size === 0;
    const segments = (folder ? relative.slice(0, -1) : relative).split('/');
    const dirSegments = folder ? segments : segments.slice(0, -1);

    // Leave the directories this key is not inside: in listing order, they are complete.
    let depth = 0;
    while (depth + 1 < this.stack.length && depth < dirSegments.length && this.stack[depth + 1]!.segment === dirSegments[depth]) depth++;
    this.stack.length = depth + 1;

    const dirs: string[] = [];
    let mapped = false;
    for (let i = depth; i < dirSegments.length; i++) {
      const parent = this.stack[this.stack.length - 1]!;
      const name = this.claim(parent, dirSegments[i]!);
      if (name !== dirSegments[i]) mapped = true;
      const path = parent.path ? `${parent.path}/${name}` : name;
      this.stack.push({ segment: dirSegments[i]!, path, names: new Set() });
      dirs.push(path);
    }
    if (folder) {
      // A marker after its directory was opened (a server listing out of order): keep it as a file.
      if (dirs.length === 0) return this.file(relative, ['(folder)'], true);
      const path = dirs.pop()!;
      return { dirs, path, folder: true, ...(mapped ? { mapped: path } : {}) };
    }
    return this.file(relative, [segments[segments.length - 1]!], mapped, dirs);
  }

  private file(relative: string, [leaf]: string[], mappedAlready: boolean, dirs: string[] = []): Placement {
    const parent = this.stack[this.stack.length - 1]!;
    const name = this.claim(parent, leaf!);
    const path = parent.path ? `${parent.path}/${name}` : name;
    const mapped = mappedAlready || path !== relative;
    return { dirs, path, folder: false, ...(mapped ? { mapped: path } : {}) };
  }

  /** A name for `segment` in `parent` that is valid and not taken yet; records it as taken. */
  private claim(parent: Frame, segment: string): string {
    const base = safeName(segment);
    let name = base;
    for (let n = 2; parent.names.has(name); n++) name = `${base}~${n}`;
    parent.names.add(name);
    return name;
  }
}

/** A key segment as a file name: one non-empty segment, never `.` or `..`, without NUL. */
export function safeName(segment: string): string {
  if (segment === '') return '(empty)';
  if (segment === '.') return '(dot)';
  if (segment === '..') return '(dotdot)';
  return segment.replaceAll('\0', '%00');
}
