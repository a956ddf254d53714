import { hostname, userInfo } from 'node:os';
import { createHmac, randomBytes } from 'node:crypto';
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

/**
 * Keys that scrypt derived from a password and that opened their key file, so that opening the
 * same repository again in this process skips scrypt (~150 ms, by design): a server opens the
 * repository for every API request. Only keys that opened a file are kept, so a wrong password
 * always pays the full cost; a key file is looked up only while it exists, so a removed password
 * stops working at once. Entries are named by an HMAC under a secret of this process, not by the
 * password, and expire after `ttlMs`.
 */
export class DerivedKeys {
  private readonly entries = new Map<string, { key: Buffer; at: number }>();
  private readonly secret = randomBytes(32);
  /** Opens served without scrypt (for tests and diagnostics). */
  hits = 0;

  constructor(private readonly capacity = 16, private readonly ttlMs = 10 * 60_000) {}

  /** What `unlock` makes of the key `password` derives for `file`; undefined when that key does not unlock it. */
  async open<T>(password: string, file: Pick<KeyFile, 'salt' | 'N' | 'r' | 'p'>, unlock: (key: Buffer) => T | undefined): Promise<T | undefined> {
    const name = createHmac('sha256', this.secret).update(JSON.stringify([file.salt, file.N, file.r, file.p, password.normalize('NFC')])).digest('base64');
    const known = this.entries.get(name);
    this.entries.delete(name);
    if (known && performance.now() - known.at < this.ttlMs) {
      const opened = unlock(known.key);
      if (opened !== undefined) {
        this.hits++;
        this.entries.set(name, known); // now the most recently used
        return opened;
      }
    }
    const key = await deriveKey(password, Buffer.from(file.salt, 'base64'), { N: file.N, r: file.r, p: file.p });
    const opened = unlock(key);
    if (opened === undefined) return undefined;
    this.entries.set(name, { key, at: performance.now() });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.capacity) break;
      this.entries.delete(oldest);
    }
    return opened;
  }
}

const derivedKeys = new DerivedKeys();

/** Tries the password on every key file; returns the master keys and which key file opened them. */
export async function openWithPassword(store: BlobStore, password: string, cache: DerivedKeys = derivedKeys): Promise<{ keys: MasterKeys; keyId: string }> {
  const keyNames = await listKeys(store, KEYS_PREFIX);
  if (keyNames.length === 0) throw new RepositoryError('REPO_CORRUPT', 'the repository has no key files; it cannot be opened');
  for (const name of keyNames) {
    const file = parseKeyFile(await readAll(await store.get(name)), name);
    const sealed = Buffer.from(file.data, 'base64');
    const secret = await cache.open(password, file, (wrapping) => {
      try {
        return unseal(wrapping, sealed, `key ${name}`);
      } catch {
        return undefined; // not this password's key file; authentication failure is the expected answer
      }
    });
    if (!secret) continue;
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
