import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accessKey, admin, bucketState, bytes, dropAllBuckets, freshBucket, host, listKeys, port, putObject, readOnlyCredentials, region, secretKey, sourceUrl,
  track, unique,
} from '../../../plugins/source-minio/test/minio-services.js';
import { unusedPort } from '@cairn/testkit';
import { cli, expectOneErrorLine, tempDir, type CliResult } from './helpers.js';

/**
 * Acceptance of the minio source through the real `cairn` command against the MinIO test server:
 * `cairn backup minio+http://…` twice around changes, `cairn restore --to minio+http://…` of each
 * snapshot into a fresh bucket equal to the bucket at that time, the restore modes, and each way
 * the bucket side can be wrong exiting 1 with one line on stderr that holds no secret.
 */

const MiB = 1024 * 1024;
const PASSWORD = 'correct horse battery staple';
const keys = { AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey, AWS_REGION: region };

let dir: { path: string; cleanup: () => Promise<void> };
let repo: string;
let source: string;

beforeAll(async () => {
  dir = await tempDir('cairn-minio-cli-');
  repo = join(dir.path, 'repo');
  source = await freshBucket('cli');
  await ok(['init', '--repo', repo]);
});
afterAll(async () => {
  await dropAllBuckets();
  await dir?.cleanup();
});

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

describe('cairn with minio+http:// sources', () => {
  it('backs up a bucket, changes it, backs it up again, and restores each snapshot into a fresh bucket as it was', async () => {
    await putObject(source, 'empty.txt', Buffer.alloc(0), { contentType: 'text/plain' });
    await putObject(source, 'docs/readme.md', Buffer.from('# read me\n'), { contentType: 'text/markdown', meta: { author: 'ann' }, tags: { team: 'docs' } });
    await putObject(source, 'docs/big.bin', bytes('cli-big', 12 * MiB + 1), { meta: { kind: 'large' } });
    await putObject(source, 'ünïcödé/名前.txt', Buffer.from('名前'), { tags: { lang: 'ja' } });
    await putObject(source, 'a-b', Buffer.from('dash'));
    await putObject(source, 'a/b', Buffer.from('slash'));
    const v1 = await bucketState(source);
    const first = JSON.parse(await ok(['backup', sourceUrl(source), '--repo', repo, '--json'])) as { id: string; summary: { filesNew: number } };
    expect(first.summary.filesNew).toBe(6);

    await putObject(source, 'docs/readme.md', Buffer.from('# read me, again\n'), { contentType: 'text/markdown', meta: { author: 'bob' } });
    await admin.removeObject(source, 'a-b');
    await putObject(source, 'added.json', Buffer.from('{}'), { contentType: 'application/json' });
    await admin.setObjectTagging(source, 'ünïcödé/名前.txt', { lang: 'ja', checked: 'yes' });
    const v2 = await bucketState(source);
    const second = JSON.parse(await ok(['backup', sourceUrl(source), '--repo', repo, '--json'])) as { id: string; summary: { filesUnchanged: number; bytesRead: number } };
    expect(second.summary.filesUnchanged).toBe(4);
    expect(second.summary.bytesRead).toBe(Buffer.byteLength('# read me, again\n') + 2);

    const listing = await ok(['ls', second.id, '--repo', repo]);
    expect(listing).toContain(`minio-${source}/docs/big.bin`);

    for (const [id, expected] of [[first.id, v1], [second.id, v2]] as const) {
      const target = track(unique('cairn-msrc-cli-restore'));
      const out = await ok(['restore', id, '--repo', repo, '--to', sourceUrl(target)]);
      expect(out).toContain(`into ${sourceUrl(target)}`);
      expect(await bucketState(target)).toEqual(expected);
    }
  });

  it('restores with --mode: new refuses a bucket with objects (exit 1), merge keeps extras, replace removes them', async () => {
    const target = await freshBucket('cli-modes');
    await putObject(target, 'extra.txt', Buffer.from('extra'));
    const line = failsWithOneLine(await run(['restore', 'latest', '--repo', repo, '--to', sourceUrl(target)]));
    expect(line).toMatch(/already holds objects \("extra.txt" and maybe more\): .*--mode merge/);

    await ok(['restore', 'latest', '--repo', repo, '--to', sourceUrl(target), '--mode', 'merge']);
    const expected = await bucketState(source);
    expect(Object.keys(await bucketState(target)).sort()).toEqual([...Object.keys(expected), 'extra.txt'].sort());

    await ok(['restore', 'latest', '--repo', repo, '--to', sourceUrl(target), '--mode', 'replace']);
    expect(await bucketState(target)).toEqual(expected);
  });

  it('a wrong secret key: exit 1, one line naming the access key id', async () => {
    const line = failsWithOneLine(await run(['backup', sourceUrl(source), '--repo', repo], { ...keys, AWS_SECRET_ACCESS_KEY: 'wrong-secret-key' }), 'wrong-secret-key');
    expect(line).toMatch(new RegExp(`access key id "${accessKey}": the secret key is wrong; check AWS_SECRET_ACCESS_KEY`));
  });

  it('no credentials: exit 2 (a usage problem), naming the variables to set', async () => {
    const result = await run(['backup', sourceUrl(source), '--repo', repo], {});
    expect(result.code).toBe(2);
    expect(expectOneErrorLine(result.stderr)).toMatch(/set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  });

  it('a missing bucket: exit 1, one line naming it', async () => {
    const missing = unique('cairn-msrc-missing');
    const line = failsWithOneLine(await run(['backup', sourceUrl(missing), '--repo', repo]));
    expect(line).toContain(`bucket "${missing}" does not exist on ${host}:${port}`);
  });

  it('permission denied (read-only STS credentials) on restore: exit 1, one line naming the key and the rights, no secret or token', async () => {
    const readOnly = await readOnlyCredentials();
    const env = { AWS_ACCESS_KEY_ID: readOnly.accessKey, AWS_SECRET_ACCESS_KEY: readOnly.secretKey, AWS_SESSION_TOKEN: readOnly.sessionToken, AWS_REGION: region };
    const target = await freshBucket('cli-ro');
    const line = failsWithOneLine(await run(['restore', 'latest', '--repo', repo, '--to', sourceUrl(target)], env), readOnly.secretKey, readOnly.sessionToken);
    expect(line).toMatch(new RegExp(`access denied writing .* for access key id "${readOnly.accessKey}": it needs .*s3:PutObject`));
    expect(await listKeys(target)).toEqual([]);
  });

  it('a server that is down: exit 1 within seconds, one line saying it is unreachable', async () => {
    const started = performance.now();
    const line = failsWithOneLine(await run(['backup', sourceUrl(source, '', `127.0.0.1:${await unusedPort()}`), '--repo', repo]));
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(line).toMatch(/unreachable or stopped answering/);
  });
});
