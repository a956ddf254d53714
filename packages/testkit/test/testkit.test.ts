import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { collect, deterministicBytes, describeTargetConformance, digest, hashing, memoryTarget } from '../src/index.js';

// The suite checks itself against the reference in-memory target (small "large" object: it is held in memory).
describeTargetConformance('memory', async () => ({ target: memoryTarget({ name: randomUUID() }) }), { largeObjectMiB: 8 });

describe('memory target', () => {
  it('shares objects between connections to the same name only', async () => {
    const name = randomUUID();
    const ctx = { signal: new AbortController().signal, logger: console };
    await (await memoryTarget({ name }).connect(ctx)).put('k', new Uint8Array([1, 2]));
    expect(await (await memoryTarget({ name }).connect(ctx)).stat('k')).toEqual({ key: 'k', size: 2 });
    expect(await (await memoryTarget({ name: randomUUID() }).connect(ctx)).stat('k')).toBeUndefined();
  });
});

describe('test data helpers', () => {
  it('generates the same bytes for the same seed, whatever the piece size', async () => {
    const a = await collect(deterministicBytes('seed', 100_000, 4096));
    const b = await collect(deterministicBytes('seed', 100_000, 65536));
    expect(a.length).toBe(100_000);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(await collect(deterministicBytes('other', 100_000)))).toBe(false);
  });

  it('hashes a stream while passing it through', async () => {
    const pass = hashing(deterministicBytes('h', 12_345));
    const through = await collect(pass.body);
    expect(pass.result()).toEqual(await digest(deterministicBytes('h', 12_345)));
    expect(pass.result().size).toBe(through.length);
  });
});

describe('startTcpProxy', () => {
  const echoServer = async () => {
    const { createServer } = await import('node:net');
    const server = createServer((socket) => socket.on('error', () => undefined).pipe(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, port: (server.address() as { port: number }).port };
  };
  const exchange = async (port: number, text: string) => {
    const { connect } = await import('node:net');
    return new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(text));
      let got = '';
      socket.on('data', (d) => (got += d)).on('end', () => resolve(got)).on('error', reject);
    });
  };

  it('relays both ways, cuts open connections, and refuses new ones while paused', async () => {
    const { startTcpProxy } = await import('../src/index.js');
    const { connect } = await import('node:net');
    const echo = await echoServer();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: echo.port });
    try {
      expect(await exchange(proxy.port, 'hello')).toBe('hello');
      expect(proxy.bytes).toBe(10);

      const open = connect(proxy.port, '127.0.0.1');
      await new Promise((resolve) => open.once('connect', resolve));
      const closed = new Promise((resolve) => open.once('close', resolve));
      open.on('error', () => undefined);
      await new Promise((resolve) => setTimeout(resolve, 20)); // let the proxy dial the server
      proxy.cut();
      await closed;

      proxy.pause();
      await expect(exchange(proxy.port, 'x')).rejects.toMatchObject({ code: 'ECONNRESET' });
      proxy.resume();
      expect(await exchange(proxy.port, 'back')).toBe('back');
    } finally {
      await proxy.close();
      echo.server.close();
    }
  });
});
