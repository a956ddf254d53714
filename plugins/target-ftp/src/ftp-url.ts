import { ConfigError, redact } from '@cairn/core';
import type { FtpTargetOptions } from './ftp-target.js';

/**
 * Turns `ftp[s]://user[:password]@host[:port]/absolute/path[?connections=N&insecure_skip_certificate_check=1]`
 * into options. The path is absolute on the server (`ftp://ann@host/srv/backups` is
 * `/srv/backups`); parts are percent-decoded. Without a password in the URL, the one in
 * `CAIRN_TARGET_PASSWORD` is used.
 */
export function parseFtpUrl(url: string, env: Readonly<Record<string, string | undefined>> = {}): FtpTargetOptions {
  const fail = (why: string, cause?: unknown): never => {
    throw new ConfigError(`invalid FTP URL ${redact(url)}: ${why}`, { plugin: 'ftp', cause });
  };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    return fail('expected ftp://user@host:port/absolute/path or ftps://…', error);
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'ftp' && scheme !== 'ftps') return fail('the scheme must be ftp or ftps');
  const decode = (part: string, what: string): string => {
    try {
      return decodeURIComponent(part);
    } catch (error) {
      return fail(`the ${what} is not valid percent-encoding`, error);
    }
  };
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) fail('it names no host');
  const username = decode(parsed.username, 'user name');
  if (!username) fail('it names no user: use ftp://user@host/path (the password may come from CAIRN_TARGET_PASSWORD)');
  const password = parsed.password ? decode(parsed.password, 'password') : env.CAIRN_TARGET_PASSWORD;
  let path = decode(parsed.pathname, 'path');
  if (path.length > 1) path = path.replace(/\/+$/, '');
  if (!path.startsWith('/')) path = `/${path}`;

  let insecureSkipCertificateCheck = false;
  let connections: number | undefined;
  for (const [name, value] of parsed.searchParams) {
    if (name === 'connections') {
      if (!/^\d+$/.test(value)) fail('connections must be a whole number');
      connections = Number(value);
      continue;
    }
    if (name !== 'insecure_skip_certificate_check') fail(`unknown parameter "${name}" (known: connections, insecure_skip_certificate_check)`);
    if (!['1', 'true', '0', 'false'].includes(value)) fail('insecure_skip_certificate_check must be 1 or 0');
    insecureSkipCertificateCheck = value === '1' || value === 'true';
  }
  if (insecureSkipCertificateCheck && scheme === 'ftp') fail('insecure_skip_certificate_check only applies to ftps:// (plain FTP has no certificate)');

  return {
    host,
    ...(parsed.port ? { port: Number(parsed.port) } : {}),
    username,
    ...(password !== undefined && password !== '' ? { password } : {}),
    path,
    secure: scheme === 'ftps' ? 'explicit' : 'none',
    ...(insecureSkipCertificateCheck ? { insecureSkipCertificateCheck } : {}),
    ...(connections !== undefined ? { connections } : {}),
  };
}
