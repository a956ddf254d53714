import type { BlobReader } from './blob-reader.js';
import { loadTree } from './walk.js';
import type { TreeNode } from './tree.js';
import type { DiffEntry } from './types.js';

/** Compares two trees; identical subtrees (same id) are skipped without being read. */
export async function* diffTrees(reader: BlobReader, from: string | undefined, to: string | undefined, prefix = ''): AsyncGenerator<DiffEntry> {
  if (from === to) return;
  const before = new Map((from ? await loadTree(reader, from) : []).map((n) => [n.name, n]));
  const after = new Map((to ? await loadTree(reader, to) : []).map((n) => [n.name, n]));
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const name of names) {
    const a = before.get(name);
    const b = after.get(name);
    const path = prefix ? `${prefix}/${name}` : name;
    if (!a || !b) {
      const node = (a ?? b)!;
      yield { path, change: a ? 'removed' : 'added', type: node.type };
      if (node.type === 'dir') yield* diffTrees(reader, a?.subtree, b?.subtree, path);
      continue;
    }
    if (a.type !== b.type) {
      yield { path, change: 'removed', type: a.type };
      if (a.type === 'dir') yield* diffTrees(reader, a.subtree, undefined, path);
      yield { path, change: 'added', type: b.type };
      if (b.type === 'dir') yield* diffTrees(reader, undefined, b.subtree, path);
      continue;
    }
    const change = compare(a, b);
    if (change) yield { path, change, type: b.type };
    if (b.type === 'dir') yield* diffTrees(reader, a.subtree, b.subtree, path);
  }
}

function compare(a: TreeNode, b: TreeNode): DiffEntry['change'] | undefined {
  if (a.type === 'file' && (a.size !== b.size || (a.content ?? []).join() !== (b.content ?? []).join())) return 'modified';
  if (a.type === 'symlink' && a.target !== b.target) return 'modified';
  if (a.type !== 'dir' && (a.mode !== b.mode || a.mtime !== b.mtime)) return 'metadata';
  if (a.type === 'dir' && a.mode !== b.mode) return 'metadata';
  return undefined;
}
