import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, ConfigError, TargetError } from '@cairn/core';
import type { BlobStore, TargetInstance } from '@cairn/core';
import { collect, deterministicBytes, describeTargetConformance, memoryLogger, pluginContext, startTcpProxy } from '@cairn/testkit';
import type { TcpProxy } from '@cairn/testkit';
import { ftpTarget, parseFtpUrl } from '../src/index.js';
import type { FtpTargetOptions } from '../src/index.js';
import { admin, credentials, env, host, namesIn, port, testDir } from './ftp-services.js';
import { unusedPort } from '@cairn/testkit';

const MiB = 1024 * 1024;

for (const secure of ['none', 'explicit'] as const) {
  const name = secure === 'explicit' ? 'ftps' : 'ftp';
  describeTargetConformance(name, async () => {
    const dir = testDir();
    return { target: ftpTarget({ host, port, ...credentials, path: dir.path, secure }), cleanup: dir.cleanup };
  }, {
    behindProxy: async () => {
      const dir = testDir();
      // Only the control connection passes the proxy: passive data connections go straight to the server.
      const proxy = await startTcpProxy({ host, port });
      const target = ftpTarget({ host: '127.0.0.1', port: proxy.port, ...credentials, path: dir.path, secure, timeoutMs: 3000, retries: 2 });
      return { target, proxy, cleanup: dir.cleanup };
    },
  });
}

describe('ftp URLs', () => {
  it('parses user, password, host, port and an absolute path, percent-decoded', () => {
    expect(parseFtpUrl('ftps://ann%40corp:p%2Fss%3Aw@files.example.org:2121/srv/back%20ups/')).toEqual({
      host: 'files.example.org', port: 2121, username: 'ann@corp', password: 'p/ss:w', path: '/srv/back ups', secure: 'explicit',
    });
    expect(parseFtpUrl('ftp://ann@10.0.0.2/data')).toEqual({ host: '10.0.0.2', username: 'ann', path: '/data', secure: 'none' });
  });

  it('takes the password from CAIRN_TARGET_PASSWORD when the URL has none, and prefers the URL', () => {
    expect(parseFtpUrl('ftp://ann@host/x', { CAIRN_TARGET_PASSWORD: 'from env' })).toMatchObject({ password: 'from env' });
    expect(parseFtpUrl('ftp://ann:inline@host/x', { CAIRN_TARGET_PASSWORD: 'from env' })).toMatchObject({ password: 'inline' });
  });

  it('accepts the explicit opt-out of certificate checks, for ftps only', () => {
    expect(parseFtpUrl('ftps://ann@host/x?insecure_skip_certificate_check=1')).toMatchObject({ insecureSkipCertificateCheck: true });
    expect(() => parseFtpUrl('ftp://ann@host/x?insecure_skip_certificate_check=1')).toThrow(ConfigError);
    expect(() => parseFtpUrl('ftps://ann@host/x?verify=no')).toThrow(/unknown parameter "verify"/);
  });

  it('takes the number of connections, a whole number', () => {
    expect(parseFtpUrl('ftp://ann@host/x?connections=2')).toMatchObject({ connections: 2 });
    expect(() => parseFtpUrl('ftp://ann@host/x?connections=many')).toThrow(/connections must be a whole number/);
  });

  it('refuses a URL without a user, hiding any password in the message', () => {
    expect(() => parseFtpUrl('ftp://host/x')).toThrow(/names no user/);
    const error = (() => {
      try {
        parseFtpUrl('ftp://ann:s3cret@host/x?insecure_skip_certificate_check=1');
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.message).not.toContain('s3cret');
  });

  it('describes the location without the password', () => {
    const target = ftpTarget({ ...parseFtpUrl('ftps://ann:s3cret@host:2121/srv/x') });
    expect(target.location).toBe('ftps://ann@host:2121/srv/x');
    expect(ftpTarget({ host: 'h', username: 'u', password: 'pw', path: '/' }).location).toBe('ftp://u@h:21/');
  });

  it('refuses a relative path in options', () => {
    expect(() => ftpTarget({ host, username: 'u', path: 'relative' })).toThrow(/path: expected an absolute path/);
  });
});

describe('ftp target', () => {
  const opened: Array<{ store: BlobStore; cleanup?: () => Promise<void> }> = [];
  const open = async (options: Partial<FtpTargetOptions> = {}, logger = memoryLogger()) => {
    const dir = testDir();
    const target = ftpTarget({ host, port, ...credentials, path: dir.path, ...options });
    const store = await target.connect({ signal: new AbortController().signal, logger });
    opened.push({ store, cleanup: dir.cleanup });
    return { store, target, path: options.path ?? dir.path };
  };
  afterEach(async () => {
    for (const { store, cleanup } of opened.splice(0)) {
      await store.close();
      await cleanup?.();
    }
  });

  it('stores each object as a file under the directory, key segments as folders', async () => {
    const { store, path } = await open();
    await store.put('data/ab/cdef', new Uint8Array([1, 2, 3]));
    expect(await namesIn(`${path}/data/ab`)).toEqual(['cdef']);
  });

  it('creates missing parents of the repository directory, as mkdir -p', async () => {
    const dir = testDir();
    const { store } = await open({ path: `${dir.path}/deeper/still` });
    opened.push({ store, cleanup: dir.cleanup });
    await store.put('k', new Uint8Array([9]));
    expect(await admin((client) => client.size(`${dir.path}/deeper/still/k`))).toBe(1);
  });

  it('never lists temporary uploads, and removes those older than a day while listing', async () => {
    const { store, path } = await open();
    await store.put('data/complete', new Uint8Array([1]));
    await admin(async (client) => {
      await client.uploadFrom(Readable.from([Buffer.from('from a killed run')]), `${path}/data/old.tmp-0123456789ab`);
      await client.uploadFrom(Readable.from([Buffer.from('maybe still being written')]), `${path}/data/new.tmp-0123456789ab`);
      // vsftpd sets a file's time with MDTM and a time stamp (mdtm_write, on by default).
      const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
      await client.send(`MDTM ${twoDaysAgo} ${path}/data/old.tmp-0123456789ab`);
    });
    const keys: string[] = [];
    for await (const info of store.list('')) keys.push(info.key);
    expect(keys).toEqual(['data/complete']);
    expect(await namesIn(`${path}/data`)).toEqual(['complete', 'new.tmp-0123456789ab']);
  });

  it('treats a folder of keys as no object', async () => {
    const { store } = await open();
    await store.put('data/ab/cdef', new Uint8Array([1]));
    await expect(store.get('data/ab')).rejects.toMatchObject({ code: 'TARGET_NOT_FOUND' });
    expect(await store.stat('data/ab')).toBeUndefined();
  });

  it('refuses keys that look like temporary uploads or carry line breaks', async () => {
    const { store } = await open();
    for (const key of ['x.tmp-0123456789ab', 'a\r\nDELE b', 'nul\0byte']) {
      await expect(store.put(key, new Uint8Array(1))).rejects.toMatchObject({ code: 'TARGET_INVALID_KEY' });
    }
  });

  it('reads many ranges from the middle of an object, each cut short, and stays usable', async () => {
    const { store } = await open({ connections: 2 });
    const body = await collect(deterministicBytes('middle', 4 * MiB));
    await store.put('packs/p', body);
    for (let i = 0; i < 12; i++) {
      const offset = 100_000 * i + 7;
      const got = await collect(await store.get('packs/p', { range: { offset, length: 50_000 } }));
      expect(got.equals(body.subarray(offset, offset + 50_000)), `range ${offset}`).toBe(true);
    }
    expect((await collect(await store.get('packs/p'))).equals(body)).toBe(true);
  });

  it('reads consecutive ranges asked for ahead, with gaps and out of order, byte-exact on one connection', async () => {
    const { store } = await open({ connections: 1 });
    const body = await collect(deterministicBytes('consecutive', 8 * MiB));
    await store.put('packs/c', body);
    // As restore asks: each range where the last one ended (some after a gap, one far behind), three in flight.
    const ranges = [[0, 700_000], [700_000, 1_500_000], [1_600_000, 2_000_000], [2_000_000, 3_000_000], [5_000_000, 6_000_000],
      [3_000_000, 3_100_000], [6_000_000, 8 * MiB - 6_000_000], [3_100_000, 4_000_000]] as const;
    const read = async ([offset, length]: readonly [number, number]) => ({ offset, length, got: await collect(await store.get('packs/c', { range: { offset, length } })) });
    const inFlight: Array<ReturnType<typeof read>> = [];
    for (const range of ranges) {
      inFlight.push(read(range));
      if (inFlight.length === 3) {
        const { offset, length, got } = await inFlight.shift()!;
        expect(got.equals(body.subarray(offset, offset + length)), `range ${offset}+${length}`).toBe(true);
      }
    }
    for (const { offset, length, got } of await Promise.all(inFlight)) {
      expect(got.equals(body.subarray(offset, offset + length)), `range ${offset}+${length}`).toBe(true);
    }
    expect((await collect(await store.get('packs/c'))).equals(body)).toBe(true);
  });

  it('reads the new object after an overwrite, never the rest of a transfer of the old one', async () => {
    const { store } = await open({ connections: 1 });
    const before = await collect(deterministicBytes('old', 3 * MiB));
    const after = await collect(deterministicBytes('new', 3 * MiB));
    await store.put('o', before);
    expect((await collect(await store.get('o', { range: { offset: 0, length: MiB } }))).equals(before.subarray(0, MiB))).toBe(true);
    await store.put('o', after);
    expect((await collect(await store.get('o', { range: { offset: MiB, length: MiB } }))).equals(after.subarray(MiB, 2 * MiB))).toBe(true);
    await store.delete('o');
    await expect(store.get('o', { range: { offset: 2 * MiB, length: 10 } })).rejects.toMatchObject({ code: 'TARGET_NOT_FOUND' });
  });

  it('does not let a get whose body is never read hold up the read that follows it', async () => {
    const { store } = await open({ connections: 1, timeoutMs: 500 });
    const body = await collect(deterministicBytes('unread', 2 * MiB));
    await store.put('u', body);
    await store.get('u', { range: { offset: 0, length: MiB } }); // never read
    expect((await collect(await store.get('u', { range: { offset: MiB, length: 1000 } }))).equals(body.subarray(MiB, MiB + 1000))).toBe(true);
    expect((await collect(await store.get('u'))).equals(body)).toBe(true);
  });

  it('runs more transfers than connections by queueing them', async () => {
    const { store } = await open({ connections: 2 });
    const bodies = await Promise.all(Array.from({ length: 8 }, (_, i) => collect(deterministicBytes(`queued-${i}`, 200_000 + i))));
    await Promise.all(bodies.map((body, i) => store.put(`q/${i}`, body)));
    const back = await Promise.all(bodies.map(async (_, i) => collect(await store.get(`q/${i}`))));
    back.forEach((got, i) => expect(got.equals(bodies[i]!)).toBe(true));
  });

  it('stops a get when the reader breaks off or aborts, and the next operations still work', async () => {
    const { store } = await open({ connections: 1 });
    const body = await collect(deterministicBytes('break', 6 * MiB));
    await store.put('b', body);
    for await (const piece of await store.get('b')) {
      expect(piece.byteLength).toBeGreaterThan(0);
      break;
    }
    const controller = new AbortController();
    const reading = (async () => {
      let n = 0;
      for await (const piece of await store.get('b', { signal: controller.signal })) {
        n += piece.byteLength;
        if (n > MiB) controller.abort();
      }
    })();
    await expect(reading).rejects.toBeInstanceOf(AbortedError);
    expect((await collect(await store.get('b'))).equals(body)).toBe(true);
  });

  it('refuses a wrong password with TARGET_PERMISSION, naming user and host but never the password, without retrying', async () => {
    const logger = memoryLogger();
    const { store } = await open({ password: 'not-the-password' }, logger);
    const error = await store.put('x', new Uint8Array([1])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetError);
    expect(error).toMatchObject({ code: 'TARGET_PERMISSION' });
    const message = (error as Error).message;
    expect(message).toContain(`login incorrect for user "${credentials.username}" on ${host}:${port}`);
    expect(message).not.toContain('not-the-password');
    expect(logger.lines.filter((line) => line.message.includes('retrying'))).toEqual([]);
  });

  describe('certificates (ftps)', () => {
    it('refuses a certificate issued for another name: connecting by "localhost" to a certificate for 127.0.0.1', async () => {
      const { store } = await open({ host: 'localhost', secure: 'explicit' });
      const error = await store.put('x', new Uint8Array([1])).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'TARGET_PERMISSION' });
      expect((error as Error).message).toMatch(/^\[ftp\] certificate of localhost:\d+ is not trusted \(.*(altnames|cert's CN).*\): add the CA/);
      expect((error as Error).message).not.toContain(credentials.password);
    });

    it('trusts the test certificate through NODE_EXTRA_CA_CERTS, and encrypts with it', async () => {
      expect(process.env.NODE_EXTRA_CA_CERTS).toBeTruthy(); // the services' CA bundle, which holds CAIRN_TEST_FTP_CA
      const { store } = await open({ secure: 'explicit' });
      await store.put('tls/x', new Uint8Array([1, 2]));
      expect([...(await collect(await store.get('tls/x')))]).toEqual([1, 2]);
    });

    it('accepts any certificate only when the user opts out explicitly', async () => {
      const { store } = await open({ host: 'localhost', secure: 'explicit', insecureSkipCertificateCheck: true });
      await store.put('insecure/x', new Uint8Array([7]));
      expect([...(await collect(await store.get('insecure/x')))]).toEqual([7]);
    });
  });

  it('reports TARGET_PERMISSION when the server refuses to create the directory or the file', async () => {
    const readonly = env.CAIRN_TEST_FTP_READONLY_DIR;
    for (const path of [`${readonly}/repo`, readonly]) {
      const { store } = await open({ path });
      const error = await store.put('config', new Uint8Array([1])).catch((e: unknown) => e);
      expect(error, path).toMatchObject({ code: 'TARGET_PERMISSION' });
      expect((error as Error).message).toContain(`permission denied on ${host}:${port}`);
    }
  });

  it('reports a full disk on the server as TARGET_IO "no space left", and leaves no temporary file', async () => {
    const dir = testDir(env.CAIRN_TEST_FTP_SMALL_DIR);
    const { store } = await open({ path: dir.path });
    opened.push({ store, cleanup: dir.cleanup });
    const big = await collect(deterministicBytes('full', 12 * MiB)); // the tmpfs holds 8 MiB
    const error = await store.put('data/big', [big]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TARGET_IO' });
    expect((error as Error).message).toContain('no space left on the server');
    expect(await namesIn(`${dir.path}/data`)).toEqual([]);
    await store.put('data/small', new Uint8Array(1000)); // the space came back with the temporary file
  });

  it('fails with TARGET_UNAVAILABLE when nothing listens, after its retries', async () => {
    const unused = await unusedPort();
    const logger = memoryLogger();
    const { store } = await open({ host: '127.0.0.1', port: unused, timeoutMs: 2000, retries: 2 }, logger);
    const error = await store.stat('x').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TARGET_UNAVAILABLE' });
    expect((error as Error).message).toContain(`cannot reach the FTP server 127.0.0.1:${unused} (ECONNREFUSED)`);
    expect(logger.lines.filter((line) => line.message.includes('retrying')).length).toBe(2);
  });

  describe('when the control connection is cut mid-transfer (data connections bypass the proxy)', () => {
    let proxy: TcpProxy;
    let dir: { path: string; cleanup: () => Promise<void> };
    let target: TargetInstance;
    let store: BlobStore;
    beforeAll(async () => {
      proxy = await startTcpProxy({ host, port });
      dir = testDir();
    });
    afterAll(async () => {
      await proxy.close();
      await dir.cleanup();
    });
    for (const secure of ['none', 'explicit'] as const) {
      describe(secure === 'explicit' ? 'ftps' : 'ftp', () => {
        afterEach(async () => store.close());
        const connect = async () => {
          target = ftpTarget({ host: '127.0.0.1', port: proxy.port, ...credentials, path: `${dir.path}/${secure}`, secure, timeoutMs: 3000, retries: 3 });
          store = await target.connect(pluginContext());
        };

        it('sends a buffered body again and stores it whole', async () => {
          await connect();
          const parts = await Promise.all(Array.from({ length: 24 }, (_, i) => collect(deterministicBytes(`cut-put-${i}`, 256 * 1024))));
          // Cut once, while the first attempt is still reading its parts.
          let served = 0;
          const body = Object.defineProperty([...parts], Symbol.iterator, {
            value: function* () {
              for (const part of parts) {
                if (++served === 8) proxy.cut();
                yield part;
              }
            },
          });
          await store.put('cut/buffered', body);
          expect(served).toBeGreaterThan(parts.length); // it really was sent twice
          expect((await collect(await store.get('cut/buffered'))).equals(Buffer.concat(parts))).toBe(true);
        });

        it('fails a streamed body with TARGET_UNAVAILABLE and stores nothing', async () => {
          await connect();
          const stream = async function* () {
            let sent = 0;
            for await (const part of deterministicBytes('cut-stream', 6 * MiB, 64 * 1024)) {
              if ((sent += part.byteLength) === 2 * MiB) proxy.cut();
              yield part;
            }
          };
          const error = await store.put('cut/streamed', stream()).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(TargetError);
          expect(error).toMatchObject({ code: 'TARGET_UNAVAILABLE' });
          expect(await store.stat('cut/streamed')).toBeUndefined();
        });

        it('resumes a get where the cut left it and returns every byte', async () => {
          await connect();
          const body = await collect(deterministicBytes('cut-get', 6 * MiB));
          await store.put('cut/read', body);
          const parts: Buffer[] = [];
          let received = 0;
          let cut = false;
          for await (const piece of await store.get('cut/read')) {
            parts.push(Buffer.from(piece));
            received += piece.byteLength;
            if (!cut && received >= 2 * MiB) {
              cut = true;
              proxy.cut();
            }
          }
          expect(cut).toBe(true);
          expect(Buffer.concat(parts).equals(body)).toBe(true);
        });
      });
    }
  });

  it('lets the process exit after close: no socket stays open', async () => {
    const before = openSockets();
    const { store } = await open({ connections: 3 });
    await Promise.all([0, 1, 2].map((i) => store.put(`sock/${i}`, new Uint8Array(10))));
    expect(openSockets()).toBeGreaterThan(before);
    await store.close();
    await until(() => openSockets() <= before);
  });
});

function openSockets(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TLSWrap').length;
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}
