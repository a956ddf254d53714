import { generateKeyPairSync } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawSession, removeRemoteDir, sftpServer, uniqueDir } from '../../../plugins/target-sftp/test/server.js';
import { manifest, overwriteRange, writeRandomFile } from './acceptance-helpers.js';
import { cli, expectOneErrorLine, tempDir, type CliResult } from './helpers.js';
import { unusedPort } from '@cairn/testkit';

/**
 * Acceptance through the real `cairn` command against OpenSSH's sshd: two snapshots restored
 * byte-exact and `check --read-data`, logging in with a password and with a key, and each way an
 * SFTP repository can be wrong giving exit 1 with one line on stderr that names the problem and
 * holds no secret, within the retry window.
 */

const MiB = 1024 * 1024;
const PASSWORD = 'correct horse battery staple';
const server = sftpServer();
const secrets = [server.password, server.keyPassphrase, PASSWORD];
const where = `${server.host}:${server.port}`;
const knownHosts = `known_hosts=${encodeURIComponent(server.knownHosts)}`;
const url = (path: string, query = knownHosts, user = server.user, at = where) => `sftp://${encodeURIComponent(user)}@${at}${path}?${query}`;

let dir: { path: string; cleanup: () => Promise<void> };
const remoteDirs: Array<{ path: string; as?: { username: string; privateKey: string } }> = [];

beforeAll(async () => {
  dir = await tempDir('cairn-sftp-cli-');
});
afterAll(async () => {
  await dir?.cleanup();
  for (const remote of remoteDirs) await removeRemoteDir(server, remote.path, remote.as);
});

/** A fresh directory on the server, removed after the tests. */
function remoteDir(parent = `${server.home}/tests`, as?: { username: string; privateKey: string }): string {
  const path = uniqueDir(parent);
  remoteDirs.push({ path, ...(as ? { as } : {}) });
  return path;
}

async function run(args: string[], extra: Record<string, string> = { CAIRN_TARGET_PASSWORD: server.password }): Promise<CliResult> {
  return cli(args, { env: { CAIRN_PASSWORD: PASSWORD, ...extra }, cwd: dir.path });
}

async function ok(args: string[], extra?: Record<string, string>): Promise<string> {
  const result = await run(args, extra);
  if (result.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** Exit 1 and one `cairn: …` line that holds no secret; returns the line. */
function failsWithOneLine(result: CliResult, ...more: string[]): string {
  expect(result.code, result.stderr).toBe(1);
  const line = expectOneErrorLine(result.stderr);
  for (const secret of [...secrets, ...more]) expect(line).not.toContain(secret);
  return line;
}

async function namesIn(path: string): Promise<string[]> {
  const client = await rawSession(server);
  try {
    const names: string[] = [];
    const walk = async (folder: string): Promise<void> => {
      for (const item of await client.list(folder)) {
        if (item.type === 'd') await walk(`${folder}/${item.name}`);
        else names.push(item.name);
      }
    };
    await walk(path);
    return names;
  } finally {
    await client.end();
  }
}

/** A fresh ed25519 public key as known_hosts writes it: the SSH wire blob (type name, then the 32 key bytes), base64. */
function otherEd25519Key(): string {
  const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const field = (bytes: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), bytes]);
  return Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]).toString('base64');
}


describe('cairn with an sftp:// repository on OpenSSH', () => {
  it('backs up, changes, backs up, restores each snapshot byte-exact, and checks every byte', async () => {
    const work = join(dir.path, 'work');
    const tree = join(work, 'data');
    await mkdir(join(tree, 'docs'), { recursive: true });
    await writeFile(join(tree, 'docs', 'note.txt'), 'a note\n');
    await writeFile(join(tree, 'empty.txt'), '');
    await writeRandomFile(join(tree, 'big.bin'), 53, 30 * MiB + 7);
    await writeRandomFile(join(tree, 'small.bin'), 54, 70_000);
    const path = remoteDir();
    const repo = url(path);

    await ok(['init', '--repo', repo]);
    const v1 = await manifest(tree);
    const first = JSON.parse(await ok(['backup', tree, '--repo', repo, '--json'])) as { id: string };

    await overwriteRange(join(tree, 'big.bin'), 55, 12 * MiB, 4096);
    await writeFile(join(tree, 'docs', 'new.txt'), 'new\n');
    await rm(join(tree, 'small.bin'));
    const v2 = await manifest(tree);
    const second = JSON.parse(await ok(['backup', tree, '--repo', repo, '--json'])) as { id: string; summary: { bytesAdded: number } };
    expect(second.summary.bytesAdded).toBeLessThan(10 * MiB); // the edit, not the whole file again

    for (const [i, [id, expected]] of ([[first.id, v1], [second.id, v2]] as const).entries()) {
      const out = join(work, `restore-${i}`);
      await ok(['restore', id, '--repo', repo, '--target', out]);
      expect(await manifest(join(out, 'data'))).toEqual(expected);
      await rm(out, { recursive: true, force: true });
    }
    const check = await run(['check', '--repo', repo, '--read-data']);
    expect(check.code, check.stderr).toBe(0);
    const names = await namesIn(path);
    expect(names.length).toBeGreaterThan(2);
    expect(names.filter((name) => name.includes('.tmp-'))).toEqual([]);
    await rm(work, { recursive: true, force: true });
  });

  it('logs in with a private key protected by a passphrase from CAIRN_TARGET_KEY_PASSPHRASE, and never prints it', async () => {
    const as = { username: server.keyUser, privateKey: server.key };
    const repo = url(remoteDir(`${server.keyHome}`, as), `key=${encodeURIComponent(server.passphraseKey)}&fingerprint=${encodeURIComponent(server.fingerprint)}`, server.keyUser);
    const withPassphrase = { CAIRN_TARGET_KEY_PASSPHRASE: server.keyPassphrase };
    await ok(['init', '--repo', repo], withPassphrase);
    const snapshots = await run(['snapshots', '--repo', repo], withPassphrase);
    expect(snapshots.code, snapshots.stderr).toBe(0);
    expect(snapshots.stdout + snapshots.stderr).not.toContain(server.keyPassphrase);
    const line = failsWithOneLine(await run(['snapshots', '--repo', repo], {}));
    expect(line).toContain('it is encrypted and no passphrase was given: set CAIRN_TARGET_KEY_PASSPHRASE');
  });

  it('a wrong password: exit 1, one line naming user and server', async () => {
    const line = failsWithOneLine(await run(['init', '--repo', url(remoteDir())], { CAIRN_TARGET_PASSWORD: 'the-wrong-password' }), 'the-wrong-password');
    expect(line).toContain(`authentication as "${server.user}" on ${where} failed`);
  });

  it('an unknown host key: exit 1, one line with its fingerprint and how to add it; a pinned fingerprint connects', async () => {
    const empty = join(dir.path, 'empty_known_hosts');
    await writeFile(empty, '');
    const path = remoteDir();
    const line = failsWithOneLine(await run(['init', '--repo', url(path, `known_hosts=${encodeURIComponent(empty)}`)]));
    expect(line).toContain(`host key of ${where} is not in ${empty}`);
    expect(line).toContain(server.fingerprint);
    await ok(['init', '--repo', url(path, `fingerprint=${encodeURIComponent(server.fingerprint)}`)]);
  });

  it('a changed host key: exit 1, one line warning of a possible man-in-the-middle', async () => {
    const changed = join(dir.path, 'changed_known_hosts');
    // Another ed25519 key listed for this host and port: what known_hosts holds after the server's key was replaced.
    await writeFile(changed, `[${server.host}]:${server.port} ssh-ed25519 ${otherEd25519Key()}\n`);
    const line = failsWithOneLine(await run(['init', '--repo', url(remoteDir(), `known_hosts=${encodeURIComponent(changed)}`)]));
    expect(line).toContain(`host key of ${where} has CHANGED`);
    expect(line).toContain('man-in-the-middle');
  });

  it('a missing repository directory: exit 1, one line saying there is no repository, and nothing created', async () => {
    const path = remoteDir();
    const line = failsWithOneLine(await run(['snapshots', '--repo', url(path)]));
    expect(line).toMatch(/no repository at/);
    expect(line).not.toContain(server.password);
    const parent = path.slice(0, path.lastIndexOf('/'));
    const client = await rawSession(server);
    try {
      expect(await client.exists(path)).toBe(false);
      expect(await client.exists(parent)).toBeTruthy();
    } finally {
      await client.end();
    }
  });

  it('permission denied (a root-owned directory): exit 1, one line saying so', async () => {
    const line = failsWithOneLine(await run(['init', '--repo', url(`${server.readonlyDir}/repo`)]));
    expect(line).toContain('permission denied');
    expect(line).toContain(`on ${server.user}@${where}`);
  });

  it('a full disk on the server (an 8 MiB file system): the backup exits 1 with one line saying there is no space left', async () => {
    const repo = url(remoteDir(server.smallDir));
    await ok(['init', '--repo', repo]);
    const full = join(dir.path, 'full');
    await mkdir(full, { recursive: true });
    await writeRandomFile(join(full, 'incompressible.bin'), 56, 20 * MiB);
    const line = failsWithOneLine(await run(['backup', full, '--repo', repo]));
    expect(line).toMatch(/no space left on/);
    const snapshots = await run(['snapshots', '--repo', repo, '--json']);
    expect(snapshots.code, snapshots.stderr).toBe(0);
    expect(JSON.parse(snapshots.stdout)).toEqual([]);
    await rm(full, { recursive: true, force: true });
  });

  it('the server down: exit 1 within the retry window, one line saying it cannot be reached', async () => {
    const started = performance.now();
    const line = failsWithOneLine(await run(['snapshots', '--repo', url('/srv/repo', knownHosts, server.user, `127.0.0.1:${await unusedPort()}`)]));
    expect(line).toMatch(/cannot connect to 127\.0\.0\.1:\d+ \(connection refused\)/);
    expect(performance.now() - started).toBeLessThan(40_000);
  });
});
