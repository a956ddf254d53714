import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import SftpClient from 'ssh2-sftp-client';
import { requireEnv } from '@cairn/testkit';

/** The test SSH server's settings (`scripts/services up` starts it and writes them). */
export function sftpServer() {
  const env = requireEnv(
    'CAIRN_TEST_SFTP_HOST', 'CAIRN_TEST_SFTP_PORT', 'CAIRN_TEST_SFTP_USER', 'CAIRN_TEST_SFTP_PASSWORD', 'CAIRN_TEST_SFTP_HOME',
    'CAIRN_TEST_SFTP_KEY_USER', 'CAIRN_TEST_SFTP_KEY', 'CAIRN_TEST_SFTP_PASSPHRASE_KEY', 'CAIRN_TEST_SFTP_KEY_PASSPHRASE', 'CAIRN_TEST_SFTP_KEY_HOME',
    'CAIRN_TEST_SFTP_KNOWN_HOSTS', 'CAIRN_TEST_SFTP_FINGERPRINT', 'CAIRN_TEST_SFTP_READONLY_DIR', 'CAIRN_TEST_SFTP_SMALL_DIR',
  );
  return {
    host: env.CAIRN_TEST_SFTP_HOST,
    port: Number(env.CAIRN_TEST_SFTP_PORT),
    user: env.CAIRN_TEST_SFTP_USER,
    password: env.CAIRN_TEST_SFTP_PASSWORD,
    home: env.CAIRN_TEST_SFTP_HOME,
    keyUser: env.CAIRN_TEST_SFTP_KEY_USER,
    key: env.CAIRN_TEST_SFTP_KEY,
    passphraseKey: env.CAIRN_TEST_SFTP_PASSPHRASE_KEY,
    keyPassphrase: env.CAIRN_TEST_SFTP_KEY_PASSPHRASE,
    keyHome: env.CAIRN_TEST_SFTP_KEY_HOME,
    knownHosts: env.CAIRN_TEST_SFTP_KNOWN_HOSTS,
    fingerprint: env.CAIRN_TEST_SFTP_FINGERPRINT,
    readonlyDir: env.CAIRN_TEST_SFTP_READONLY_DIR,
    smallDir: env.CAIRN_TEST_SFTP_SMALL_DIR,
  };
}

export type SftpServer = ReturnType<typeof sftpServer>;

/** A fresh directory name under `base` on the server, e.g. `/home/cairn-sftp/tests/3f9a…`. */
export function uniqueDir(base: string): string {
  return `${base}/${randomBytes(8).toString('hex')}`;
}

/**
 * A plain ssh2-sftp-client session as the password user (or `as` another), for a test to look at
 * or arrange the server's files behind the target's back, and to remove its directory afterwards.
 */
export async function rawSession(server: SftpServer, as: { username: string; privateKey?: string } = { username: server.user }) {
  const ignore = () => undefined;
  const client = new SftpClient('cairn-test', { error: ignore, end: ignore, close: ignore });
  await client.connect({
    host: server.host,
    port: server.port,
    username: as.username,
    ...(as.privateKey ? { privateKey: await readFile(as.privateKey) } : { password: server.password }),
  });
  return client;
}

/** Removes a test directory on the server through SFTP; a directory that was never made is fine. */
export async function removeRemoteDir(server: SftpServer, dir: string, as?: { username: string; privateKey?: string }): Promise<void> {
  const client = await rawSession(server, as);
  try {
    if (await client.exists(dir)) await client.rmdir(dir, true);
  } finally {
    await client.end();
  }
}
