import picomatch from 'picomatch';

/**
 * Compiles exclude globs into one predicate over paths relative to the source root.
 * - A pattern without a `/` (`*.log`, `node_modules/`) matches a name at any depth, like .gitignore.
 * - A pattern with a `/` inside (`cache/**`, `a/*.tmp`) matches the relative path from the root;
 *   a leading `/` is allowed and means the same.
 * - A trailing `/` makes a pattern match directories only.
 */
export function compileExcludes(patterns: readonly string[]): (relPath: string, isDir: boolean) => boolean {
  if (patterns.length === 0) return () => false;
  const rules = patterns.map((pattern) => {
    const dirOnly = pattern.endsWith('/');
    let glob = dirOnly ? pattern.slice(0, -1) : pattern;
    const anchored = glob.includes('/');
    if (glob.startsWith('/')) glob = glob.slice(1);
    return { dirOnly, anchored, match: picomatch(glob, { dot: true }) };
  });
  return (relPath, isDir) => {
    const base = relPath.slice(relPath.lastIndexOf('/') + 1);
    return rules.some((rule) => (!rule.dirOnly || isDir) && rule.match(rule.anchored ? relPath : base));
  };
}
