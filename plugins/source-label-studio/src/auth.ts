/**
 * How requests authenticate. Label Studio knows two kinds of token:
 * - a legacy API token (40 hex-like characters), sent as `Authorization: Token <key>`;
 * - a personal access token (since 1.17): a JWT *refresh* token, exchanged at
 *   `POST /api/token/refresh/` for an access token that lives about five minutes, sent as
 *   `Authorization: Bearer <access>`.
 * The kind is told by the token's shape: three base64url parts whose middle one decodes to a JSON
 * object is a JWT; its `token_type` says refresh or access.
 */
export interface Auth {
  /** The Authorization header value; `renew` forces a new access token (after a 401). */
  header(renew?: boolean): Promise<string>;
  /** True for a personal access token, which a 401 may be cured of by a fresh access token. */
  readonly canRefresh: boolean;
  readonly kind: 'legacy' | 'personal-access-token' | 'access-token';
}

/** Renew an access token this long before it expires. */
const EARLY_MS = 30_000;

export function createAuth(token: string, refresh: (refreshToken: string) => Promise<string>): Auth {
  const jwt = decodeJwt(token);
  if (!jwt) return { kind: 'legacy', canRefresh: false, header: async () => `Token ${token}` };
  if (jwt.token_type !== 'refresh') return { kind: 'access-token', canRefresh: false, header: async () => `Bearer ${token}` };
  let access: { token: string; expiresAt: number } | undefined;
  let pending: Promise<string> | undefined;
  return {
    kind: 'personal-access-token',
    canRefresh: true,
    async header(renew = false) {
      if (renew || !access || Date.now() > access.expiresAt - EARLY_MS) {
        pending ??= refresh(token).finally(() => {
          pending = undefined;
        });
        const fresh = await pending;
        const exp = decodeJwt(fresh)?.exp;
        access = { token: fresh, expiresAt: typeof exp === 'number' ? exp * 1000 : Date.now() + 60_000 };
      }
      return `Bearer ${access.token}`;
    },
  };
}

/** The payload of a JWT, or undefined when `token` is not one. */
export function decodeJwt(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    return typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? payload as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}
