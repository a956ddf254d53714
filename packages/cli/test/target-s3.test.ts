import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accessKey, fullServerBucket, host, objectNames, port, readOnlyCredentials, region, removePrefix, secretKey, testBucket, unique,
} from '../../../plugins/target-s3/test/s3-services.js';
import { unusedPort } from '@cairn/testkit';
import { manifest, overwriteRange, writeRandomFile } from './acceptance-helpers.js';
import { cli, expectOneErrorLine, tempDir, type CliResult } from './helpers.js';

/**
 * Acceptance through the real `cairn` command against the MinIO test server: a round trip of two
 * snapshots byte-exact with `check --read-data`, and each way an S3 repository can be wrong giving
 * exit 1 with one line on stderr that names the problem and holds no secret.
 */

const MiB = 1024 * 1024;
const PASSWORD = 'correct horse battery staple';
const bucket = testBucket('cli-s3');
const keys = { AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey, AWS_REGION: region };
const repoUrl = (name: string, prefix: string, where = `${host}:${port}`) => `s3+http://${where}/${name}/${prefix}`;

let dir: { path: string; cleanup: () => Promise<void> };
let data: string;
let name: string;
const prefixes: string[] = [];

beforeAll(async () => {
  name = await bucket.ready();
  dir = await tempDir('cairn-s3-cli-');
  data = join(dir.path, 'data');
  await mkdir(join(data, 'docs'), { recursive: true });
  await writeFile(join(data, 'docs', 'note.txt'), 'a note\n');
  await writeFile(join(data, 'empty.txt'), '');
  await writeRandomFile(join(data, 'big.bin'), 31, 40 * MiB + 123);
  await writeRandomFile(join(data, 'small.bin'), 32, 70_000);
});
afterAll(async () => {
  await dir?.cleanup();
  for (const prefix of prefixes) await removePrefix(name, `${prefix}/`);
  await bucket.drop();
});

function freshPrefix(): string {
  const prefix = unique('repo');
  prefixes.push(prefix);
  return prefix;
}

async function run(args: string[], env: Record<string, string> = keys): Promise<CliResult> {
  return cli(args, { env: { CAIRN_PASSWORD: PASSWORD, ...env }, cwd: dir.path });
}

async function ok(args: string[], env?: Record<string, string>): Promise<string> {
  const result = await run(args, env);
  if (result.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** Exit 1 and one `cairn: …` line that holds no secret; returns the line. */
function failsWithOneLine(result: CliResult, ...secrets: string[]): string {
  expect(result.code, result.stderr).toBe(1);
  const line = expectOneErrorLine(result.stderr);
  for (const secret of [secretKey, PASSWORD, ...secrets]) expect(line).not.toContain(secret);
  return line;
}

describe('cairn with an s3+http:// repository on MinIO', () => {
  it('backs up, changes, backs up, restores each snapshot byte-exact, and checks every byte', async () => {
    const prefix = freshPrefix();
    const repo = repoUrl(name, prefix);
    await ok(['init', '--repo', repo]);
    const v1 = await manifest(data);
    const first = JSON.parse(await ok(['backup', data, '--repo', repo, '--json'])) as { id: string };

    await overwriteRange(join(data, 'big.bin'), 33, 20 * MiB, 4096);
    await writeFile(join(data, 'docs', 'new.txt'), 'new\n');
    await rm(join(data, 'small.bin'));
    const v2 = await manifest(data);
    const second = JSON.parse(await ok(['backup', data, '--repo', repo, '--json'])) as { id: string; summary: { bytesAdded: number } };
    expect(second.summary.bytesAdded).toBeLessThan(10 * MiB); // the edit, not the whole 40 MiB again

    for (const [i, [id, expected]] of ([[first.id, v1], [second.id, v2]] as const).entries()) {
      const out = join(dir.path, `restore-${i}`);
      await ok(['restore', id, '--repo', repo, '--target', out]);
      expect(await manifest(join(out, 'data'))).toEqual(expected);
      await rm(out, { recursive: true, force: true });
    }
    const check = await run(['check', '--repo', repo, '--read-data']);
    expect(check.code, check.stderr).toBe(0);
    // The repository lives under the prefix of the bucket the URL names.
    expect((await objectNames(name, `${prefix}/`)).length).toBeGreaterThan(3);
  });

  it('takes the keys from the URL too, and never prints them', async () => {
    const prefix = freshPrefix();
    const repo = `s3+http://${encodeURIComponent(accessKey)}:${encodeURIComponent(secretKey)}@${host}:${port}/${name}/${prefix}`;
    await ok(['init', '--repo', repo], {});
    const snapshots = await run(['snapshots', '--repo', repo], {});
    expect(snapshots.code, snapshots.stderr).toBe(0);
    const wrong = `s3+http://${encodeURIComponent(accessKey)}:the-wrong-secret@${host}:${port}/${name}/${prefix}`;
    const line = failsWithOneLine(await run(['snapshots', '--repo', wrong], {}), 'the-wrong-secret');
    expect(line).toContain(`access key id "${accessKey}"`);
  });

  it('a wrong secret key: exit 1, one line naming the access key id', async () => {
    const line = failsWithOneLine(await run(['init', '--repo', repoUrl(name, freshPrefix())], { ...keys, AWS_SECRET_ACCESS_KEY: 'wrong-secret-key' }), 'wrong-secret-key');
    expect(line).toMatch(/secret key is wrong; check AWS_SECRET_ACCESS_KEY/);
    expect(line).toContain(`"${accessKey}"`);
  });

  it('no credentials at all: exit 2 (a usage problem), naming the variables to set', async () => {
    const result = await run(['init', '--repo', repoUrl(name, freshPrefix())], {});
    expect(result.code).toBe(2);
    expect(expectOneErrorLine(result.stderr)).toMatch(/set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  });

  it('a missing bucket: exit 1, one line saying to create it, and no bucket created', async () => {
    const missing = unique('cairn-missing');
    const line = failsWithOneLine(await run(['init', '--repo', repoUrl(missing, 'repo')]));
    expect(line).toContain(`bucket "${missing}" does not exist on ${host}:${port}: create it first`);
    const backup = failsWithOneLine(await run(['backup', data, '--repo', repoUrl(missing, 'repo')]));
    expect(backup).toContain('does not exist');
  });

  it('permission denied (read-only credentials): the backup exits 1 with one line naming the key, and the repository is unharmed', async () => {
    const prefix = freshPrefix();
    const repo = repoUrl(name, prefix);
    await ok(['init', '--repo', repo]);
    const small = join(dir.path, 'small-data');
    await mkdir(small, { recursive: true });
    await writeFile(join(small, 'file.txt'), 'hello\n');
    const id = (JSON.parse(await ok(['backup', small, '--repo', repo, '--json'])) as { id: string }).id;

    const readOnly = await readOnlyCredentials();
    const env = { AWS_ACCESS_KEY_ID: readOnly.accessKey, AWS_SECRET_ACCESS_KEY: readOnly.secretKey, AWS_SESSION_TOKEN: readOnly.sessionToken };
    const line = failsWithOneLine(await run(['backup', small, '--repo', repo], env), readOnly.secretKey, readOnly.sessionToken);
    expect(line).toMatch(/access denied writing .* in bucket/);
    expect(line).toContain(readOnly.accessKey);
    // Every command takes a lock (a write), so read-only keys cannot even restore; the admin still can.
    const snapshots = JSON.parse(await ok(['snapshots', '--repo', repo, '--json'])) as Array<{ id: string }>;
    expect(snapshots.map((s) => s.id)).toEqual([id]);
    await ok(['check', '--repo', repo, '--read-data']);
  });

  it('a full disk on the server (the 32 MiB MinIO): the backup exits 1 with one line saying the server is out of space', async () => {
    const full = await fullServerBucket();
    try {
      const repo = repoUrl(full.bucket, 'repo', full.host);
      await ok(['init', '--repo', repo]);
      const line = failsWithOneLine(await run(['backup', data, '--repo', repo]));
      expect(line).toMatch(/out of space/);
    } finally {
      await full.drop();
    }
  });

  it('the server down: exit 1 within the retry window, one line saying it is unreachable', async () => {
    const started = performance.now();
    const line = failsWithOneLine(await run(['snapshots', '--repo', repoUrl(name, 'repo', `127.0.0.1:${await unusedPort()}`)]));
    expect(line).toMatch(/unreachable/);
    expect(performance.now() - started).toBeLessThan(30_000);
  });
});
