import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, SourceError, createCairn } from '@cairn/core';
import type { Cairn, SourceEntry, SourceInstance } from '@cairn/core';
import { backupContext, collect, describeSourceConformance, memoryTarget, startTcpProxy } from '@cairn/testkit';
import { minioSource } from '../src/index.js';
import type { MinioSourceOptions } from '../src/index.js';
import {
  accessKey, admin, bucketState, bytes, dropAllBuckets, dropBucket, freshBucket, host, listKeys, port, putObject, readOnlyCredentials, region,
  secretKey, silentServer, sourceOptions, sourceUrl, track, unique,
} from './minio-services.js';
import { unusedPort } from '@cairn/testkit';
import type { ObjectState } from './minio-services.js';

const MiB = 1024 * 1024;
const kdf = { N: 1024, r: 8, p: 1 };
const env = { AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey, AWS_REGION: region };

afterAll(() => dropAllBuckets());

describeSourceConformance('minio', async () => {
  const bucket = await freshBucket('conformance');
  await putObject(bucket, 'a.txt', Buffer.from('a'));
  await putObject(bucket, 'a-b', Buffer.from('dash'));
  await putObject(bucket, 'a/b.txt', Buffer.from('nested'), { contentType: 'text/plain' });
  await putObject(bucket, 'a/c/d.bin', bytes('d', 70_000));
  await putObject(bucket, 'a0', Buffer.from('zero'));
  await putObject(bucket, 'marker/', Buffer.alloc(0));
  await putObject(bucket, 'marker/in.txt', Buffer.from('in'));
  return { source: minioSource(sourceOptions(bucket)), cleanup: () => dropBucket(bucket) };
});

/** A repository in memory and a Cairn that knows the minio source (URLs resolve with the admin's keys). */
async function newCairn(): Promise<{ cairn: Cairn; repository: { target: ReturnType<typeof memoryTarget>; password: string } }> {
  const cairn = createCairn({ targets: [memoryTarget], sources: [minioSource], env });
  const repository = { target: memoryTarget({ name: randomUUID() }), password: 'pw' };
  await cairn.init({ repository, kdf });
  return { cairn, repository };
}

async function entriesOf(source: SourceInstance): Promise<{ entries: SourceEntry[]; warnings: Array<{ path: string; message: string }> }> {
  const ctx = backupContext();
  const entries: SourceEntry[] = [];
  for await (const entry of source.entries(ctx)) entries.push(entry);
  return { entries, warnings: ctx.warnings };
}

/** Seeds the bucket of the round trip: sizes from 0 B to 12 MiB, unicode keys, folder markers, metadata and tags. */
async function seed(bucket: string): Promise<void> {
  await putObject(bucket, 'empty.bin', Buffer.alloc(0));
  await putObject(bucket, 'docs/readme.txt', Buffer.from('read me\n'), {
    contentType: 'text/plain; charset=utf-8', meta: { author: 'ann', n: '007' }, tags: { project: 'cairn', code: '007' },
  });
  await putObject(bucket, 'docs/big.bin', bytes('big', 12 * MiB + 5), { contentType: 'application/x-big', meta: { kind: 'multipart' } });
  await putObject(bucket, 'fotos/ñandú/日本語 ファイル.txt', Buffer.from('こんにちは'), { contentType: 'text/plain', tags: { lang: 'ja', 'with space': 'a b+c' } });
  await putObject(bucket, 'a-b', Buffer.from('dash'));
  await putObject(bucket, 'a/b', Buffer.from('slash'));
  await putObject(bucket, 'a/c/d.json', Buffer.from('{"d":1}'), { contentType: 'application/json' });
  await putObject(bucket, '007', Buffer.from('bond'), { tags: { agent: '007' } });
  await putObject(bucket, 'folder/', Buffer.alloc(0), { tags: { marker: 'yes' } });
  await putObject(bucket, 'folder/inside.txt', bytes('inside', 300_000), { contentType: 'text/plain' });
  await putObject(bucket, 'empty-folder/', Buffer.alloc(0));
  await putObject(bucket, 'headers.html', Buffer.from('<p>hi</p>'), {
    contentType: 'text/html', headers: { 'Cache-Control': 'max-age=60', 'Content-Disposition': 'attachment; filename="h.html"' },
  });
}

describe('minio source: back up, change, back up, restore each snapshot', () => {
  let source: string;
  let cairn: Cairn;
  let repository: { target: ReturnType<typeof memoryTarget>; password: string };
  beforeAll(async () => {
    source = await freshBucket('round-trip');
    ({ cairn, repository } = await newCairn());
  });
  afterAll(() => cairn.close());

  it('restores each snapshot into a fresh bucket exactly as the bucket was, and does not download unchanged objects again', async () => {
    await seed(source);
    const v1 = await bucketState(source);
    // The seed really carries what the restore must give back.
    expect(v1['docs/readme.txt']).toMatchObject({ contentType: 'text/plain; charset=utf-8', userMetadata: { author: 'ann', n: '007' }, tags: { project: 'cairn', code: '007' } });
    expect(v1['fotos/ñandú/日本語 ファイル.txt']!.tags).toEqual({ lang: 'ja', 'with space': 'a b+c' });
    expect(v1['headers.html']!.headers).toEqual({ 'cache-control': 'max-age=60', 'content-disposition': 'attachment; filename="h.html"' });
    expect(v1['folder/']!.tags).toEqual({ marker: 'yes' });
    expect(v1['docs/big.bin']!.size).toBe(12 * MiB + 5);

    const first = await cairn.backup({ repository, sources: [minioSource(sourceOptions(source))] });
    expect(first.warnings).toEqual([]);
    expect(first.snapshot.sources.map((s) => s.name)).toEqual([`minio-${source}`]);
    const fileCount = Object.keys(v1).filter((k) => !k.endsWith('/')).length;
    expect(first.snapshot.summary.filesNew).toBe(fileCount);

    // Overwrite (content and metadata), delete, add, change only the tags, drop all tags.
    await putObject(source, 'docs/readme.txt', Buffer.from('read me, version 2\n'), { contentType: 'text/markdown', meta: { author: 'bob' } });
    await admin.removeObject(source, 'a-b');
    await putObject(source, 'new/added.txt', Buffer.from('added'), { tags: { fresh: '1' } });
    await admin.setObjectTagging(source, 'fotos/ñandú/日本語 ファイル.txt', { lang: 'ja', reviewed: 'true' });
    await admin.removeObjectTagging(source, '007', { versionId: '' });
    const v2 = await bucketState(source);
    expect(v2['007']!.tags).toEqual({});

    const second = await cairn.backup({ repository, sources: [minioSource(sourceOptions(source))] });
    expect(second.warnings).toEqual([]);
    expect(second.snapshot.summary).toMatchObject({ filesNew: 1, filesChanged: 1, filesUnchanged: fileCount - 2 });
    expect(second.snapshot.summary.bytesRead).toBe(Buffer.byteLength('read me, version 2\n') + Buffer.byteLength('added'));

    // Each snapshot into a fresh bucket (made by the restore), the second one under a prefix.
    const r1 = track(unique('cairn-msrc-r1'));
    const restored1 = await cairn.restore({ repository, snapshot: first.snapshot.id, to: sourceUrl(r1) });
    expect(restored1).toMatchObject({ files: fileCount, bytes: Object.values(v1).reduce((n, o) => n + o.size, 0) });
    expect(await bucketState(r1)).toEqual(v1);

    const r2 = await freshBucket('r2');
    await putObject(r2, 'outside.txt', Buffer.from('not under the prefix'));
    await cairn.restore({ repository, snapshot: second.snapshot.id, to: minioSource(sourceOptions(r2, { prefix: 'restored/here' })) });
    expect(await bucketState(r2, 'restored/here/')).toEqual(v2);
    expect(await listKeys(r2, 'outside')).toEqual(['outside.txt']);

    // A third backup of the unchanged bucket, through a proxy that counts every byte: only listings pass.
    const proxy = await startTcpProxy({ host, port });
    try {
      const third = await cairn.backup({ repository, sources: [minioSource(sourceOptions(source, { port: proxy.port }))] });
      expect(third.snapshot.summary).toMatchObject({ filesNew: 0, filesChanged: 0, filesUnchanged: fileCount, bytesRead: 0 });
      expect(proxy.bytes).toBeLessThan(64 * 1024); // the bucket holds over 12 MiB
      expect(third.snapshot.summary.bytesAdded).toBeLessThan(2048); // same metadata: only the new root tree
    } finally {
      await proxy.close();
    }
  });
});

describe('minio source: many small objects', () => {
  it('pages through 1,500 objects in parallel, restores them all, and backs them up again without a download', async () => {
    const bucket = await freshBucket('many');
    const keys = Array.from({ length: 1500 }, (_, i) => `p${i % 7}/n${String(i).padStart(5, '0')}.txt`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map((key) => putObject(bucket, key, Buffer.from(`object ${key}`), { tags: { i: key.slice(-9, -4) } })));
    }
    const { cairn, repository } = await newCairn();
    try {
      const first = await cairn.backup({ repository, sources: [minioSource(sourceOptions(bucket))] });
      expect(first.snapshot.summary).toMatchObject({ filesNew: 1500, dirs: 8 });
      const target = track(unique('cairn-msrc-many-r'));
      await cairn.restore({ repository, snapshot: first.snapshot.id, to: sourceUrl(target) });
      expect(await listKeys(target)).toEqual([...keys].sort());
      expect(await bucketState(target, 'p3/n00010')).toEqual(await bucketState(bucket, 'p3/n00010'));
      const second = await cairn.backup({ repository, sources: [minioSource(sourceOptions(bucket, { listMetadata: false }))] });
      expect(second.snapshot.summary).toMatchObject({ filesUnchanged: 1500, bytesRead: 0 });
      expect(second.snapshot.summary.bytesAdded).toBeLessThan(2048); // metadata fetched per object is the listed metadata
    } finally {
      await cairn.close();
    }
  });
});

describe('minio source: restore modes', () => {
  let cairn: Cairn;
  let repository: { target: ReturnType<typeof memoryTarget>; password: string };
  let snapshot: string;
  let snapshotState: Record<string, ObjectState>;
  beforeAll(async () => {
    ({ cairn, repository } = await newCairn());
    const source = await freshBucket('modes');
    await putObject(source, 'a.txt', Buffer.from('A'), { tags: { t: 'a' } });
    await putObject(source, 'dir/b.txt', Buffer.from('B'), { contentType: 'text/plain', meta: { m: 'b' } });
    await putObject(source, 'dir/c.txt', Buffer.from('C'));
    snapshotState = await bucketState(source);
    snapshot = (await cairn.backup({ repository, sources: [minioSource(sourceOptions(source))] })).snapshot.id;
  });
  afterAll(() => cairn.close());

  async function messy(): Promise<string> {
    const bucket = await freshBucket('messy');
    await putObject(bucket, 'dir/b.txt', Buffer.from('an older B'), { tags: { old: 'yes' } });
    await putObject(bucket, 'extra.txt', Buffer.from('not in the snapshot'));
    return bucket;
  }

  it('new refuses a bucket that holds objects, and leaves it as it was', async () => {
    const bucket = await messy();
    const before = await bucketState(bucket);
    const error = await cairn.restore({ repository, snapshot, to: sourceUrl(bucket) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).code).toBe('RESTORE_UNWRITABLE');
    expect((error as Error).message).toMatch(/already holds objects .*--mode merge .*--mode replace/);
    expect(await bucketState(bucket)).toEqual(before);
  });

  it('merge adds and overwrites, keeping the objects the snapshot lacks', async () => {
    const bucket = await messy();
    const extra = (await bucketState(bucket))['extra.txt']!;
    await cairn.restore({ repository, snapshot, to: sourceUrl(bucket), mode: 'merge' });
    expect(await bucketState(bucket)).toEqual({ ...snapshotState, 'extra.txt': extra });
  });

  it('replace also removes the objects the snapshot lacks, but only under the prefix', async () => {
    const bucket = await messy();
    await putObject(bucket, 'keep/x.txt', Buffer.from('elsewhere'));
    await putObject(bucket, 'into/stale.txt', Buffer.from('stale'));
    await cairn.restore({ repository, snapshot, to: sourceUrl(bucket, 'into'), mode: 'replace' });
    expect(await bucketState(bucket, 'into/')).toEqual(snapshotState);
    expect(await listKeys(bucket)).toEqual(['dir/b.txt', 'extra.txt', 'into/a.txt', 'into/dir/b.txt', 'into/dir/c.txt', 'keep/x.txt']);

    await cairn.restore({ repository, snapshot, to: sourceUrl(bucket), mode: 'replace' });
    expect(Object.keys(await bucketState(bucket)).sort()).toEqual(['a.txt', 'dir/b.txt', 'dir/c.txt']);
    expect(await bucketState(bucket)).toEqual(snapshotState);
  });
});

describe('minio source: entries', () => {
  it('gives the same metadata whether the listing carries it or it is fetched per object', async () => {
    const bucket = await freshBucket('fallback');
    await seed(bucket);
    const strip = (entries: SourceEntry[]) => entries.map(({ open: _open, ...rest }) => rest);
    const listed = await entriesOf(minioSource(sourceOptions(bucket)));
    const fetched = await entriesOf(minioSource(sourceOptions(bucket, { listMetadata: false, concurrency: 4 })));
    expect(fetched.warnings).toEqual([]);
    expect(strip(fetched.entries)).toEqual(strip(listed.entries));
    const readme = listed.entries.find((e) => e.path === 'docs/readme.txt')!;
    expect(readme.metadata).toMatchObject({
      key: 'docs/readme.txt', contentType: 'text/plain; charset=utf-8', userMetadata: { author: 'ann', n: '007' }, tags: { code: '007', project: 'cairn' },
    });
    expect(readme.changeKey).toBe(readme.metadata!.etag);
    expect(listed.entries.find((e) => e.path === 'folder')).toMatchObject({ type: 'dir', metadata: { key: 'folder/', tags: { marker: 'yes' } } });
    expect(listed.entries.find((e) => e.path === '007')).toMatchObject({ type: 'file', size: 4, metadata: { key: '007', tags: { agent: '007' } } });
  });

  it('backs up only the prefix, with paths relative to it, and names the source after the bucket', async () => {
    const bucket = await freshBucket('prefix');
    await putObject(bucket, 'photos/2024/a.jpg', Buffer.from('a'));
    await putObject(bucket, 'photos/2024/b/c.jpg', Buffer.from('c'));
    await putObject(bucket, 'photos/2024-old.jpg', Buffer.from('not under the prefix'));
    const source = minioSource(sourceOptions(bucket, { prefix: '/photos/2024/' }));
    expect(source.name).toBe(`minio-${bucket}`);
    expect(source.description).toBe(`minio+http://${host}:${port}/${bucket}/photos/2024`);
    const { entries } = await entriesOf(source);
    expect(entries.map((e) => `${e.type} ${e.path}`)).toEqual(['file a.jpg', 'dir b', 'file b/c.jpg']);
    expect(entries[0]!.metadata).toMatchObject({ key: 'a.jpg' });
  });

  it('refuses to pass off an object overwritten after the listing as the listed one', async () => {
    const bucket = await freshBucket('changed');
    await putObject(bucket, 'moving.txt', Buffer.from('first version'));
    const { entries } = await entriesOf(minioSource(sourceOptions(bucket)));
    await putObject(bucket, 'moving.txt', Buffer.from('second version, longer'));
    const error = await collect(await entries[0]!.open!()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as Error).message).toMatch(/moving\.txt: the object changed .* while it was backed up/);
  });

  it('stops when aborted', async () => {
    const bucket = await freshBucket('abort');
    await putObject(bucket, 'x.txt', Buffer.from('x'));
    const controller = new AbortController();
    controller.abort();
    const ctx = backupContext(controller.signal);
    const error = await (async () => {
      for await (const _ of minioSource(sourceOptions(bucket)).entries(ctx)) { /* nothing */ }
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
  });

  it('streams a 12 MiB object in pieces', async () => {
    const bucket = await freshBucket('stream');
    await putObject(bucket, 'big.bin', bytes('stream', 12 * MiB));
    const { entries } = await entriesOf(minioSource(sourceOptions(bucket)));
    let pieces = 0;
    let largest = 0;
    let size = 0;
    for await (const piece of await entries[0]!.open!()) {
      pieces++;
      largest = Math.max(largest, piece.byteLength);
      size += piece.byteLength;
    }
    expect(size).toBe(12 * MiB);
    expect(pieces).toBeGreaterThan(10);
    expect(largest).toBeLessThanOrEqual(MiB);
  });
});

describe('minio source: clear errors', () => {
  let cairn: Cairn;
  let repository: { target: ReturnType<typeof memoryTarget>; password: string };
  let bucket: string;
  let snapshot: string;
  beforeAll(async () => {
    ({ cairn, repository } = await newCairn());
    bucket = await freshBucket('errors');
    await putObject(bucket, 'file.txt', Buffer.from('content'));
    snapshot = (await cairn.backup({ repository, sources: [minioSource(sourceOptions(bucket))] })).snapshot.id;
  });
  afterAll(() => cairn.close());

  async function backupFails(options: Partial<MinioSourceOptions>, target = bucket): Promise<SourceError> {
    const error = await cairn.backup({ repository, sources: [minioSource(sourceOptions(target, options))] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as Error).message).not.toContain('\n');
    expect((error as Error).message).not.toContain(secretKey);
    return error as SourceError;
  }

  async function restoreFails(options: Partial<MinioSourceOptions>, target: string, mode: 'new' | 'merge' = 'new'): Promise<SourceError> {
    const error = await cairn.restore({ repository, snapshot, to: minioSource(sourceOptions(target, options)), mode }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).code).toBe('RESTORE_UNWRITABLE');
    expect((error as Error).message).not.toContain('\n');
    return error as SourceError;
  }

  it('a wrong secret key names the access key id and says the secret is wrong', async () => {
    const error = await backupFails({ secretKey: 'the-wrong-secret' });
    expect(error.code).toBe('SOURCE_UNREADABLE');
    expect(error.message).toMatch(new RegExp(`signature of access key id "${accessKey}": the secret key is wrong; check AWS_SECRET_ACCESS_KEY`));
    expect(error.message).not.toContain('the-wrong-secret');
    const restore = await restoreFails({ secretKey: 'the-wrong-secret' }, await freshBucket('wrong-secret'));
    expect(restore.message).toMatch(/the secret key is wrong/);
  });

  it('an unknown access key says so', async () => {
    const error = await backupFails({ accessKey: 'NOSUCHKEY' });
    expect(error.message).toMatch(/does not know access key id "NOSUCHKEY": check AWS_ACCESS_KEY_ID/);
  });

  it('a missing bucket: SOURCE_NOT_FOUND, naming it', async () => {
    const missing = unique('cairn-msrc-missing');
    const error = await backupFails({}, missing);
    expect(error.code).toBe('SOURCE_NOT_FOUND');
    expect(error.message).toContain(`bucket "${missing}" does not exist on ${host}:${port}`);
    expect(await admin.bucketExists(missing)).toBe(false);
  });

  it('permission denied: read-only keys cannot restore, nor create the bucket, and the message names the key and the rights', async () => {
    const readOnly = await readOnlyCredentials();
    const target = await freshBucket('read-only');
    const error = await restoreFails(readOnly, target);
    expect(error.message).toMatch(new RegExp(`access denied writing file.txt in bucket "${target}" on ${host}:${port} for access key id "${readOnly.accessKey}": it needs .*s3:PutObject`));
    expect(error.message).not.toContain(readOnly.secretKey);
    expect(error.message).not.toContain(readOnly.sessionToken);
    expect(await listKeys(target)).toEqual([]);

    const missing = unique('cairn-msrc-ro');
    const create = await restoreFails(readOnly, missing);
    expect(create.message).toMatch(/access denied creating bucket .*s3:CreateBucket/);
    // The same keys back up fine: they may read.
    const backup = await cairn.backup({ repository, sources: [minioSource(sourceOptions(bucket, readOnly))] });
    expect(backup.warnings).toEqual([]);
  });

  it('a server that is down fails within seconds, saying it is unreachable', async () => {
    const started = performance.now();
    const error = await backupFails({ port: await unusedPort() });
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(error.code).toBe('SOURCE_UNREADABLE');
    expect(error.message).toMatch(/unreachable or stopped answering \(.*ECONNREFUSED.*\): check the host and port/);
    const restore = await restoreFails({ port: await unusedPort(), retries: 1 }, 'whatever-bucket');
    expect(restore.message).toMatch(/unreachable/);
  });

  it('a server that accepts and never answers fails after the timeout', async () => {
    const silent = await silentServer();
    try {
      const started = performance.now();
      const error = await backupFails({ port: silent.port, timeoutMs: 500, retries: 1 });
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(error.message).toMatch(/listing the bucket: .* (is unreachable or )?stopped answering/);
    } finally {
      await silent.close();
    }
  });

  it('bad options and URLs are ConfigErrors that name the problem', async () => {
    expect(() => minioSource(sourceOptions('no'))).toThrow(/bucket: expected an S3 bucket name/);
    expect(() => minioSource(sourceOptions(bucket, { concurrency: 0 }))).toThrow(/concurrency/);
    const restore = await cairn.restore({ repository, snapshot, to: 'minio+http://127.0.0.1:9/b' }).catch((e: unknown) => e);
    expect(restore).toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
