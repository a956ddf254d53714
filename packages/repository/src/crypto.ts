import { createCipheriv, createDecipheriv, createHash, createHmac, createSecretKey, randomBytes, scrypt, type KeyObject } from 'node:crypto';
import { RepositoryError } from './errors.js';

/**
 * Authenticated encryption for everything stored: AES-256-GCM with a random 96-bit nonce.
 * An envelope is `nonce (12) ‖ ciphertext ‖ tag (16)`; it is self-contained, so packs can be
 * rewritten by copying envelopes without decrypting them.
 */
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const ENVELOPE_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/** The secrets a password unlocks. Data is never encrypted with the password itself, so changing it rewrites one small key file. */
export interface MasterKeys {
  /** AES-256-GCM key for every object and blob. */
  encryption: Buffer;
  /** HMAC-SHA-256 key that names blobs, so their ids reveal nothing about their content. */
  id: Buffer;
  /** Seeds the chunker's gear table, so chunk boundaries cannot be used to fingerprint files. */
  chunker: Buffer;
}

export function generateMasterKeys(): MasterKeys {
  return { encryption: randomBytes(32), id: randomBytes(32), chunker: randomBytes(32) };
}

/** Node re-imports a raw key on every call; a KeyObject made once per key saves that on every blob. */
const keyObjects = new WeakMap<Buffer, KeyObject>();
function keyObject(key: Buffer): KeyObject {
  let object = keyObjects.get(key);
  if (!object) keyObjects.set(key, (object = createSecretKey(key)));
  return object;
}

/** Encrypts the concatenation of `parts` (passing parts avoids copying a header onto a large body). */
export function seal(key: Buffer, ...parts: Uint8Array[]): Buffer {
  let length = ENVELOPE_OVERHEAD;
  for (const part of parts) length += part.length;
  const envelope = Buffer.allocUnsafe(length);
  sealInto(key, envelope, 0, ...parts);
  return envelope;
}

/**
 * The cipher is fed at most this much at a time. Each update() returns its ciphertext in a new
 * buffer, garbage once copied into the pack; with 256 KiB pieces rather than whole chunks of
 * 1–8 MiB, first backups of the bench dataset peaked lower at the same speed (5 sets of 4–7
 * interleaved runs: the highest peak of each set 293–312 MiB against 304–338 MiB).
 */
const CIPHER_PIECE = 256 * 1024;

/**
 * Encrypts the concatenation of `parts` into `target` at `offset`, which must have room for their
 * length plus 28 bytes, and returns the envelope's length: a blob is sealed straight into its pack.
 */
export function sealInto(key: Buffer, target: Uint8Array, offset: number, ...parts: Uint8Array[]): number {
  const nonce = randomBytes(NONCE_BYTES);
  target.set(nonce, offset);
  let at = offset + NONCE_BYTES;
  const cipher = createCipheriv('aes-256-gcm', keyObject(key), nonce);
  for (const part of parts) {
    for (let from = 0; from < part.length; from += CIPHER_PIECE) {
      const ciphertext = cipher.update(part.subarray(from, from + CIPHER_PIECE));
      target.set(ciphertext, at);
      at += ciphertext.length;
    }
  }
  // GCM yields all ciphertext from update(); final() only completes the tag.
  cipher.final();
  target.set(cipher.getAuthTag(), at);
  return at + TAG_BYTES - offset;
}

/** Decrypts and authenticates an envelope; tampering or a wrong key throws REPO_CORRUPT (the caller may refine it). */
export function unseal(key: Buffer, envelope: Uint8Array, what: string): Buffer {
  if (envelope.length < ENVELOPE_OVERHEAD) throw new RepositoryError('REPO_CORRUPT', `${what} is truncated`);
  const nonce = envelope.subarray(0, NONCE_BYTES);
  const tag = envelope.subarray(envelope.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', keyObject(key), nonce);
  decipher.setAuthTag(tag);
  try {
    const body = decipher.update(envelope.subarray(NONCE_BYTES, envelope.length - TAG_BYTES));
    decipher.final();
    return body;
  } catch (cause) {
    throw new RepositoryError('REPO_CORRUPT', `${what} failed authentication: it is damaged or was tampered with`, { cause });
  }
}

/** A blob's id: HMAC-SHA-256 of its plaintext (the concatenation of `parts`) under the repository's id key, as 64 hex digits. */
export function blobId(idKey: Buffer, ...parts: Uint8Array[]): string {
  const hmac = createHmac('sha256', keyObject(idKey));
  for (const part of parts) hmac.update(part);
  return hmac.digest('hex');
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

export function deriveKey(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, 32, { ...params, maxmem: 256 * params.N * params.r + (1 << 20) }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}
