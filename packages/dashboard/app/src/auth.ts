/*
 * Where the signed-in token lives: sessionStorage, so it goes with the tab and is never written to
 * disk by the dashboard. A link with `?token=` (what `cairn serve` prints) signs in once, and the
 * token is then taken out of the address bar and the history.
 */
const KEY = 'cairn.token';

export function storedToken(): string | undefined {
  try {
    return sessionStorage.getItem(KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function storeToken(token: string | undefined): void {
  try {
    if (token === undefined) sessionStorage.removeItem(KEY);
    else sessionStorage.setItem(KEY, token);
  } catch {
    // Storage refused (a private window's quota): the token then lasts only as long as the page.
  }
}

/** Takes `?token=` out of the address bar, returning it if it was there. */
export function takeTokenFromUrl(): string | undefined {
  const url = new URL(window.location.href);
  const token = url.searchParams.get('token');
  if (token === null) return undefined;
  url.searchParams.delete('token');
  window.history.replaceState(window.history.state, '', `${url.pathname}${url.search}${url.hash}`);
  return token.trim() || undefined;
}
