import { createCipheriv, createDecipheriv, createHash, createHmac, createSecretKey, randomBytes, scrypt, type KeyObject } from 'node:crypto';
import { RepositoryError } from './errors.js';

/**
 * Authenticated encryption for everything stored: AES-256-GCM with a random 96-bit nonce.
 * An envelope is `nonce (12) ‖ ciphertext ‖ tag (16)`; it is self-contained, so packs can be
 * rewritten by copying envelopes without decrypting them.
 */
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const ENVELOPE_OVERHEAD = NONCE_BYTES + TAG_BYTES;

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

/** Encrypts the concatenation of `parts` (passing parts avoids copying a header onto a large body). */
/** Node re-imports a raw key on every call; a KeyObject made once per key saves that on every blob. */
const keyObjects = new WeakMap<Buffer, KeyObject>();
function keyObject(key: Buffer): KeyObject {
  let object = keyObjects.get(key);
  if (!object) keyObjects.set(key, (object = createSecretKey(key)));
  return object;
}

export function seal(key: Buffer, ...parts: Uint8Array[]): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyObject(key), nonce);
  const bodies = parts.map((part) => cipher.update(part));
  cipher.final();
  return Buffer.concat([nonce, ...bodies, cipher.getAuthTag()]);
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

/** A blob's id: HMAC-SHA-256 of its plaintext under the repository's id key, as 64 hex digits. */
export function blobId(idKey: Buffer, data: Uint8Array): string {
  return createHmac('sha256', keyObject(idKey)).update(data).digest('hex');
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
