import type { Options } from 'tsup';

/** The one build recipe every package shares: ESM only, typed, no bundled dependencies. */
export function packageBuild(entry: string[] = ['src/index.ts']): Options {
  return {
    entry,
    format: ['esm'],
    target: 'node22',
    platform: 'node',
    dts: true,
    sourcemap: true,
    clean: true,
    splitting: false,
    treeshake: true,
  };
}
