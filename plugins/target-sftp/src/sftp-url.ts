import { ConfigError } from '@cairn/core';
import type { SftpTargetOptions } from './sftp-options.js';

/** Query parameters a URL may carry, and the option each sets. */
const QUERY_OPTIONS = {
  key: 'privateKey',
  known_hosts: 'knownHosts',
  fingerprint: 'hostFingerprint',
  insecure_skip_host_key_check: 'insecureSkipHostKeyCheck',
  connections: 'connections',
} as const;

const SECRET_PARAMETERS = new Set(['password', 'pass', 'passwd', 'passphrase', 'key_passphrase']);

/**
 * Turns `sftp://user[:password]@host[:port]/absolute/path[?key=…&known_hosts=…&fingerprint=…]`
 * into options. User, password and path are percent-decoded. The password comes from the URL,
 * else from `CAIRN_TARGET_PASSWORD`; a key passphrase only from `CAIRN_TARGET_KEY_PASSPHRASE`, so
 * it never sits in shell history or a process list.
 */
export function parseSftpUrl(url: string, env: Readonly<Record<string, string | undefined>>): SftpTargetOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw invalid('it is not a URL', error);
  }
  if (parsed.protocol.toLowerCase() !== 'sftp:') throw invalid(`expected the sftp: scheme, got ${parsed.protocol}`);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw invalid('it has no host');
  const username = decode(parsed.username, 'user');
  if (!username) throw invalid('it has no user name: use sftp://user@host/path');
  const path = decode(parsed.pathname, 'path');
  if (!path || path === '/') throw invalid('it has no path: give the absolute path of the repository on the server, e.g. sftp://user@host/srv/backups');

  const options: SftpTargetOptions = { host, username, path };
  if (parsed.port) options.port = Number(parsed.port);
  const password = parsed.password ? decode(parsed.password, 'password') : env.CAIRN_TARGET_PASSWORD;
  if (password) options.password = password;
  if (env.CAIRN_TARGET_KEY_PASSPHRASE) options.passphrase = env.CAIRN_TARGET_KEY_PASSPHRASE;

  for (const [name, value] of parsed.searchParams) {
    if (SECRET_PARAMETERS.has(name.toLowerCase())) {
      const instead = /passphrase/i.test(name) ? 'set CAIRN_TARGET_KEY_PASSPHRASE' : 'write it as sftp://user:password@host/path or set CAIRN_TARGET_PASSWORD';
      throw invalid(`a ${name} parameter does not belong in the query, where logs keep it: ${instead}`);
    }
    if (!(name in QUERY_OPTIONS)) throw invalid(`unknown parameter "${name}": expected one of ${Object.keys(QUERY_OPTIONS).join(', ')}`);
    const option = QUERY_OPTIONS[name as keyof typeof QUERY_OPTIONS];
    if (option === 'insecureSkipHostKeyCheck') options.insecureSkipHostKeyCheck = flag(name, value);
    else if (option === 'connections') options.connections = integer(name, value);
    else options[option] = value;
  }
  return options;
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch (error) {
    throw invalid(`its ${what} has a bad percent-escape`, error);
  }
}

function flag(name: string, value: string): boolean {
  if (/^(1|true|yes)$/i.test(value)) return true;
  if (/^(0|false|no)$/i.test(value)) return false;
  throw invalid(`parameter "${name}" must be 1 or 0`);
}

function integer(name: string, value: string): number {
  if (!/^\d+$/.test(value)) throw invalid(`parameter "${name}" must be a whole number`);
  return Number(value);
}

/** The URL itself is never quoted: it may hold a password. */
function invalid(why: string, cause?: unknown): ConfigError {
  return new ConfigError(`invalid sftp URL: ${why}`, { plugin: 'sftp', cause });
}
