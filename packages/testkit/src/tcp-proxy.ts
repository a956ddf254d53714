import { createConnection, createServer } from 'node:net';
import type { Socket } from 'node:net';

export interface TcpProxy {
  /** The loopback port to connect to instead of the server's. */
  readonly port: number;
  /** Bytes passed so far, both directions. */
  readonly bytes: number;
  /** Destroys every open connection at once, as a dropped network would; new ones are still accepted. */
  cut(): void;
  /** Refuses (resets) new connections until `resume()`, as a stopped server would. */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay on 127.0.0.1 in front of a real server, so a test can drop a target's connections
 * mid-transfer or make the server unreachable for a while, without stopping the shared server.
 */
export async function startTcpProxy(upstream: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let bytes = 0;
  let paused = false;
  // Half-open connections stay open, so a peer's FIN travels through without cutting the reply.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    if (paused) {
      client.resetAndDestroy();
      return;
    }
    const remote = createConnection({ ...upstream, allowHalfOpen: true });
    open.add(client).add(remote);
    const count = (chunk: Buffer) => void (bytes += chunk.length);
    client.on('data', count);
    remote.on('data', count);
    client.pipe(remote);
    remote.pipe(client);
    const drop = () => {
      open.delete(client);
      open.delete(remote);
      client.destroy();
      remote.destroy();
    };
    client.on('error', drop).on('close', drop);
    remote.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address');
  const cutAll = () => {
    for (const socket of open) socket.resetAndDestroy();
    open.clear();
  };
  return {
    port: address.port,
    get bytes() {
      return bytes;
    },
    cut: cutAll,
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
    },
    async close() {
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
