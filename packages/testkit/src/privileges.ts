import { chmod } from 'node:fs/promises';

/** The uid of user nobody on Debian and most Linux systems. */
const NOBODY = 65534;

/**
 * Runs `fn` as user nobody when the tests run as root (as CI containers do: root ignores
 * permission bits, so "unreadable" and "unwritable" cannot be tested otherwise). `dir` is made
 * traversable for nobody first. vitest forks one process per test file, so the switch of the
 * effective uid stays local to the calling file.
 */
export async function asUnprivileged<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  if (process.geteuid?.() !== 0) return fn();
  await chmod(dir, 0o755);
  process.seteuid!(NOBODY);
  try {
    return await fn();
  } finally {
    process.seteuid!(0);
  }
}

/** A promise with its resolve and reject exposed, for tests that release work step by step. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
