import type { IncomingMessage } from 'node:http';
import { SignJWT, createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { HttpError } from './http.js';

export type Role = 'viewer' | 'operator' | 'admin';
export const ROLES: readonly Role[] = Object.freeze(['viewer', 'operator', 'admin']);
const RANK: Readonly<Record<Role, number>> = { viewer: 1, operator: 2, admin: 3 };

export const authOptions = z.strictObject({
  secret: z.string().min(16, 'use a secret of at least 16 characters').optional().describe('Shared secret for HS256 tokens.'),
  jwksUrl: z.url().optional().describe('A JWKS URL whose keys verify RS256 and ES256 tokens.'),
  issuer: z.string().min(1).optional().describe('The `iss` every token must carry.'),
  audience: z.string().min(1).optional().describe('The `aud` every token must carry.'),
  rolesClaim: z.string().min(1).default('roles').describe('The claim holding the token\'s roles (an array of viewer, operator, admin).'),
}).refine((auth) => auth.secret !== undefined || auth.jwksUrl !== undefined, 'give auth.secret (HS256) or auth.jwksUrl (RS256/ES256)');
export type AuthOptions = z.input<typeof authOptions>;

/** Who a request comes from, once its token is verified. */
export interface Principal {
  subject: string;
  /** The roles the token grants (each implies those below it). */
  roles: Role[];
}

export function hasRole(principal: Principal, role: Role): boolean {
  return principal.roles.some((held) => RANK[held] >= RANK[role]);
}

/** Checks bearer tokens: HS256 against the secret, RS256/ES256 against the JWKS; issuer and audience when configured. */
export function createAuthenticator(options: z.output<typeof authOptions>): (token: string) => Promise<Principal> {
  const secret = options.secret === undefined ? undefined : new TextEncoder().encode(options.secret);
  const jwks: JWTVerifyGetKey | undefined = options.jwksUrl === undefined ? undefined : createRemoteJWKSet(new URL(options.jwksUrl));
  const claims = { ...(options.issuer ? { issuer: options.issuer } : {}), ...(options.audience ? { audience: options.audience } : {}) };
  return async (token) => {
    let payload: JWTPayload;
    try {
      const alg = headerAlg(token);
      if (alg === 'HS256' && secret) payload = (await jwtVerify(token, secret, { ...claims, algorithms: ['HS256'] })).payload;
      else if ((alg === 'RS256' || alg === 'ES256') && jwks) payload = (await jwtVerify(token, jwks, { ...claims, algorithms: ['RS256', 'ES256'] })).payload;
      else throw unauthorized('TOKEN_ALGORITHM', `tokens signed with ${alg} are not accepted here (${[secret ? 'HS256' : '', jwks ? 'RS256, ES256' : ''].filter(Boolean).join(', ')})`);
    } catch (error) {
      throw tokenError(error);
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') throw unauthorized('TOKEN_INVALID', 'the token has no subject (sub)');
    const claim = payload[options.rolesClaim];
    const roles = (Array.isArray(claim) ? claim : typeof claim === 'string' ? claim.split(/[\s,]+/) : []).filter((role): role is Role => ROLES.includes(role as Role));
    return { subject: payload.sub, roles: [...new Set(roles)] };
  };
}

function headerAlg(token: string): string {
  const parts = token.split('.');
  if (parts.length !== 3) throw unauthorized('TOKEN_MALFORMED', 'the bearer token is not a JWT (three base64url parts)');
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as { alg?: unknown };
    if (typeof header.alg !== 'string') throw new Error('no alg');
    return header.alg;
  } catch {
    throw unauthorized('TOKEN_MALFORMED', 'the bearer token\'s header is not valid JSON with an alg');
  }
}

function unauthorized(code: string, message: string): HttpError {
  return new HttpError(401, code, message, { headers: { 'www-authenticate': `Bearer error="invalid_token"` } });
}

function tokenError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof errors.JWTExpired) return unauthorized('TOKEN_EXPIRED', 'the token has expired: sign in again');
  if (error instanceof errors.JWTClaimValidationFailed) return unauthorized('TOKEN_CLAIM_INVALID', `the token's ${error.claim} claim is not accepted here`);
  if (error instanceof errors.JWSSignatureVerificationFailed) return unauthorized('TOKEN_BAD_SIGNATURE', 'the token\'s signature does not verify');
  if (error instanceof errors.JWKSNoMatchingKey) return unauthorized('TOKEN_BAD_SIGNATURE', 'no key of the JWKS matches the token');
  if (error instanceof errors.JOSEAlgNotAllowed) return unauthorized('TOKEN_ALGORITHM', 'the token\'s algorithm is not accepted here');
  if (error instanceof errors.JWKSTimeout || (error instanceof Error && !(error instanceof errors.JOSEError))) {
    return new HttpError(503, 'AUTH_UNAVAILABLE', 'the keys that verify tokens (JWKS) cannot be fetched now; try again shortly');
  }
  return unauthorized('TOKEN_INVALID', 'the token is not valid');
}

/** The bearer token of a request: from the Authorization header, or (where `queryToken`) from `?access_token=`. */
export function bearerToken(req: IncomingMessage, query: URLSearchParams, queryToken: boolean): string {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
    if (!match) throw unauthorized('TOKEN_MALFORMED', 'send the token as Authorization: Bearer <token>');
    return match[1]!;
  }
  const fromQuery = queryToken ? query.get('access_token') : null;
  if (fromQuery) return fromQuery;
  throw new HttpError(401, 'TOKEN_MISSING', 'this endpoint needs a token: send Authorization: Bearer <token>', { headers: { 'www-authenticate': 'Bearer' } });
}

export interface SignTokenOptions {
  /** How long the token is valid: `15m`, `12h`, `7d`… Default `1h`. */
  expiresIn?: string;
  audience?: string;
  issuer?: string;
}

/** An HS256 token for `secret` carrying `sub` and `roles` (in the `roles` claim): for `cairn serve` and tests. */
export async function signToken(secret: string, claims: { sub: string; roles: Role[] }, options: SignTokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({ roles: claims.roles })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h');
  if (options.audience) jwt.setAudience(options.audience);
  if (options.issuer) jwt.setIssuer(options.issuer);
  return jwt.sign(new TextEncoder().encode(secret));
}
