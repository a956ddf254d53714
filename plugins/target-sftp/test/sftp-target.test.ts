import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import ssh2 from 'ssh2';
import { ConfigError, TargetError } from '@cairn/core';
import type { BlobStore } from '@cairn/core';
import { collect, describeTargetConformance, deterministicBytes, pluginContext, startTcpProxy } from '@cairn/testkit';
import { sftpTarget } from '../src/index.js';
import type { SftpTargetOptions } from '../src/index.js';
import { rawSession, removeRemoteDir, sftpServer, uniqueDir } from './server.js';
import { unusedPort } from '@cairn/testkit';

const server = sftpServer();
const MiB = 1024 * 1024;

/** Password login, host key checked against the test server's known_hosts file. */
const passwordOptions = (path: string): SftpTargetOptions => ({
  host: server.host,
  port: server.port,
  username: server.user,
  password: server.password,
  path,
  knownHosts: server.knownHosts,
});

describeTargetConformance('sftp', async () => {
  const dir = uniqueDir(`${server.home}/tests`);
  return { target: sftpTarget(passwordOptions(dir)), cleanup: () => removeRemoteDir(server, dir) };
}, {
  behindProxy: async () => {
    const dir = uniqueDir(`${server.home}/tests`);
    const proxy = await startTcpProxy({ host: server.host, port: server.port });
    // Through the proxy the server sits on another port, which known_hosts does not list: pin its fingerprint.
    const target = sftpTarget({ ...passwordOptions(dir), port: proxy.port, knownHosts: undefined, hostFingerprint: server.fingerprint, timeoutMs: 3_000, retries: 2 });
    return { target, proxy, cleanup: () => removeRemoteDir(server, dir) };
  },
});

describe('sftp target', () => {
  let scratch: string;
  const cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'cairn-sftp-'));
  });
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  /** Connects a target, closing it and removing `dir` (as `as`) after the test. */
  async function connected(options: SftpTargetOptions, as?: { username: string; privateKey?: string }): Promise<BlobStore> {
    const store = await sftpTarget(options).connect(pluginContext());
    cleanups.push(async () => {
      await store.close();
      await removeRemoteDir(server, options.path, as);
    });
    return store;
  }

  async function roundTrip(store: BlobStore): Promise<void> {
    const body = await collect(deterministicBytes('login', 300_000));
    await store.put('data/ab/object', body);
    expect((await collect(await store.get('data/ab/object'))).equals(body)).toBe(true);
  }

  /** The error a connect fails with. */
  async function connectError(options: SftpTargetOptions): Promise<TargetError> {
    const error = await sftpTarget(options).connect(pluginContext()).then((store) => store.close().then(() => undefined), (e: unknown) => e);
    expect(error, 'expected the connection to be refused').toBeInstanceOf(TargetError);
    expect((error as Error).message).not.toContain('\n');
    return error as TargetError;
  }

  async function knownHostsFile(text: string): Promise<string> {
    const file = join(scratch, `known_hosts-${Math.random().toString(16).slice(2)}`);
    await writeFile(file, text);
    return file;
  }

  const serverLine = async () => (await readFile(server.knownHosts, 'utf8')).trim();

  describe('logging in', () => {
    it('with a password', async () => {
      await roundTrip(await connected(passwordOptions(uniqueDir(`${server.home}/tests`))));
    });

    it('with a private key', async () => {
      const path = uniqueDir(`${server.keyHome}/tests`);
      const store = await connected({ host: server.host, port: server.port, username: server.keyUser, privateKey: server.key, path, knownHosts: server.knownHosts }, { username: server.keyUser, privateKey: server.key });
      await roundTrip(store);
    });

    it('with a private key protected by a passphrase', async () => {
      const path = uniqueDir(`${server.keyHome}/tests`);
      const options = { host: server.host, port: server.port, username: server.keyUser, privateKey: server.passphraseKey, passphrase: server.keyPassphrase, path, knownHosts: server.knownHosts };
      await roundTrip(await connected(options, { username: server.keyUser, privateKey: server.key }));
    });

    it('refuses an encrypted key without its passphrase, or with a wrong one, saying which', async () => {
      const base = { host: server.host, port: server.port, username: server.keyUser, privateKey: server.passphraseKey, path: `${server.keyHome}/never`, knownHosts: server.knownHosts };
      const missing = await connectError(base);
      expect(missing.code).toBe('TARGET_PERMISSION');
      expect(missing.message).toContain(server.passphraseKey);
      expect(missing.message).toContain('CAIRN_TARGET_KEY_PASSPHRASE');
      const wrong = await connectError({ ...base, passphrase: 'not-the-passphrase' });
      expect(wrong.code).toBe('TARGET_PERMISSION');
      expect(wrong.message).toMatch(/passphrase is wrong/);
      expect(wrong.message).not.toContain('not-the-passphrase');
    });

    it('refuses a wrong password at once, naming the user and host but not the password', async () => {
      const error = await connectError({ ...passwordOptions(`${server.home}/never`), password: 'wrong-password-123' });
      expect(error.code).toBe('TARGET_PERMISSION');
      expect(error.plugin).toBe('sftp');
      expect(error.message).toContain(`"${server.user}"`);
      expect(error.message).toContain(`${server.host}:${server.port}`);
      expect(error.message).toMatch(/authentication .* failed/);
      expect(error.message).not.toContain('wrong-password-123');
    });

    it('refuses a key the server does not accept for the user', async () => {
      const error = await connectError({ host: server.host, port: server.port, username: server.user, privateKey: server.key, path: `${server.home}/never`, knownHosts: server.knownHosts });
      expect(error.code).toBe('TARGET_PERMISSION');
      expect(error.message).toContain('authorized_keys');
    });

    it('reports a key file that cannot be read', async () => {
      const error = await connectError({ ...passwordOptions(`${server.home}/never`), password: undefined, privateKey: join(scratch, 'no-such-key') });
      expect(error.code).toBe('TARGET_PERMISSION');
      expect(error.message).toContain('no-such-key');
    });
  });

  describe('host key', () => {
    it('is accepted when known_hosts lists it, under a hashed name too', async () => {
      await roundTrip(await connected(passwordOptions(uniqueDir(`${server.home}/tests`))));
      const [, type, key] = (await serverLine()).split(/\s+/);
      const salt = Buffer.from('cairn-test-salt-0000');
      const name = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(`[${server.host}]:${server.port}`).digest('base64')}`;
      const file = await knownHostsFile(`other.example.org ${type} ${key}\n${name} ${type} ${key}\n`);
      await roundTrip(await connected({ ...passwordOptions(uniqueDir(`${server.home}/tests`)), knownHosts: file }));
    });

    it('is accepted when it matches the pinned fingerprint, whatever known_hosts says', async () => {
      const empty = await knownHostsFile('');
      await roundTrip(await connected({ ...passwordOptions(uniqueDir(`${server.home}/tests`)), knownHosts: empty, hostFingerprint: server.fingerprint }));
    });

    it('is refused when unknown, with its fingerprint and how to add it', async () => {
      const empty = await knownHostsFile('# nothing yet\n');
      const error = await connectError({ ...passwordOptions(`${server.home}/never`), knownHosts: empty });
      expect(error.code).toBe('TARGET_PERMISSION');
      expect(error.message).toContain(`host key of ${server.host}:${server.port} is not in ${empty}`);
      expect(error.message).toContain(`its fingerprint is ${server.fingerprint}`);
      expect(error.message).toContain(`ssh-keyscan -p ${server.port} ${server.host} >> ${empty}`);
      expect(error.message).toContain(`fingerprint=${server.fingerprint}`);
    });

    it('is refused when the known_hosts file does not exist', async () => {
      const missing = join(scratch, 'no-known-hosts');
      const error = await connectError({ ...passwordOptions(`${server.home}/never`), knownHosts: missing });
      expect(error.code).toBe('TARGET_PERMISSION');
      expect(error.message).toContain(`is not in ${missing} (the file does not exist)`);
    });

    it('is refused as CHANGED when known_hosts holds another key of that type for the host', async () => {
      const other = ssh2.utils.generateKeyPairSync('ed25519').public.split(' ').slice(0, 2).join(' ');
      const file = await knownHostsFile(`[${server.host}]:${server.port} ${other}\n`);
      const error = await connectError({ ...passwordOptions(`${server.home}/never`), knownHosts: file });
      expect(error.code).toBe('TARGET_PERMISSION');
      expect(error.message).toContain(`host key of ${server.host}:${server.port} has CHANGED`);
      expect(error.message).toContain(`${file} line 1`);
      expect(error.message).toContain('man-in-the-middle');
      expect(error.message).toContain(server.fingerprint);
    });

    it('is refused when marked @revoked', async () => {
      const line = await serverLine();
      const file = await knownHostsFile(`${line}\n@revoked * ${line.split(/\s+/).slice(1, 3).join(' ')}\n`);
      const error = await connectError({ ...passwordOptions(`${server.home}/never`), knownHosts: file });
      expect(error.code).toBe('TARGET_PERMISSION');
      expect(error.message).toContain('@revoked');
    });

    it('is refused when it does not match the pinned fingerprint', async () => {
      const wrong = 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
      const error = await connectError({ ...passwordOptions(`${server.home}/never`), hostFingerprint: wrong });
      expect(error.code).toBe('TARGET_PERMISSION');
      expect(error.message).toContain(`does not match the pinned fingerprint ${wrong}`);
      expect(error.message).toContain(`the server presented ${server.fingerprint}`);
    });

    it('is not checked when the user opts out explicitly', async () => {
      const empty = await knownHostsFile('');
      await roundTrip(await connected({ ...passwordOptions(uniqueDir(`${server.home}/tests`)), knownHosts: empty, insecureSkipHostKeyCheck: true }));
    });
  });

  describe('server-side failures', () => {
    it('reports TARGET_PERMISSION for a directory the user may not write to, and TARGET_NOT_FOUND when reading there', async () => {
      const store = await sftpTarget(passwordOptions(`${server.readonlyDir}/repo`)).connect(pluginContext());
      cleanups.push(() => store.close());
      const error = await store.put('config', new Uint8Array([1])).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(TargetError);
      expect((error as TargetError).code).toBe('TARGET_PERMISSION');
      expect((error as Error).message).toContain(`${server.readonlyDir}/repo`);
      await expect(store.get('config')).rejects.toMatchObject({ code: 'TARGET_NOT_FOUND' });
      expect(await store.stat('config')).toBeUndefined();
    });

    it('reports a full disk as TARGET_IO "no space left", and leaves no partial file behind', async () => {
      const dir = uniqueDir(server.smallDir);
      const store = await connected(passwordOptions(dir));
      const body = Array.from({ length: 12 }, (_, i) => deterministicBytes(`full-${i}`, MiB)).map((part) => collect(part));
      const error = await store.put('big', await Promise.all(body)).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(TargetError);
      expect((error as TargetError).code).toBe('TARGET_IO');
      expect((error as Error).message).toMatch(/no space left on .* writing .*big/);
      const session = await rawSession(server);
      try {
        expect((await session.list(dir)).map((entry) => entry.name)).toEqual([]);
      } finally {
        await session.end();
      }
      // The space came back: a small object fits again.
      await store.put('small', new Uint8Array(1000));
      expect(await store.stat('small')).toEqual({ key: 'small', size: 1000 });
    });

    it('fails with TARGET_UNAVAILABLE when nothing listens on the port, after its retries', async () => {
      const port = await unusedPort();
      const error = await connectError({ ...passwordOptions(`${server.home}/never`), port, timeoutMs: 2_000, retries: 1 });
      expect(error.code).toBe('TARGET_UNAVAILABLE');
      expect(error.message).toContain(`${server.host}:${port} (connection refused)`);
    });

    it('fails with TARGET_UNAVAILABLE when the server stops answering, within the timeout', async () => {
      const silent = createServer(() => undefined); // accepts, then never says a word
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      cleanups.push(async () => {
        silent.close();
      });
      const port = (silent.address() as { port: number }).port;
      const error = await connectError({ ...passwordOptions(`${server.home}/never`), port, timeoutMs: 500, retries: 0 });
      expect(error.code).toBe('TARGET_UNAVAILABLE');
    });
  });

  describe('objects on the server', () => {
    it('are plain files under the directory, key segments as folders, with no temporary files left', async () => {
      const dir = uniqueDir(`${server.home}/tests`);
      const store = await connected(passwordOptions(dir));
      await store.put('data/ab/cdef', new Uint8Array([1, 2, 3]));
      await store.put('data/ab/cdef', new Uint8Array([4, 5]));
      const session = await rawSession(server);
      try {
        expect((await session.list(`${dir}/data/ab`)).map((entry) => [entry.name, entry.size])).toEqual([['cdef', 2]]);
      } finally {
        await session.end();
      }
    });

    it('are listed without temporary uploads; those older than a day are removed while listing', async () => {
      const dir = uniqueDir(`${server.home}/tests`);
      const store = await connected(passwordOptions(dir));
      await store.put('data/complete', new Uint8Array([1]));
      const session = await rawSession(server);
      try {
        await session.put(Buffer.from('killed writer'), `${dir}/data/old.tmp-0123456789ab`);
        await session.put(Buffer.from('maybe in progress'), `${dir}/data/new.tmp-0123456789ab`);
        const twoDaysAgo = Math.floor((Date.now() - 2 * 86_400_000) / 1000);
        // The types describe ssh2-sftp-client v9, which had no live `sftp` session property; v12 has it.
        const { sftp } = session as unknown as { sftp: import('ssh2').SFTPWrapper };
        await new Promise<void>((resolve, reject) => sftp.utimes(`${dir}/data/old.tmp-0123456789ab`, twoDaysAgo, twoDaysAgo, (e) => (e ? reject(e) : resolve())));
        const keys: string[] = [];
        for await (const info of store.list('')) keys.push(info.key);
        expect(keys).toEqual(['data/complete']);
        expect((await session.list(`${dir}/data`)).map((entry) => entry.name).sort()).toEqual(['complete', 'new.tmp-0123456789ab']);
      } finally {
        await session.end();
      }
    });

    it('read through range requests give exactly the bytes asked for', async () => {
      const store = await connected(passwordOptions(uniqueDir(`${server.home}/tests`)));
      await store.put('r', new TextEncoder().encode('0123456789'));
      expect((await collect(await store.get('r', { range: { offset: 3, length: 4 } }))).toString()).toBe('3456');
      expect((await collect(await store.get('r', { range: { offset: 8, length: 5 } }))).toString()).toBe('89');
    });

    it('spread work over no more connections than asked for, and close them all', async () => {
      const store = await connected({ ...passwordOptions(uniqueDir(`${server.home}/tests`)), connections: 2 });
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.put(`p/${i}`, new Uint8Array(100_000).fill(i))));
      const listed: string[] = [];
      for await (const info of store.list('p/')) listed.push(info.key);
      expect(listed.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `p/${i}`).sort());
    });
  });

  describe('options and URLs', () => {
    const parse = (url: string, env: Record<string, string> = {}) => sftpTarget.urls!.parse(url, env);

    it('parses user, password, host, port and an absolute path, percent-decoded', () => {
      expect(parse('sftp://ann:p%40ss%2Fw0rd@backup.example.org:2200/srv/my%20backups')).toEqual({
        host: 'backup.example.org', port: 2200, username: 'ann', password: 'p@ss/w0rd', path: '/srv/my backups',
      });
      expect(parse('sftp://ann@[::1]/srv/b')).toEqual({ host: '::1', username: 'ann', path: '/srv/b' });
      expect(sftpTarget.urls!.schemes).toEqual(['sftp']);
    });

    it('takes the password from CAIRN_TARGET_PASSWORD and the passphrase from CAIRN_TARGET_KEY_PASSPHRASE', () => {
      expect(parse('sftp://ann@host/b', { CAIRN_TARGET_PASSWORD: 'from-env', CAIRN_TARGET_KEY_PASSPHRASE: 'phrase' })).toMatchObject({ password: 'from-env', passphrase: 'phrase' });
      expect(parse('sftp://ann:in-url@host/b', { CAIRN_TARGET_PASSWORD: 'from-env' })).toMatchObject({ password: 'in-url' });
    });

    it('reads the key and host-key options from the query', () => {
      expect(parse('sftp://ann@host/b?key=/home/ann/.ssh/id_ed25519&known_hosts=/etc/ssh/known&fingerprint=SHA256:abc&insecure_skip_host_key_check=1&connections=8')).toEqual({
        host: 'host', username: 'ann', path: '/b', privateKey: '/home/ann/.ssh/id_ed25519', knownHosts: '/etc/ssh/known', hostFingerprint: 'SHA256:abc', insecureSkipHostKeyCheck: true, connections: 8,
      });
    });

    it('refuses secrets in the query, unknown parameters, and URLs without user or path, never quoting the URL', () => {
      for (const [url, message] of [
        ['sftp://ann@host/b?passphrase=hunter2', /CAIRN_TARGET_KEY_PASSPHRASE/],
        ['sftp://ann@host/b?password=hunter2', /CAIRN_TARGET_PASSWORD/],
        ['sftp://ann@host/b?keyfile=x', /unknown parameter "keyfile"/],
        ['sftp://host/b', /no user name/],
        ['sftp://ann:hunter2@host', /no path/],
        ['sftp://ann@host/b?insecure_skip_host_key_check=maybe', /must be 1 or 0/],
      ] as const) {
        const error = (() => {
          try {
            parse(url);
          } catch (e) {
            return e;
          }
          return undefined;
        })();
        expect(error, url).toBeInstanceOf(ConfigError);
        expect((error as Error).message, url).toMatch(message);
        expect((error as Error).message, url).not.toContain('hunter2');
      }
    });

    it('shows a location without the password', () => {
      const target = sftpTarget(parse('sftp://ann:hunter2@host:2222/srv/b'));
      expect(target.location).toBe('sftp://ann@host:2222/srv/b');
      expect(sftpTarget({ host: 'h', username: 'u', password: 'p', path: '/x' }).location).toBe('sftp://u@h:22/x');
    });

    it('rejects invalid options with a ConfigError naming the plugin and the field', () => {
      expect(() => sftpTarget({ host: 'h', username: 'u', password: 'p', path: 'relative' })).toThrow(/\[sftp\] invalid options: path: expected an absolute path/);
      expect(() => sftpTarget({ host: 'h', username: 'u', path: '/x' })).toThrow(/password: give a password/);
      expect(() => sftpTarget({ host: 'h', username: 'u', password: 'p', path: '/x', port: 70_000 })).toThrow(/port/);
      expect(() => sftpTarget({ host: 'h', username: 'u', password: 'p', path: '/x', hostFingerprint: 'MD5:aa:bb' })).toThrow(/hostFingerprint/);
    });
  });
});

