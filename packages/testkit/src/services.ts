import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
/**
 * Reads the settings of a test server from the environment (`scripts/services env` prints them).
 * A missing one fails the test with a message saying how to start the servers: a test that needs
 * a server never skips, so a CI run without it cannot pass by accident.
 */
export function requireEnv<const K extends string>(...names: K[]): Record<K, string> {
  const missing = names.filter((name) => !process.env[name]);
  if (missing.length > 0) {
    throw new Error(`missing ${missing.join(', ')}: start the test servers with \`scripts/services up\` (./dev test does it)`);
  }
  return Object.fromEntries(names.map((name) => [name, process.env[name]!])) as Record<K, string>;
}

/**
 * A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's pick): for a server a
 * test starts itself, or for a connection that must be refused.
 */
export async function unusedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
