import { createServer } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../src/index.js';
import { SECRET, closeHttp, json, listen, startStack } from './helpers.js';
import type { Stack } from './helpers.js';

async function errorOf(response: Response): Promise<{ status: number; code: string; message: string; authenticate: string | null }> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  return { status: response.status, code: body.error.code, message: body.error.message, authenticate: response.headers.get('www-authenticate') };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('HS256 tokens', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ api: { auth: { secret: SECRET, audience: 'cairn', issuer: 'https://id.example' }, rateLimit: { triggersPerMinute: 2 } } });
  });
  afterAll(async () => {
    await stack.close();
  });
  const good = (roles: Array<'viewer' | 'operator' | 'admin'>, sub = 'ann') => signToken(SECRET, { sub, roles }, { audience: 'cairn', issuer: 'https://id.example' });

  it('accepts a valid token and answers 401 with a JSON body for every bad one', async () => {
    expect((await stack.call('/api/me', { token: await good(['viewer']) })).status).toBe(200);
    const cases: Array<[string, string | null, string]> = [
      ['missing', null, 'TOKEN_MISSING'],
      ['malformed', 'not-a-jwt', 'TOKEN_MALFORMED'],
      ['garbage header', 'e30.e30.e30x', 'TOKEN_MALFORMED'],
      ['expired', await new SignJWT({ roles: ['admin'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('ann').setAudience('cairn').setIssuer('https://id.example')
        .setIssuedAt(Math.floor(Date.now() / 1000) - 7200).setExpirationTime(Math.floor(Date.now() / 1000) - 3600).sign(new TextEncoder().encode(SECRET)), 'TOKEN_EXPIRED'],
      ['forged (another secret)', await signToken('another-secret-of-32-characters!', { sub: 'ann', roles: ['admin'] }, { audience: 'cairn', issuer: 'https://id.example' }), 'TOKEN_BAD_SIGNATURE'],
      ['wrong audience', await signToken(SECRET, { sub: 'ann', roles: ['admin'] }, { audience: 'other', issuer: 'https://id.example' }), 'TOKEN_CLAIM_INVALID'],
      ['wrong issuer', await signToken(SECRET, { sub: 'ann', roles: ['admin'] }, { audience: 'cairn', issuer: 'https://evil.example' }), 'TOKEN_CLAIM_INVALID'],
      ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'ann', roles: ['admin'], aud: 'cairn', iss: 'https://id.example' })}.`, 'TOKEN_ALGORITHM'],
      ['alg RS256 without a JWKS', `${b64({ alg: 'RS256' })}.${b64({ sub: 'ann' })}.c2ln`, 'TOKEN_ALGORITHM'],
      ['tampered payload', await good(['viewer']).then((t) => { const [h, , s] = t.split('.'); return `${h}.${b64({ sub: 'ann', roles: ['admin'], aud: 'cairn', iss: 'https://id.example', exp: 9e9 })}.${s}`; }), 'TOKEN_BAD_SIGNATURE'],
      ['no subject', await new SignJWT({ roles: ['admin'] }).setProtectedHeader({ alg: 'HS256' }).setAudience('cairn').setIssuer('https://id.example').setExpirationTime('1h').sign(new TextEncoder().encode(SECRET)), 'TOKEN_INVALID'],
    ];
    for (const [what, token, code] of cases) {
      const error = await errorOf(await stack.call('/api/me', { token }));
      expect({ what, status: error.status, code: error.code }).toEqual({ what, status: 401, code });
      expect(error.authenticate).toMatch(/^Bearer/);
      expect(error.message).not.toMatch(/\n|at .*\.ts/);
    }
    const basic = await stack.call('/api/me', { token: null, headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
    expect((await errorOf(basic)).code).toBe('TOKEN_MALFORMED');
  });

  it('answers 403 for a missing role: viewer < operator < admin', async () => {
    const viewer = await good(['viewer']);
    const operator = await good(['operator']);
    expect((await stack.call('/api/jobs', { token: await good([]) })).status).toBe(403);
    expect((await stack.call('/api/me', { token: await good([]) })).status).toBe(200);
    const forbidden = await errorOf(await stack.call('/api/trigger-backup', { ...json({ job: 'docs' }), token: viewer }));
    expect(forbidden).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect((await stack.call('/api/jobs', { token: operator })).status).toBe(200);
    expect((await stack.call('/api/schedules/pause', { method: 'POST', token: operator })).status).toBe(403);
    expect((await stack.call('/api/schedules/pause', { method: 'POST', token: await good(['admin']) })).status).toBe(200);
  });

  it('limits triggers per user and answers 429 with Retry-After', async () => {
    const bob = await good(['operator'], 'bob');
    const carol = await good(['operator'], 'carol');
    for (let i = 0; i < 2; i++) expect((await stack.call('/api/trigger-backup', { ...json({ job: 'docs', description: `try ${i}` }), token: bob })).status).toBe(202);
    const limited = await stack.call('/api/trigger-backup', { ...json({ job: 'docs', description: 'one more' }), token: bob });
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect((await errorOf(limited)).code).toBe('RATE_LIMITED');
    // Per subject: another user is not limited by bob's triggers.
    expect((await stack.call('/api/trigger-backup', { ...json({ job: 'docs', description: 'carol' }), token: carol })).status).toBe(202);
    const audit = (await (await stack.call('/api/audit', { token: await good(['admin']) })).json()) as { records: Array<{ actor: string; status: number; code?: string }> };
    expect(audit.records).toContainEqual(expect.objectContaining({ actor: 'bob', status: 429, code: 'RATE_LIMITED' }));
  });

  it('keeps CORS closed unless origins are configured', async () => {
    const response = await stack.call('/api/me', { token: await good(['viewer']), headers: { origin: 'https://evil.example' } });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${stack.url}/api/trigger-backup`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('CORS when configured', () => {
  it('allows the listed origins only', async () => {
    const stack = await startStack({ api: { cors: { origins: ['https://ops.example'] } } });
    try {
      const preflight = await fetch(`${stack.url}/api/trigger-backup`, { method: 'OPTIONS', headers: { origin: 'https://ops.example', 'access-control-request-method': 'POST' } });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('https://ops.example');
      expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
      const other = await stack.call('/api/me', { headers: { origin: 'https://evil.example' } });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await stack.close();
    }
  });
});

describe('RS256 and ES256 tokens against a JWKS', () => {
  it('verifies tokens signed by the JWKS keys and refuses others', async () => {
    const rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    const stranger = await generateKeyPair('ES256');
    const keys = [{ ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' }, { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' }];
    const jwksServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys }));
    });
    const jwksUrl = `${await listen(jwksServer)}/.well-known/jwks.json`;
    const stack = await startStack({ api: { auth: { jwksUrl, audience: 'cairn-api', rolesClaim: 'https://cairn/roles' } } });
    const sign = (alg: 'RS256' | 'ES256', kid: string, key: Parameters<SignJWT['sign']>[0], audience = 'cairn-api') => new SignJWT({ 'https://cairn/roles': ['operator'] })
      .setProtectedHeader({ alg, kid }).setSubject('svc').setAudience(audience).setIssuedAt().setExpirationTime('5m').sign(key);
    try {
      expect(await (await stack.call('/api/me', { token: await sign('RS256', 'rsa-1', rsa.privateKey) })).json()).toEqual({ subject: 'svc', roles: ['operator'] });
      expect((await stack.call('/api/me', { token: await sign('ES256', 'ec-1', ec.privateKey) })).status).toBe(200);
      const forged = await stack.call('/api/me', { token: await sign('ES256', 'ec-1', stranger.privateKey) });
      expect(forged.status, await forged.clone().text()).toBe(401);
      expect((await errorOf(forged)).code).toBe('TOKEN_BAD_SIGNATURE');
      expect((await errorOf(await stack.call('/api/me', { token: await sign('ES256', 'nope', stranger.privateKey) }))).code).toBe('TOKEN_BAD_SIGNATURE');
      expect((await errorOf(await stack.call('/api/me', { token: await sign('RS256', 'rsa-1', rsa.privateKey, 'other') }))).code).toBe('TOKEN_CLAIM_INVALID');
      // An HS256 token is refused where only a JWKS is configured (no algorithm confusion).
      expect((await errorOf(await stack.call('/api/me', { token: await signToken(SECRET, { sub: 'x', roles: ['admin'] }) }))).code).toBe('TOKEN_ALGORITHM');
      expect((await stack.call('/api/trigger-backup', { ...json({ job: 'docs' }), token: await sign('RS256', 'rsa-1', rsa.privateKey) })).status).toBe(202);
    } finally {
      await stack.close();
      await closeHttp(jwksServer);
    }
  });
});
