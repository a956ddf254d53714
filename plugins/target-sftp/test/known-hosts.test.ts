import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import ssh2 from 'ssh2';
import { checkHostKey, entryMatchesHost, fingerprintOf, keyTypeOf, knownHostsName, knownKeyTypes, parseKnownHosts, sameFingerprint } from '../src/known-hosts.js';

/** A fresh public key: its known_hosts text and its wire-format blob. */
function newKey(type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519'): { line: string; blob: Buffer } {
  const pair = type === 'ed25519' ? ssh2.utils.generateKeyPairSync('ed25519') : type === 'ecdsa' ? ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }) : ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 });
  const [keyType, base64] = pair.public.split(' ');
  return { line: `${keyType} ${base64}`, blob: Buffer.from(base64!, 'base64') };
}

function hashed(name: string): string {
  const salt = Buffer.from('0123456789abcdef0123');
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

describe('known_hosts', () => {
  const a = newKey();
  const b = newKey();

  it('looks hosts up by name on port 22 and as [host]:port elsewhere', () => {
    expect(knownHostsName('example.org', 22)).toBe('example.org');
    expect(knownHostsName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
    expect(knownHostsName('::1', 2222)).toBe('[::1]:2222');
    const entries = parseKnownHosts(`example.org ${a.line}\n[127.0.0.1]:2222 ${b.line} comment here\n`);
    expect(checkHostKey(entries, 'example.org', 22, a.blob)).toEqual({ status: 'match', line: 1 });
    expect(checkHostKey(entries, '127.0.0.1', 2222, b.blob)).toEqual({ status: 'match', line: 2 });
    // The same host on another port is another entry.
    expect(checkHostKey(entries, 'example.org', 2222, a.blob)).toEqual({ status: 'unknown', otherTypes: [] });
    expect(checkHostKey(entries, '127.0.0.1', 22, b.blob).status).toBe('unknown');
  });

  it('matches comma-separated host lists, case-insensitively', () => {
    const entries = parseKnownHosts(`server,Server.Example.org,10.0.0.5 ${a.line}`);
    for (const host of ['server', 'server.example.org', '10.0.0.5']) expect(checkHostKey(entries, host, 22, a.blob).status).toBe('match');
    expect(checkHostKey(entries, 'other', 22, a.blob).status).toBe('unknown');
  });

  it('matches hashed host names (HashKnownHosts yes)', () => {
    const entries = parseKnownHosts(`${hashed('[127.0.0.1]:2222')} ${a.line}\n${hashed('example.org')} ${b.line}`);
    expect(checkHostKey(entries, '127.0.0.1', 2222, a.blob)).toEqual({ status: 'match', line: 1 });
    expect(checkHostKey(entries, 'example.org', 22, b.blob)).toEqual({ status: 'match', line: 2 });
    expect(checkHostKey(entries, 'example.com', 22, b.blob).status).toBe('unknown');
  });

  it('matches wildcards and honours negation', () => {
    const [entry] = parseKnownHosts(`*.example.org,!secret.example.org,host-?? ${a.line}`);
    expect(entryMatchesHost(entry!, 'www.example.org')).toBe(true);
    expect(entryMatchesHost(entry!, 'secret.example.org')).toBe(false);
    expect(entryMatchesHost(entry!, 'host-42')).toBe(true);
    expect(entryMatchesHost(entry!, 'host-420')).toBe(false);
    expect(entryMatchesHost(entry!, 'example.org')).toBe(false);
  });

  it('reports a different key of the same type as changed, pointing at the line', () => {
    const entries = parseKnownHosts(`# comment\n\n[127.0.0.1]:2222 ${a.line}`);
    expect(checkHostKey(entries, '127.0.0.1', 2222, b.blob)).toEqual({ status: 'changed', line: 3, keyType: 'ssh-ed25519' });
  });

  it('reports a key of a type the host is not listed with as unknown, naming the listed types', () => {
    const ecdsa = newKey('ecdsa');
    const entries = parseKnownHosts(`host ${ecdsa.line}`);
    expect(checkHostKey(entries, 'host', 22, a.blob)).toEqual({ status: 'unknown', otherTypes: ['ecdsa-sha2-nistp256'] });
    expect(knownKeyTypes(entries, 'host', 22)).toEqual(['ecdsa-sha2-nistp256']);
  });

  it('refuses a key marked @revoked even when another line lists it', () => {
    const entries = parseKnownHosts(`host ${a.line}\n@revoked * ${a.line}`);
    expect(checkHostKey(entries, 'host', 22, a.blob)).toEqual({ status: 'revoked', line: 2 });
    expect(checkHostKey(parseKnownHosts(`host ${a.line}\n@revoked * ${b.line}`), 'host', 22, a.blob).status).toBe('match');
  });

  it('does not trust @cert-authority lines (host certificates are not supported)', () => {
    const entries = parseKnownHosts(`@cert-authority *.example.org ${a.line}`);
    expect(checkHostKey(entries, 'www.example.org', 22, a.blob).status).toBe('unknown');
  });

  it('skips malformed lines and lines whose key does not match its type', () => {
    const rsa = newKey('rsa');
    const entries = parseKnownHosts(['garbage', `host ssh-ed25519`, `host ssh-rsa ${a.line.split(' ')[1]}`, `@unknown-marker host ${a.line}`, `host ${rsa.line}`].join('\n'));
    expect(entries.map((entry) => entry.line)).toEqual([5]);
    expect(entries[0]!.keyType).toBe('ssh-rsa');
  });

  it('reads the key type from a blob', () => {
    expect(keyTypeOf(a.blob)).toBe('ssh-ed25519');
    expect(keyTypeOf(Buffer.from([0, 0]))).toBeUndefined();
  });

  it('prints fingerprints as ssh-keygen -l does and compares them leniently', () => {
    const expected = `SHA256:${createHash('sha256').update(a.blob).digest('base64').replace(/=+$/, '')}`;
    expect(fingerprintOf(a.blob)).toBe(expected);
    expect(fingerprintOf(a.blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(sameFingerprint(expected, expected)).toBe(true);
    expect(sameFingerprint(`${expected.slice('SHA256:'.length)}=`, expected)).toBe(true);
    expect(sameFingerprint(fingerprintOf(b.blob), expected)).toBe(false);
  });
});
