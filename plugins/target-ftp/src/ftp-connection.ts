import { createSecureContext, getCACertificates } from 'node:tls';
import type { ConnectionOptions, SecureContext } from 'node:tls';
import { CairnError, TargetError, withTimeout } from '@cairn/core';
import { Client, FTPError } from 'basic-ftp';
import { certificateError, isCertificateError, loginError, toTargetError } from './ftp-errors.js';

/** What a connection needs to know; a subset of the parsed target options. */
export interface ConnectionSettings {
  host: string;
  port: number;
  username: string;
  password?: string | undefined;
  secure: 'none' | 'explicit';
  insecureSkipCertificateCheck: boolean;
  timeoutMs: number;
}

export function serverName(settings: Pick<ConnectionSettings, 'host' | 'port'>): string {
  return `${settings.host.includes(':') ? `[${settings.host}]` : settings.host}:${settings.port}`;
}

/**
 * Opens one logged-in control connection: TCP, then (for FTPS) AUTH TLS with the certificate
 * verified, then USER/PASS, binary mode, and PROT P so every data connection is encrypted too.
 * Each step is done here rather than through `access()`, so a failure names the step that failed.
 */
export async function openConnection(settings: ConnectionSettings): Promise<Client> {
  const client = new Client(settings.timeoutMs);
  const server = serverName(settings);
  const scene = { action: 'read' as const, path: '/', server, username: settings.username };
  // An object, so that the steps' progress is visible to the error handler below (no narrowing).
  const at: { step: 'connect' | 'tls' | 'login' | 'setup' } = { step: 'connect' };
  const steps = async () => {
    await client.connect(settings.host, settings.port);
    if (settings.secure === 'explicit') {
      at.step = 'tls';
      await client.useTLS(tlsOptions(settings));
    }
    at.step = 'login';
    await client.sendIgnoringError('OPTS UTF8 ON'); // before USER, for non-ASCII user names
    await client.login(settings.username, settings.password ?? '');
    at.step = 'setup';
    // Like basic-ftp's useDefaultSettings, except that a refusal of PROT P is an error: data
    // connections in the clear after an encrypted login are not what ftps:// promises.
    if ((await client.features()).has('MLST')) client.availableListCommands = ['MLSD', 'LIST -a', 'LIST'];
    await client.send('TYPE I');
    if (settings.secure === 'explicit') {
      await client.sendIgnoringError('PBSZ 0');
      await client.send('PROT P');
    }
  };
  try {
    // The TLS handshake has no timeout of its own in basic-ftp: one deadline covers all steps.
    await withTimeout(steps(), settings.timeoutMs, `connecting to the FTP server ${server}`, { plugin: 'ftp', onTimeout: () => client.close() });
    return client;
  } catch (error) {
    client.close();
    if (isCertificateError(error)) throw certificateError(error, server);
    if (error instanceof FTPError) {
      if (at.step === 'login' && error.code >= 500) throw loginError(error, settings.username, server);
      if (at.step === 'tls' && error.code >= 500) {
        throw new TargetError(
          'TARGET_PERMISSION',
          `the FTP server ${server} refused AUTH TLS (${error.message.trim()}): it does not offer FTPS; use ftp:// only on a network you trust`,
          { plugin: 'ftp', cause: error },
        );
      }
      if (at.step === 'setup' && error.code >= 500) {
        throw new TargetError('TARGET_PERMISSION', `the FTP server ${server} refused to protect data connections (${error.message.trim()})`, { plugin: 'ftp', cause: error });
      }
    }
    if (at.step === 'connect' && !(error instanceof CairnError) && !(error instanceof FTPError)) {
      const detail = (error as { code?: string }).code ?? (error as Error).message;
      throw new TargetError('TARGET_UNAVAILABLE', `cannot reach the FTP server ${server} (${detail}): check that it runs and that host and port are right`, { plugin: 'ftp', cause: error });
    }
    throw toTargetError(error, scene);
  }
}

function tlsOptions(settings: ConnectionSettings): ConnectionOptions {
  if (settings.insecureSkipCertificateCheck) return { host: settings.host, rejectUnauthorized: false };
  // basic-ftp reuses these options for every data connection, so the CA list is parsed once.
  return { host: settings.host, rejectUnauthorized: true, secureContext: trustedContext() };
}

let sharedContext: SecureContext | undefined;

/**
 * The CAs Node trusts by default (its bundled list plus NODE_EXTRA_CA_CERTS) and those of the
 * operating system, which Node leaves out unless started with --use-system-ca.
 */
function trustedContext(): SecureContext {
  sharedContext ??= createSecureContext({ ca: [...new Set([...getCACertificates('default'), ...systemCertificates()])] });
  return sharedContext;
}

function systemCertificates(): string[] {
  try {
    return getCACertificates('system');
  } catch {
    return []; // no readable system store: Node's own list still applies
  }
}
