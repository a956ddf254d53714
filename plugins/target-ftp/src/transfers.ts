import { Readable, Writable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { AbortedError, CairnError, TargetError, bodyParts } from '@cairn/core';
import type { PutBody } from '@cairn/core';
import { FTPError } from 'basic-ftp';
import type { Client } from 'basic-ftp';

/**
 * STOR `body` to `remotePath` on `client`. Resolves once the server confirmed the whole file
 * (226) and the data connection delivered every byte. A failure of the body itself comes back as
 * that error (a CairnError as it is, anything else as TARGET_IO), never as a network failure.
 * After any failure the connection is in an unknown state and must be discarded.
 */
export async function upload(client: Client, body: PutBody, remotePath: string, signal: AbortSignal | undefined): Promise<void> {
  const watch = watchUpload(client);
  let bodyFailure: { error: unknown } | undefined;
  const parts = (async function* () {
    for await (const part of bodyParts(body)) {
      if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
      if (part.byteLength > 0) yield part;
    }
  })();
  let pumping = false;
  const source = new Readable({
    highWaterMark: 1024 * 1024,
    read() {
      if (pumping) return;
      pumping = true;
      void (async () => {
        try {
          for (;;) {
            const next = await parts.next();
            if (next.done) {
              await watch.sessionSettled();
              this.push(null);
              return;
            }
            if (!this.push(next.value)) return;
          }
        } catch (error) {
          bodyFailure = { error };
          this.destroy(error as Error);
        } finally {
          pumping = false;
        }
      })();
    },
    destroy(error, callback) {
      void parts.return(undefined).catch(() => undefined);
      // The transfer's own failure (the data connection broke) reaches basic-ftp through the
      // pipeline; passed on here as well, it would make basic-ftp close the control connection
      // before the server could say why (see watchUpload). The body's failure and an abort are ours.
      callback(bodyFailure || error instanceof AbortedError ? error : null);
    },
  });
  const onAbort = () => source.destroy(new AbortedError(undefined, { cause: signal?.reason }));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.uploadFrom(source, remotePath);
  } catch (error) {
    if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
    if (bodyFailure) throw bodyError(bodyFailure.error, remotePath);
    if (!(error instanceof FTPError)) {
      const reply = await watch.lateReply();
      if (reply) throw new FTPError(reply);
    }
    throw error;
  } finally {
    watch.stop();
    signal?.removeEventListener('abort', onAbort);
    source.destroy();
  }
}

/** How long a failed upload waits for the server to say why, before it counts as a lost connection. */
const LATE_REPLY_MS = 2000;
/** How long the end of an upload waits for the server's TLS 1.3 session ticket on the data connection. */
const TICKET_WAIT_MS = 1000;

/**
 * Two quirks of FTPS servers, vsftpd among them, that an upload works around:
 *
 * - A server that gives up on an upload (vsftpd when its disk is full) closes the data connection
 *   and then sends its reason (451) on the control connection. Our next write meets the closed
 *   socket first, and basic-ftp would close the control connection on that data-socket error,
 *   losing the reason. So the data socket's errors are left to the transfer alone (which fails on
 *   them anyway), and the control connection is watched for a reply that comes afterwards.
 * - Under TLS 1.3 the server sends session tickets just after the handshake. A short (or empty)
 *   upload that closes the data connection before they arrive makes vsftpd fail the transfer and
 *   break the control connection, so the end of the body waits for them (briefly).
 */
function watchUpload(client: Client): {
  sessionSettled(): Promise<void>;
  lateReply(): Promise<{ code: number; message: string } | undefined>;
  stop(): void;
} {
  const control = client.ftp.socket;
  let text = '';
  const onText = (chunk: string | Buffer) => void (text += String(chunk));
  control.on('data', onText);
  let data: TLSSocket | undefined;
  let ticket = false;
  const probe = client.prepareTransfer;
  const wrapper: typeof probe = async (ftp) => {
    const response = await probe(ftp);
    const socket = ftp.dataSocket;
    if (socket) {
      // basic-ftp's handlers are the last ones added; Node's own (TLS) ones must stay.
      for (const event of ['error', 'close'] as const) {
        const handler = socket.listeners(event).at(-1);
        if (handler) socket.off(event, handler as (...args: unknown[]) => void);
      }
      socket.on('error', () => undefined);
      if (socket instanceof TLSSocket) {
        data = socket;
        socket.once('session', () => void (ticket = true));
      }
    }
    return response;
  };
  client.prepareTransfer = wrapper;
  const replyLine = () => {
    const line = /^([45]\d\d) [^\r\n]*/m.exec(text);
    return line ? { code: Number(line[1]), message: line[0] } : undefined;
  };
  return {
    async sessionSettled() {
      const socket = data;
      if (!socket || ticket || socket.destroyed || socket.getProtocol() === 'TLSv1.2') return;
      await firstEvent(socket, ['session', 'close'], TICKET_WAIT_MS);
    },
    async lateReply() {
      if (!replyLine() && !control.destroyed) await firstEvent(control, ['close'], LATE_REPLY_MS, () => replyLine() !== undefined);
      return replyLine();
    },
    stop() {
      control.off('data', onText);
      // The first transfer may have replaced the strategy with the one that worked: keep that.
      if (client.prepareTransfer === wrapper) client.prepareTransfer = probe;
    },
  };
}

/**
 * Resolves on the first of `events`, on data that satisfies `until`, or after `ms`. It resolves
 * in a later turn of the event loop: TLS emits `session` from inside OpenSSL's read, and writing
 * to the socket (ending it) before that read returns corrupts the connection.
 */
function firstEvent(emitter: NodeJS.EventEmitter, events: string[], ms: number, until?: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      for (const event of events) emitter.off(event, done);
      emitter.off('data', check);
      setImmediate(resolve);
    };
    const check = () => void (until?.() && done());
    const timer = setTimeout(done, ms);
    for (const event of events) emitter.on(event, done);
    if (until) emitter.on('data', check);
  });
}

function bodyError(error: unknown, remotePath: string): Error {
  if (error instanceof CairnError) return error;
  const why = error instanceof Error ? error.message : String(error);
  return new TargetError('TARGET_IO', `the data for ${remotePath} failed while uploading it: ${why}`, { plugin: 'ftp', cause: error });
}

/**
 * One RETR, read range by range. FTP cannot stop a RETR mid-way and keep the control connection
 * in a known state (ABOR replies race with the next command), so a transfer that is not read to
 * its 226 is cut and its connection dropped, which costs a new login. Reading the next range on
 * from where the last one stopped, instead of a new RETR, keeps the connection.
 */
export class Retrieval {
  /** Where the next byte read comes from. */
  position: number;
  private readonly queue: Buffer[] = [];
  private ack: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private outcome: { error?: unknown } | undefined;
  private readonly sink: Writable;
  private readonly transfer: Promise<void>;

  /** RETR (after REST `from`) `remotePath`, a file of `size` bytes, on `client`; bytes wait, with back-pressure, until read. */
  constructor(readonly client: Client, readonly remotePath: string, from: number, readonly size: number) {
    this.position = from;
    this.sink = new Writable({
      highWaterMark: 1024 * 1024,
      write: (chunk: Buffer, _encoding, callback) => {
        // Acknowledged only when taken: the data socket pauses while no range is being read.
        this.queue.push(chunk);
        this.ack = () => callback();
        this.wake?.();
      },
    });
    this.sink.on('error', () => undefined); // our own destroy() below; the transfer reports the failure
    this.transfer = client.downloadTo(this.sink, remotePath, from).then(
      () => this.settle({}),
      (error: unknown) => this.settle({ error }),
    );
  }

  /** Yields the bytes up to `to` as they arrive; rejects when the transfer fails or ends before. */
  async *read(to: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
    const onAbort = () => this.sink.destroy(new AbortedError(undefined, { cause: signal?.reason }));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (this.position < to) {
        const chunk = await this.next();
        if (!chunk) break;
        const room = to - this.position;
        // The rest of a chunk that crosses `to` stays first in line for the next range.
        if (chunk.length > room) this.queue.unshift(chunk.subarray(room));
        const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
        this.position += piece.length;
        yield piece;
      }
      if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
      if (this.position < to) {
        if (this.outcome?.error !== undefined) throw this.outcome.error;
        throw new TargetError('TARGET_IO', `${this.remotePath} ended after ${this.position} of ${this.size} bytes: it changed while being read`, { plugin: 'ftp' });
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Reads the rest of the file and the server's 226; true when that left the connection reusable. */
  async finish(): Promise<boolean> {
    while (await this.next());
    await this.transfer;
    return this.outcome?.error === undefined;
  }

  /** Stops the transfer: the connection is then in an unknown state and must be discarded. */
  async cut(): Promise<void> {
    if (!this.outcome) this.sink.destroy(new Error('range complete'));
    this.ack?.();
    await this.transfer;
  }

  private settle(outcome: { error?: unknown }): void {
    this.outcome = outcome;
    this.wake?.();
  }

  private async next(): Promise<Buffer | undefined> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk) {
        const take = this.ack;
        this.ack = undefined;
        take?.();
        return chunk;
      }
      if (this.outcome) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}
