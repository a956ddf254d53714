import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, env, host, namesIn, port, testDir } from '../../../plugins/target-ftp/test/ftp-services.js';
import { unusedPort } from '@cairn/testkit';
import { built, manifest, oneErrorLine, overwriteRange, spawnCairn, writeRandomFile } from './acceptance-helpers.js';
import { cli, expectOneErrorLine, tempDir, type CliResult } from './helpers.js';

/**
 * Acceptance through the real `cairn` command against the vsftpd test server, over ftp:// and
 * ftps://: two snapshots restored byte-exact and `check --read-data`, and each way an FTP
 * repository can be wrong giving exit 1 with one line on stderr that names the problem and holds
 * no secret, within the retry window.
 */

const MiB = 1024 * 1024;
const PASSWORD = 'correct horse battery staple';
const { username } = credentials;
const secrets = [credentials.password, PASSWORD];
const url = (scheme: 'ftp' | 'ftps', path: string, where = `${host}:${port}`) => `${scheme}://${encodeURIComponent(username)}@${where}${path}`;

let dir: { path: string; cleanup: () => Promise<void> };
const remoteDirs: Array<{ cleanup: () => Promise<void> }> = [];

beforeAll(async () => {
  dir = await tempDir('cairn-ftp-cli-');
});
afterAll(async () => {
  await dir?.cleanup();
  for (const remote of remoteDirs) await remote.cleanup();
});

/** A fresh directory on the server, removed after the tests. */
function remoteDir(parent?: string): string {
  const made = testDir(parent);
  remoteDirs.push(made);
  return made.path;
}

async function run(args: string[], extra: Record<string, string> = { CAIRN_TARGET_PASSWORD: credentials.password }): Promise<CliResult> {
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

describe('cairn with an ftp:// or ftps:// repository on vsftpd', () => {
  for (const scheme of ['ftps', 'ftp'] as const) {
    it(`${scheme}: backs up, changes, backs up, restores each snapshot byte-exact, and checks every byte`, async () => {
      const work = join(dir.path, `work-${scheme}`);
      await rm(work, { recursive: true, force: true });
      await mkdir(work);
      const tree = join(work, 'data');
      await mkdir(join(tree, 'docs'), { recursive: true });
      await writeFile(join(tree, 'docs', 'note.txt'), 'a note\n');
      await writeFile(join(tree, 'empty.txt'), '');
      await writeRandomFile(join(tree, 'big.bin'), 43, 30 * MiB + 7);
      await writeRandomFile(join(tree, 'small.bin'), 44, 70_000);
      const path = remoteDir();
      const repo = url(scheme, path);

      await ok(['init', '--repo', repo]);
      const v1 = await manifest(tree);
      const first = JSON.parse(await ok(['backup', tree, '--repo', repo, '--json'])) as { id: string };

      await overwriteRange(join(tree, 'big.bin'), 45, 12 * MiB, 4096);
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
      // The repository is files in the directory the URL names, and no upload was left half-done.
      const names = await namesIn(path);
      expect(names.length).toBeGreaterThan(2);
      expect(names.filter((name) => name.includes('.tmp-'))).toEqual([]);
      await rm(work, { recursive: true, force: true });
    });
  }

  it('takes the password from the URL too, and never prints it', async () => {
    const repo = url('ftps', remoteDir()).replace('@', `:${encodeURIComponent(credentials.password)}@`);
    await ok(['init', '--repo', repo], {});
    const snapshots = await run(['snapshots', '--repo', repo], {});
    expect(snapshots.code, snapshots.stderr).toBe(0);
    expect(snapshots.stdout + snapshots.stderr).not.toContain(credentials.password);
  });

  it('a wrong password: exit 1, one line naming user and server', async () => {
    const line = failsWithOneLine(await run(['init', '--repo', url('ftps', remoteDir())], { CAIRN_TARGET_PASSWORD: 'the-wrong-password' }), 'the-wrong-password');
    expect(line).toContain(`login incorrect for user "${username}" on ${host}:${port}`);
    expect(line).toContain('CAIRN_TARGET_PASSWORD');
  });

  it('a certificate that does not match the host name: exit 1, one line saying it is not trusted; the explicit opt-out connects', async () => {
    const path = remoteDir();
    const line = failsWithOneLine(await run(['init', '--repo', url('ftps', path, `localhost:${port}`)]));
    expect(line).toMatch(new RegExp(`certificate of localhost:${port} is not trusted \\(.+\\): add the CA`));
    await ok(['init', '--repo', `${url('ftps', path, `localhost:${port}`)}?insecure_skip_certificate_check=1`]);
  });

  // NODE_EXTRA_CA_CERTS is read when a process starts, so an untrusted CA needs a process of its own.
  it.skipIf(!built && !process.env.CI)('a certificate from an untrusted CA (no NODE_EXTRA_CA_CERTS): exit 1, one line saying it is not trusted', async () => {
    const result = await spawnCairn(['init', '--repo', url('ftps', remoteDir())], { env: { CAIRN_PASSWORD: PASSWORD, CAIRN_TARGET_PASSWORD: credentials.password } });
    expect(result.code, result.stderr).toBe(1);
    const line = oneErrorLine(result.stderr);
    expect(line).toBe(
      `cairn: [ftp] certificate of ${host}:${port} is not trusted (self-signed certificate): add the CA that issued it to NODE_EXTRA_CA_CERTS, ` +
        'or connect by the name it was issued for; only if you accept that anyone on the network path can read and alter the backup, ' +
        'opt out with ?insecure_skip_certificate_check=1 (insecureSkipCertificateCheck: true)',
    );
  });

  it('a missing repository directory: exit 1, one line saying there is no repository, and nothing created', async () => {
    const path = remoteDir();
    const line = failsWithOneLine(await run(['snapshots', '--repo', url('ftp', path)]));
    expect(line).toMatch(/no repository at/);
    const parent = path.slice(0, path.lastIndexOf('/'));
    expect(await namesIn(parent)).not.toContain(path.slice(parent.length + 1));
  });

  it('permission denied (a root-owned directory): exit 1, one line saying so', async () => {
    for (const path of [`${env.CAIRN_TEST_FTP_READONLY_DIR}/repo`, env.CAIRN_TEST_FTP_READONLY_DIR]) {
      const line = failsWithOneLine(await run(['init', '--repo', url('ftps', path)]));
      expect(line).toContain(`permission denied on ${host}:${port}`);
      expect(line).toContain(`"${username}" may write there`);
    }
  });

  it('a full disk on the server (an 8 MiB file system): the backup exits 1 with one line saying there is no space left', async () => {
    const path = remoteDir(env.CAIRN_TEST_FTP_SMALL_DIR);
    const repo = url('ftp', path);
    await ok(['init', '--repo', repo]);
    const full = join(dir.path, 'full');
    await mkdir(full, { recursive: true });
    await writeRandomFile(join(full, 'incompressible.bin'), 46, 20 * MiB);
    const line = failsWithOneLine(await run(['backup', full, '--repo', repo]));
    expect(line).toMatch(/no space left on the server/);
    // The repository still opens: what was stored stays valid.
    const snapshots = await run(['snapshots', '--repo', repo, '--json']);
    expect(snapshots.code, snapshots.stderr).toBe(0);
    expect(JSON.parse(snapshots.stdout)).toEqual([]);
  });

  it('the server down: exit 1 within the retry window, one line saying it cannot be reached', async () => {
    const started = performance.now();
    const line = failsWithOneLine(await run(['snapshots', '--repo', url('ftps', '/srv/repo', `127.0.0.1:${await unusedPort()}`)]));
    expect(line).toMatch(/cannot reach the FTP server 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    expect(performance.now() - started).toBeLessThan(30_000);
  });
});
