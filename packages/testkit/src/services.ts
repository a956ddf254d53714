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
