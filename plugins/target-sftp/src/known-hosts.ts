import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * OpenSSH's known_hosts format (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"), as far as a client that
 * verifies a server needs it: plain and hashed (`|1|salt|hash`) host names, comma-separated host
 * lists, `[host]:port` for non-standard ports, `*`/`?` wildcards and `!` negation, and the
 * `@revoked` marker. `@cert-authority` lines are kept but never match: host certificates are not
 * supported, so such a host is reported as unknown rather than silently trusted.
 */
export interface KnownHostEntry {
  /** 1-based line number, for messages that point at the line to fix. */
  line: number;
  marker: 'revoked' | 'cert-authority' | undefined;
  hosts: HostPattern[];
  /** Key type as written (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`…). */
  keyType: string;
  /** The key blob in SSH wire format, as the server sends it. */
  key: Buffer;
}

type HostPattern =
  | { kind: 'hashed'; salt: Buffer; hash: Buffer }
  | { kind: 'pattern'; negated: boolean; pattern: string };

/** Parses the text of a known_hosts file. Malformed lines are skipped, as ssh does. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const entry = parseLine(lines[i]!, i + 1);
    if (entry) entries.push(entry);
  }
  return entries;
}

function parseLine(raw: string, line: number): KnownHostEntry | undefined {
  const text = raw.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  const fields = text.split(/\s+/);
  let marker: KnownHostEntry['marker'];
  if (fields[0]!.startsWith('@')) {
    const name = fields.shift()!;
    if (name === '@revoked') marker = 'revoked';
    else if (name === '@cert-authority') marker = 'cert-authority';
    else return undefined;
  }
  const [hostField, keyType, base64] = fields;
  if (!hostField || !keyType || !base64) return undefined;
  const key = Buffer.from(base64, 'base64');
  // The blob names its own type first; a line whose two disagree is corrupt.
  if (key.length === 0 || keyTypeOf(key) !== keyType) return undefined;
  const hosts = parseHosts(hostField);
  if (!hosts) return undefined;
  return { line, marker, hosts, keyType, key };
}

function parseHosts(field: string): HostPattern[] | undefined {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return undefined;
    return [{ kind: 'hashed', salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') }];
  }
  return field.split(',').filter(Boolean).map((item) => (item.startsWith('!') ? { kind: 'pattern', negated: true, pattern: item.slice(1) } : { kind: 'pattern', negated: false, pattern: item }));
}

/** The name ssh looks a host up by: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return port === 22 ? bare : `[${bare}]:${port}`;
}

/** True when the entry's host list names `name` (and does not exclude it with `!`). */
export function entryMatchesHost(entry: KnownHostEntry, name: string): boolean {
  let matched = false;
  for (const pattern of entry.hosts) {
    if (pattern.kind === 'hashed') {
      const hmac = createHmac('sha1', pattern.salt).update(name).digest();
      if (hmac.length === pattern.hash.length && timingSafeEqual(hmac, pattern.hash)) matched = true;
    } else if (wildcardMatch(pattern.pattern.toLowerCase(), name.toLowerCase())) {
      if (pattern.negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** ssh's `match_pattern`: `*` any run of characters, `?` exactly one. */
function wildcardMatch(pattern: string, text: string): boolean {
  const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  return regex.test(text);
}

export type HostKeyVerdict =
  /** A line lists this very key for this host. */
  | { status: 'match'; line: number }
  /** A `@revoked` line lists this key: never connect. */
  | { status: 'revoked'; line: number }
  /** The host is listed with another key of the same type: the key changed. */
  | { status: 'changed'; line: number; keyType: string }
  /** The host is not listed with a key of this type; `otherTypes` are the types it is listed with. */
  | { status: 'unknown'; otherTypes: string[] };

/**
 * What known_hosts says about `key` presented by the server at `host:port`. Like ssh, a revoked
 * key is refused whatever else matches, and a key of a type the host is listed with, but with
 * other bytes, counts as changed (ssh's "REMOTE HOST IDENTIFICATION HAS CHANGED").
 */
export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const names = [knownHostsName(host, port)];
  const forHost = entries.filter((entry) => names.some((name) => entryMatchesHost(entry, name)));
  const revoked = forHost.find((entry) => entry.marker === 'revoked' && entry.key.equals(key));
  if (revoked) return { status: 'revoked', line: revoked.line };
  const plain = forHost.filter((entry) => entry.marker === undefined);
  const exact = plain.find((entry) => entry.key.equals(key));
  if (exact) return { status: 'match', line: exact.line };
  const type = keyTypeOf(key);
  const sameType = plain.find((entry) => entry.keyType === type);
  if (sameType) return { status: 'changed', line: sameType.line, keyType: type ?? sameType.keyType };
  return { status: 'unknown', otherTypes: [...new Set(plain.map((entry) => entry.keyType))] };
}

/** The key types known_hosts lists for this host (not revoked), for preferring them in key exchange. */
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const name = knownHostsName(host, port);
  return [...new Set(entries.filter((entry) => entry.marker === undefined && entryMatchesHost(entry, name)).map((entry) => entry.keyType))];
}

/** The type name at the start of an SSH wire-format key blob (`ssh-ed25519`), or undefined if it has none. */
export function keyTypeOf(key: Buffer): string | undefined {
  if (key.length < 4) return undefined;
  const length = key.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > key.length) return undefined;
  return key.subarray(4, 4 + length).toString('latin1');
}

/** `SHA256:<base64 without padding>`, as `ssh-keygen -l` and ssh print a key's fingerprint. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** Compares fingerprints the way people paste them: the `SHA256:` prefix and `=` padding are optional. */
export function sameFingerprint(given: string, actual: string): boolean {
  const normalize = (value: string) => value.trim().replace(/^SHA256:/i, '').replace(/=+$/, '');
  return normalize(given) === normalize(actual);
}
