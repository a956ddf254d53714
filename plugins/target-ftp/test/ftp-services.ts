import { randomUUID } from 'node:crypto';
import { requireEnv } from '@cairn/testkit';
import { Client } from 'basic-ftp';

/**
 * The FTP test server's settings (from `scripts/services up`) and a few helpers to look at and
 * tidy the server behind a target's back; shared by this package's tests and the CLI's.
 */
export const env = requireEnv(
  'CAIRN_TEST_FTP_HOST', 'CAIRN_TEST_FTP_PORT', 'CAIRN_TEST_FTP_USER', 'CAIRN_TEST_FTP_PASSWORD', 'CAIRN_TEST_FTP_HOME',
  'CAIRN_TEST_FTP_READONLY_DIR', 'CAIRN_TEST_FTP_SMALL_DIR', 'CAIRN_TEST_FTP_CA',
);
export const host = env.CAIRN_TEST_FTP_HOST;
export const port = Number(env.CAIRN_TEST_FTP_PORT);
export const credentials = { username: env.CAIRN_TEST_FTP_USER, password: env.CAIRN_TEST_FTP_PASSWORD };

/** Runs `work` on a logged-in client of our own (plain FTP), closed afterwards. */
export async function admin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client(10_000);
  try {
    await client.access({ host, port, user: credentials.username, password: credentials.password });
    return await work(client);
  } finally {
    client.close();
  }
}

/** A fresh directory name under `${HOME}/tests` (or `parent`), and a cleanup that removes it with everything in it. */
export function testDir(parent = `${env.CAIRN_TEST_FTP_HOME}/tests`): { path: string; cleanup: () => Promise<void> } {
  const path = `${parent}/${randomUUID()}`;
  return { path, cleanup: () => admin((client) => client.removeDir(path)).catch(() => undefined) };
}

/** Names of the entries of a directory on the server. */
export async function namesIn(path: string): Promise<string[]> {
  return admin(async (client) => (await client.list(path)).map((entry) => entry.name).sort());
}

