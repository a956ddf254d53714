import { AbortedError, TargetError, bodyParts } from '@cairn/core';
import type { PutBody } from '@cairn/core';
import type { SftpConnection } from './connection.js';

/** Bytes of WRITE requests awaiting the server's answer at once: enough to keep a fast link busy. */
const MAX_IN_FLIGHT_BYTES = 8 * 1024 * 1024;

/**
 * Sends `body` to an open remote file, many WRITE requests in flight at once (ssh2's write stream
 * waits for each answer before the next, which caps a transfer at one buffer per round trip).
 * ssh2 copies each request into its own buffer at once, so the caller's parts are not kept.
 * Fails when the server has answered none of the pending requests within `idleMs`, dropping the
 * connection; waiting for the body's producer does not count.
 */
export async function writeBody(connection: SftpConnection, handle: Buffer, body: PutBody, options: { signal?: AbortSignal | undefined; idleMs: number; what: string }): Promise<number> {
  const { sftp } = connection;
  const maxPiece = connection.maxWriteLength;
  let position = 0;
  let inFlightBytes = 0;
  let inFlight = 0;
  let failure: unknown;
  let wake: (() => void) | undefined;

  /** Resolves at the next answer; rejects on abort or when answers stop coming. */
  const progress = () =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        options.signal?.removeEventListener('abort', onAbort);
        connection.destroy();
        reject(new TargetError('TARGET_UNAVAILABLE', `${options.what}: no answer within ${options.idleMs / 1000} s`, { plugin: 'sftp' }));
      }, options.idleMs);
      const onAbort = () => {
        clearTimeout(timer);
        reject(new AbortedError(undefined, { cause: options.signal?.reason }));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      wake = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        wake = undefined;
        resolve();
      };
    });

  const send = (piece: Buffer) => {
    inFlight++;
    inFlightBytes += piece.length;
    const done = (error?: unknown) => {
      inFlight--;
      inFlightBytes -= piece.length;
      if (error && failure === undefined) failure = error;
      wake?.();
    };
    try {
      sftp.write(handle, piece, 0, piece.length, position, (error) => done(error ?? undefined));
    } catch (error) {
      done(error); // the channel closed under us
    }
    position += piece.length;
  };

  for await (const part of bodyParts(body)) {
    if (options.signal?.aborted) throw new AbortedError(undefined, { cause: options.signal.reason });
    if (failure !== undefined) throw failure;
    const buffer = Buffer.from(part.buffer, part.byteOffset, part.byteLength);
    for (let offset = 0; offset < buffer.length; offset += maxPiece) {
      while (inFlightBytes >= MAX_IN_FLIGHT_BYTES && failure === undefined) await progress();
      if (failure !== undefined) throw failure;
      send(buffer.subarray(offset, Math.min(offset + maxPiece, buffer.length)));
    }
  }
  while (inFlight > 0 && failure === undefined) await progress();
  if (failure !== undefined) throw failure;
  return position;
}
