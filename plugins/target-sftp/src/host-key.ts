import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { TargetError } from '@cairn/core';
import { checkHostKey, fingerprintOf, knownHostsName, knownKeyTypes, parseKnownHosts, sameFingerprint } from './known-hosts.js';
import type { KnownHostEntry } from './known-hosts.js';

/** How a connection decides whether the server is the one the user meant. */
export interface HostKeyPolicy {
  /** Host-key algorithms to offer, those known_hosts has keys for first; undefined keeps ssh2's order. */
  algorithms: string[] | undefined;
  /** Undefined when the key is trusted, else the error to fail the connection with. */
  verify(key: Buffer): TargetError | undefined;
}

export interface HostKeySettings {
  host: string;
  port: number;
  knownHosts?: string | undefined;
  hostFingerprint?: string | undefined;
  insecureSkipHostKeyCheck: boolean;
}

/** ssh2's host-key algorithms, in its default order (its `ssh-dss` is left out, as OpenSSH does). */
const ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

/**
 * Builds the check from the options: a pinned fingerprint if one is given, else the known_hosts
 * file (read once, here), unless the user opted out. A missing known_hosts file is an empty one:
 * the first connection then fails with the command that adds the key.
 */
export async function loadHostKeyPolicy(settings: HostKeySettings): Promise<HostKeyPolicy> {
  const where = `${settings.host}:${settings.port}`;
  if (settings.insecureSkipHostKeyCheck) return { algorithms: undefined, verify: () => undefined };
  if (settings.hostFingerprint !== undefined) {
    const pinned = settings.hostFingerprint;
    return {
      algorithms: undefined,
      verify(key) {
        const actual = fingerprintOf(key);
        if (sameFingerprint(pinned, actual)) return undefined;
        return new TargetError(
          'TARGET_PERMISSION',
          `host key of ${where} does not match the pinned fingerprint ${pinned} (the server presented ${actual}): someone may be intercepting the connection (man-in-the-middle), or the server's key was replaced; check with the server's administrator before changing fingerprint=`,
          { plugin: 'sftp' },
        );
      },
    };
  }

  const file = expandHome(settings.knownHosts ?? '~/.ssh/known_hosts');
  const entries = await readKnownHosts(file);
  const types = knownKeyTypes(entries ?? [], settings.host, settings.port);
  return {
    algorithms: types.length > 0 ? preferAlgorithms(types) : undefined,
    verify: (key) => verdictError(entries, file, settings.host, settings.port, key),
  };
}

function verdictError(entries: KnownHostEntry[] | undefined, file: string, host: string, port: number, key: Buffer): TargetError | undefined {
  const where = `${host}:${port}`;
  const fingerprint = fingerprintOf(key);
  const verdict = checkHostKey(entries ?? [], host, port, key);
  switch (verdict.status) {
    case 'match':
      return undefined;
    case 'revoked':
      return new TargetError('TARGET_PERMISSION', `host key of ${where} (${fingerprint}) is marked @revoked in ${file} line ${verdict.line}: refusing to connect; ask the server's administrator for its new key`, { plugin: 'sftp' });
    case 'changed':
      return new TargetError(
        'TARGET_PERMISSION',
        `host key of ${where} has CHANGED: ${file} line ${verdict.line} holds another ${verdict.keyType} key, the server now presents ${fingerprint}; someone may be intercepting the connection (possible man-in-the-middle attack), or the server was reinstalled; only if you are sure it is the latter, remove the old key with \`ssh-keygen -R '${knownHostsName(host, port)}' -f ${file}\` and connect again`,
        { plugin: 'sftp' },
      );
    case 'unknown': {
      const missing = entries === undefined ? ' (the file does not exist)' : verdict.otherTypes.length > 0 ? ` (it lists only ${verdict.otherTypes.join(', ')} keys for this host)` : '';
      const scan = `ssh-keyscan ${port === 22 ? '' : `-p ${port} `}${host} >> ${file}`;
      return new TargetError(
        'TARGET_PERMISSION',
        `host key of ${where} is not in ${file}${missing} (its fingerprint is ${fingerprint}): after checking that fingerprint with the server's administrator, add it with \`${scan}\` or pass fingerprint=${fingerprint}`,
        { plugin: 'sftp' },
      );
    }
  }
}

/** The entries of a known_hosts file; undefined when it does not exist. */
async function readKnownHosts(file: string): Promise<KnownHostEntry[] | undefined> {
  try {
    return parseKnownHosts(await readFile(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new TargetError('TARGET_PERMISSION', `cannot read the known_hosts file ${file} (${code ?? (error as Error).message}): check the path given as known_hosts=`, { plugin: 'sftp', cause: error });
  }
}

/** Known key types first, so a server with several host keys presents the one we can check. */
function preferAlgorithms(keyTypes: string[]): string[] {
  const wanted = new Set(keyTypes.flatMap((type) => (type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type])));
  return [...ALGORITHMS.filter((name) => wanted.has(name)), ...ALGORITHMS.filter((name) => !wanted.has(name))];
}

/** `~/x` → `$HOME/x`, as ssh reads its own paths. */
export function expandHome(path: string): string {
  return path === '~' ? homedir() : path.startsWith('~/') ? join(homedir(), path.slice(2)) : path;
}
