import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, ConfigError, TargetError } from '@cairn/core';
import type { BlobStore } from '@cairn/core';
import { collect, deterministicBytes, describeTargetConformance, digest, hashing, pluginContext, startTcpProxy } from '@cairn/testkit';
import { parseS3Url, s3Target } from '../src/index.js';
import {
  accessKey, admin, host, incompleteUploads, objectNames, port, readOnlyCredentials, removePrefix, s3Options, secretKey,
  silentServer, testBucket, tlsFrontend, unique,
} from './s3-services.js';
import { unusedPort } from '@cairn/testkit';

const MiB = 1024 * 1024;
const bucket = testBucket('s3-target');
afterAll(() => bucket.drop());

describeTargetConformance('s3', async () => {
  const name = await bucket.ready();
  const prefix = unique('conformance');
  return { target: s3Target(s3Options(name, prefix)), cleanup: () => removePrefix(name, `${prefix}/`) };
}, {
  behindProxy: async () => {
    const name = await bucket.ready();
    const prefix = unique('proxied');
    const proxy = await startTcpProxy({ host, port });
    return { target: s3Target(s3Options(name, prefix, { port: proxy.port, timeoutMs: 3000, retries: 2 })), proxy, cleanup: () => removePrefix(name, `${prefix}/`) };
  },
});

async function failure(promise: Promise<unknown>): Promise<TargetError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(TargetError);
  expect((error as Error).message).not.toContain('\n');
  return error as TargetError;
}

describe('s3 URLs', () => {
  const env = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

  it('reads s3:// as HTTPS and s3+http:// as plain HTTP, with bucket, prefix, port and keys from the environment', () => {
    expect(parseS3Url('s3://minio.lan/backups/photos/2024', env)).toEqual({
      endpoint: 'minio.lan', useSSL: true, bucket: 'backups', prefix: 'photos/2024', accessKey: 'AKIDEXAMPLE', secretKey: env.AWS_SECRET_ACCESS_KEY,
    });
    expect(parseS3Url('s3+http://127.0.0.1:9000/b-1/?region=eu-central-1&path_style=0', { ...env, AWS_SESSION_TOKEN: 'tok' })).toEqual({
      endpoint: '127.0.0.1', port: 9000, useSSL: false, bucket: 'b-1', prefix: '', accessKey: 'AKIDEXAMPLE', secretKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: 'tok', region: 'eu-central-1', pathStyle: false,
    });
  });

  it('takes percent-encoded keys from the URL, and never shows the secret', () => {
    const url = 's3://AKIDURL:wJal%2FK7%2Bsecret@s3.example.com:8443/bucket/repo';
    const options = parseS3Url(url, {});
    expect(options).toMatchObject({ accessKey: 'AKIDURL', secretKey: 'wJal/K7+secret', port: 8443 });
    const target = s3Target(options);
    expect(target.location).toBe('s3://s3.example.com:8443/bucket/repo');
    expect(JSON.stringify(target)).not.toContain('wJal');
  });

  it('finds the region in the URL, an AWS host name or the environment, in that order', () => {
    expect(parseS3Url('s3://s3.eu-west-3.amazonaws.com/bucket', { ...env, AWS_REGION: 'us-west-2' }).region).toBe('eu-west-3');
    expect(parseS3Url('s3://s3.eu-west-3.amazonaws.com/bucket?region=ap-south-1', env).region).toBe('ap-south-1');
    expect(parseS3Url('s3://minio.lan/bucket', { ...env, AWS_DEFAULT_REGION: 'eu-north-1' }).region).toBe('eu-north-1');
    expect(parseS3Url('s3://minio.lan/bucket', env).region).toBeUndefined();
    expect(s3Target(parseS3Url('s3://minio.lan/bucket', env)).location).toBe('s3://minio.lan/bucket');
  });

  it('refuses a URL without bucket or credentials, or with unknown parameters, naming what to fix and no secret', () => {
    const problems: Array<[string, Record<string, string>, RegExp]> = [
      ['s3://host', env, /no bucket/],
      ['s3://host/bucket', {}, /set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/],
      ['s3://host/bucket', { AWS_ACCESS_KEY_ID: 'x' }, /set AWS_SECRET_ACCESS_KEY \(/],
      ['s3://KEY:topsecret@host/bucket?part=1', {}, /unknown parameter "part"/],
      ['s3://KEY@host/bucket', {}, /both keys/],
      ['s3://host/bucket?path_style=maybe', env, /path_style must be 0 or 1/],
    ];
    for (const [url, given, pattern] of problems) {
      const error = (() => {
        try {
          parseS3Url(url, given);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error, url).toBeInstanceOf(ConfigError);
      expect((error as Error).message, url).toMatch(pattern);
      expect((error as Error).message).not.toContain('topsecret');
    }
  });

  it('validates the options it is given, naming the plugin and the field', () => {
    expect(() => s3Target({ endpoint: 'http://host', bucket: 'b', accessKey: 'k', secretKey: 's' })).toThrow(/\[s3\] invalid options: .*bucket.*|endpoint/);
    expect(() => s3Target({ endpoint: 'host', bucket: 'ok-bucket', accessKey: 'k', secretKey: 's', partSizeMiB: 1 })).toThrow(/partSizeMiB/);
  });
});

describe('s3 target against MinIO', () => {
  let name: string;
  let prefix: string;
  let store: BlobStore | undefined;
  beforeAll(async () => {
    name = await bucket.ready();
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    await removePrefix(name, `${prefix}/`);
  });
  const open = async (overrides: Parameters<typeof s3Options>[2] = {}) => {
    prefix = unique('own');
    store = await s3Target(s3Options(name, prefix, overrides)).connect(pluginContext());
    return store;
  };

  it('keeps objects under the prefix, with the keys as names', async () => {
    const s = await open();
    await s.put('data/ab/cdef', new Uint8Array([1, 2, 3]));
    expect(await objectNames(name, `${prefix}/`)).toEqual([`${prefix}/data/ab/cdef`]);
  });

  it('lists names that look like numbers as they are, and skips folder markers', async () => {
    const s = await open();
    for (const key of ['007', '0x1f', '1e3', 'a b+c', 'keys/007']) await s.put(key, new Uint8Array([7]));
    await admin.putObject(name, `${prefix}/folder/`, Buffer.alloc(0));
    const keys: string[] = [];
    for await (const info of s.list('')) keys.push(info.key);
    expect(keys.sort()).toEqual(['007', '0x1f', '1e3', 'a b+c', 'keys/007']);
  });

  it('lists more than one page of keys', async () => {
    const s = await open();
    const keys = Array.from({ length: 1234 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((key) => s.put(key, new Uint8Array(0))));
    let count = 0;
    for await (const info of s.list('many/')) {
      expect(info.key.startsWith('many/')).toBe(true);
      count++;
    }
    expect(count).toBe(1234);
  });

  it('sends a large streamed body as a multipart upload, and reads it back whole', async () => {
    const s = await open({ partSizeMiB: 5 });
    const upload = hashing(deterministicBytes('multipart', 23 * MiB + 17, 100_000));
    await s.put('big', upload.body);
    expect(await s.stat('big')).toEqual({ key: 'big', size: 23 * MiB + 17 });
    expect(await digest(await s.get('big'))).toEqual(upload.result());
    // A multipart object's ETag ends in -<parts>: proof it did not go up in one PUT.
    expect((await admin.statObject(name, `${prefix}/big`)).etag).toMatch(/-5$/);
  });

  it('aborts a failed multipart upload on the server: no object, no parts left behind', async () => {
    const s = await open({ partSizeMiB: 5 });
    const failing = async function* () {
      yield* deterministicBytes('dies', 12 * MiB, MiB);
      throw new Error('the producer died');
    };
    await expect(s.put('dies', failing())).rejects.toThrow('the producer died');
    expect(await s.stat('dies')).toBeUndefined();
    expect(await incompleteUploads(name, `${prefix}/`)).toEqual([]);
  });

  it('aborts a multipart upload cancelled through its signal', async () => {
    const s = await open({ partSizeMiB: 5 });
    const controller = new AbortController();
    const body = async function* () {
      let sent = 0;
      for await (const chunk of deterministicBytes('cancel', 40 * MiB, MiB)) {
        if ((sent += chunk.byteLength) > 16 * MiB) controller.abort();
        yield chunk;
      }
    };
    const error = await s.put('cancelled', body(), { signal: controller.signal }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect(await s.stat('cancelled')).toBeUndefined();
    expect(await incompleteUploads(name, `${prefix}/`)).toEqual([]);
  });

  it('stops a read when its signal aborts', async () => {
    const s = await open();
    await s.put('read-me', await collect(deterministicBytes('abort-read', 4 * MiB)));
    const controller = new AbortController();
    const reading = (async () => {
      for await (const _ of await s.get('read-me', { signal: controller.signal })) controller.abort();
    })();
    await expect(reading).rejects.toBeInstanceOf(AbortedError);
  });

  it('reads only the range asked for from the server', async () => {
    const name2 = name;
    prefix = unique('range');
    const proxy = await startTcpProxy({ host, port });
    try {
      const s = (store = await s3Target(s3Options(name2, prefix, { port: proxy.port })).connect(pluginContext()));
      await s.put('ranged', await collect(deterministicBytes('ranged', 8 * MiB)));
      const before = proxy.bytes;
      expect((await collect(await s.get('ranged', { range: { offset: 5 * MiB, length: 100 } }))).length).toBe(100);
      expect(proxy.bytes - before).toBeLessThan(64 * 1024);
    } finally {
      await store?.close();
      store = undefined;
      await proxy.close();
    }
  });

  it('resumes a read whose connection drops mid-way, and returns every byte', async () => {
    prefix = unique('resume');
    const proxy = await startTcpProxy({ host, port });
    try {
      const s = (store = await s3Target(s3Options(name, prefix, { port: proxy.port, timeoutMs: 3000 })).connect(pluginContext()));
      const body = await collect(deterministicBytes('resume', 12 * MiB));
      await s.put('resumed', body);
      const start = proxy.bytes;
      const chunks: Buffer[] = [];
      let cut = false;
      for await (const chunk of await s.get('resumed')) {
        chunks.push(Buffer.from(chunk));
        if (!cut && proxy.bytes - start > 4 * MiB) {
          cut = true;
          proxy.cut();
        }
      }
      expect(cut).toBe(true);
      expect(Buffer.concat(chunks).equals(body)).toBe(true);
    } finally {
      await store?.close();
      store = undefined;
      await proxy.close();
    }
  });

  it('speaks HTTPS with a certificate trusted through NODE_EXTRA_CA_CERTS', async () => {
    const tls = await tlsFrontend();
    try {
      const s = await open({ useSSL: true, port: tls.port });
      const body = await collect(deterministicBytes('tls', 3 * MiB));
      await s.put('over-tls', body);
      expect((await collect(await s.get('over-tls'))).equals(body)).toBe(true);
      await s.put('over-tls-multipart', deterministicBytes('tls-mp', 11 * MiB, MiB));
      expect(await s.stat('over-tls-multipart')).toEqual({ key: 'over-tls-multipart', size: 11 * MiB });
    } finally {
      await store?.close();
      store = undefined;
      await tls.close();
    }
  });

  it('refuses a certificate issued for another name with TARGET_PERMISSION, unless told to skip the check', async () => {
    const tls = await tlsFrontend();
    prefix = unique('tls');
    try {
      const wrongName = s3Options(name, prefix, { endpoint: 'localhost', useSSL: true, port: tls.port, retries: 1 });
      const error = await failure(s3Target(wrongName).connect(pluginContext()));
      expect(error.code).toBe('TARGET_PERMISSION');
      expect(error.message).toMatch(/certificate of localhost:\d+ is not trusted \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
      store = await s3Target({ ...wrongName, insecureSkipCertificateCheck: true }).connect(pluginContext());
      await store.put('insecure', new Uint8Array([1]));
      expect(await store.stat('insecure')).toEqual({ key: 'insecure', size: 1 });
    } finally {
      await store?.close();
      store = undefined;
      await tls.close();
    }
  });
});

describe('s3 target: what goes wrong, said clearly', () => {
  let name: string;
  const prefix = unique('errors');
  beforeAll(async () => {
    name = await bucket.ready();
  });
  afterAll(() => removePrefix(name, `${prefix}/`));
  const connect = (overrides: Parameters<typeof s3Options>[2]) => s3Target(s3Options(name, prefix, overrides)).connect(pluginContext());

  it('a wrong secret key: TARGET_PERMISSION naming the access key id, never the secret', async () => {
    const error = await failure(connect({ secretKey: 'not-the-secret-key' }));
    expect(error.code).toBe('TARGET_PERMISSION');
    expect(error.message).toContain(`access key id "${accessKey}"`);
    expect(error.message).toMatch(/secret key is wrong/);
    expect(error.message).not.toContain('not-the-secret-key');
    expect(error.message).not.toContain(secretKey);
  });

  it('an unknown access key: TARGET_PERMISSION', async () => {
    const error = await failure(connect({ accessKey: 'NOSUCHKEY' }));
    expect(error.code).toBe('TARGET_PERMISSION');
    expect(error.message).toContain('"NOSUCHKEY"');
  });

  it('a missing bucket: TARGET_IO at connect, saying to create it (never TARGET_NOT_FOUND, which means a missing object)', async () => {
    const missing = unique('no-such-bucket');
    const error = await failure(s3Target(s3Options(missing, '')).connect(pluginContext()));
    expect(error.code).toBe('TARGET_IO');
    expect(error.message).toContain(`bucket "${missing}" does not exist on ${host}:${port}: create it first`);
    expect(await admin.bucketExists(missing)).toBe(false);
  });

  it('read-only credentials: reads work, a write fails with TARGET_PERMISSION', async () => {
    const admin = await s3Target(s3Options(name, prefix)).connect(pluginContext());
    await admin.put('readable', new Uint8Array([1, 2]));
    await admin.close();
    const readOnly = await readOnlyCredentials();
    const store = await connect(readOnly);
    try {
      expect([...(await collect(await store.get('readable')))]).toEqual([1, 2]);
      const error = await failure(store.put('written', new Uint8Array([3])));
      expect(error.code).toBe('TARGET_PERMISSION');
      expect(error.message).toContain(`access denied writing written in bucket "${name}"`);
      expect(error.message).toContain(readOnly.accessKey);
      expect(error.message).not.toContain(readOnly.secretKey);
      expect(error.message).not.toContain(readOnly.sessionToken);
    } finally {
      await store.close();
    }
  });

  it('no server on the port: TARGET_UNAVAILABLE after the retries, quickly', async () => {
    const error = await failure(connect({ port: await unusedPort(), retries: 2 }));
    expect(error.code).toBe('TARGET_UNAVAILABLE');
    expect(error.message).toMatch(/unreachable|ECONNREFUSED/);
  });

  it('a server that never answers: TARGET_UNAVAILABLE once the timeout has passed, not a hang', async () => {
    const silent = await silentServer();
    try {
      const started = performance.now();
      const error = await failure(connect({ port: silent.port, timeoutMs: 500, retries: 1 }));
      expect(error.code).toBe('TARGET_UNAVAILABLE');
      expect(error.message).toContain('no answer within 0.5 s');
      expect(performance.now() - started).toBeLessThan(10_000);
    } finally {
      await silent.close();
    }
  });
});
