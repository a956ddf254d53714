import { hostname, userInfo } from 'node:os';
import { randomBytes } from 'node:crypto';
import { readAll, type BlobStore } from './blob-store.js';
import { DEFAULT_SCRYPT, deriveKey, seal, sha256Hex, unseal, type MasterKeys, type ScryptParams } from './crypto.js';
import { RepositoryError } from './errors.js';
import { KEYS_PREFIX } from './layout.js';
import { listKeys } from './objects.js';

/**
 * A key file holds the master keys sealed under a key derived from one password with scrypt.
 * Key files are the only plaintext JSON in a repository, and reveal only KDF parameters.
 * Several may exist (one per password); changing the password adds one and removes another.
 */
interface KeyFile {
  version: 1;
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  created: string;
  host: string;
  username: string;
  data: string;
}

export async function writeKeyFile(store: BlobStore, password: string, keys: MasterKeys, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(32);
  const wrapping = await deriveKey(password, salt, params);
  const secret = Buffer.from(JSON.stringify({
    encryption: keys.encryption.toString('base64'),
    id: keys.id.toString('base64'),
    chunker: keys.chunker.toString('base64'),
  }));
  const file: KeyFile = {
    version: 1,
    kdf: 'scrypt',
    ...params,
    salt: salt.toString('base64'),
    created: new Date().toISOString(),
    host: hostname(),
    username: safeUsername(),
    data: seal(wrapping, secret).toString('base64'),
  };
  const bytes = Buffer.from(JSON.stringify(file, null, 2));
  const id = sha256Hex(bytes);
  await store.put(KEYS_PREFIX + id, bytes);
  return id;
}

/** Tries the password on every key file; returns the master keys and which key file opened them. */
export async function openWithPassword(store: BlobStore, password: string): Promise<{ keys: MasterKeys; keyId: string }> {
  const keyNames = await listKeys(store, KEYS_PREFIX);
  if (keyNames.length === 0) throw new RepositoryError('REPO_CORRUPT', 'the repository has no key files; it cannot be opened');
  for (const name of keyNames) {
    const file = parseKeyFile(await readAll(await store.get(name)), name);
    const wrapping = await deriveKey(password, Buffer.from(file.salt, 'base64'), { N: file.N, r: file.r, p: file.p });
    let secret: Buffer;
    try {
      secret = unseal(wrapping, Buffer.from(file.data, 'base64'), `key ${name}`);
    } catch {
      continue; // not this password's key file; authentication failure is the expected answer
    }
    const parsed = JSON.parse(secret.toString('utf8')) as Record<'encryption' | 'id' | 'chunker', string>;
    return {
      keyId: name.slice(KEYS_PREFIX.length),
      keys: {
        encryption: Buffer.from(parsed.encryption, 'base64'),
        id: Buffer.from(parsed.id, 'base64'),
        chunker: Buffer.from(parsed.chunker, 'base64'),
      },
    };
  }
  throw new RepositoryError('REPO_WRONG_PASSWORD', 'wrong password: no key of this repository opens with it');
}

function parseKeyFile(bytes: Buffer, name: string): KeyFile {
  let file: KeyFile;
  try {
    file = JSON.parse(bytes.toString('utf8')) as KeyFile;
  } catch (cause) {
    throw new RepositoryError('REPO_CORRUPT', `key file ${name} is not valid JSON`, { cause });
  }
  const valid = file.version === 1 && file.kdf === 'scrypt' && [file.N, file.r, file.p].every(Number.isInteger)
    && file.N >= 2 && file.N <= 2 ** 22 && file.r <= 64 && file.p <= 16 && typeof file.salt === 'string' && typeof file.data === 'string';
  if (!valid) throw new RepositoryError('REPO_CORRUPT', `key file ${name} has unknown or unsafe parameters`);
  return file;
}

export function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown'; // no passwd entry for this uid (containers): the name is informational only
  }
}
