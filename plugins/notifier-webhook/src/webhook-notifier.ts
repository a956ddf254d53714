import { createHmac, randomUUID } from 'node:crypto';
import { CairnError, defineNotifier, redact, withRetry } from '@cairn/core';
import type { RunNotification } from '@cairn/core';
import { z } from 'zod';

export const webhookNotifierOptions = z.object({
  url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
    .describe('Where to POST the notification. Its query string and any credentials are hidden in logs and errors.'),
  secret: z.string().min(16, 'a signing secret needs at least 16 characters').optional()
    .describe('Shared secret: each request carries X-Cairn-Signature, an HMAC-SHA256 of the timestamp and the body, so the receiver can check it came from Cairn. Never logged.'),
  headers: z.record(z.string(), z.string()).default({})
    .describe('Extra request headers (an Authorization header for the receiver, say). Never logged.'),
  timeoutMs: z.number().int().min(100).max(300_000).default(10_000).describe('How long one attempt may take.'),
  retries: z.number().int().min(0).max(10).default(3)
    .describe('How often a failed delivery is tried again (network errors, 5xx, 429), with exponential back-off; other 4xx answers are not retried.'),
});
export type WebhookNotifierOptions = z.input<typeof webhookNotifierOptions>;

/** Version of the JSON body; bumped when a field changes meaning, never for added fields. */
export const WEBHOOK_BODY_VERSION = 1;
/** Longest Retry-After the notifier honours; a receiver asking for more is retried after this. */
const MAX_RETRY_AFTER_MS = 60_000;

/** A failed answer, with whether trying again may help. */
class DeliveryError extends CairnError {
  constructor(message: string, readonly retryable: boolean, readonly retryAfterMs?: number, options: { cause?: unknown } = {}) {
    super('NOTIFY_FAILED', message, { plugin: 'webhook', ...options });
  }
}

/**
 * Signs what the receiver checks: `<timestamp>.<body>`, so an old request cannot be replayed with
 * a new timestamp. The receiver recomputes it with the shared secret (see the README).
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** POSTs each run notification as JSON, signed when a secret is given, retried when the receiver may recover. */
export const webhookNotifier = defineNotifier({
  name: 'webhook',
  options: webhookNotifierOptions,
  create(options) {
    const where = redact(stripQuery(options.url));
    const { url, basicAuth } = splitCredentials(options.url);
    return {
      description: `webhook ${where}`,
      async notify(notification: RunNotification, ctx) {
        const body = JSON.stringify({ version: WEBHOOK_BODY_VERSION, ...notification });
        // One delivery id for every attempt: a receiver that got an earlier attempt can drop the repeat.
        const delivery = randomUUID();
        await withRetry(async () => {
          const timestamp = String(Math.floor(Date.now() / 1000));
          const headers: Record<string, string> = {
            ...(basicAuth && !Object.keys(options.headers).some((name) => name.toLowerCase() === 'authorization') ? { authorization: basicAuth } : {}),
            ...options.headers,
            'content-type': 'application/json',
            'user-agent': 'cairn-notifier-webhook',
            'x-cairn-delivery': delivery,
            'x-cairn-timestamp': timestamp,
            ...(options.secret ? { 'x-cairn-signature': webhookSignature(options.secret, timestamp, body) } : {}),
          };
          let response: Response;
          try {
            response = await fetch(url, { method: 'POST', headers, body, redirect: 'error', signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(options.timeoutMs)]) });
          } catch (error) {
            if (ctx.signal.aborted) throw new DeliveryError(`webhook ${where}: delivery given up (${String(ctx.signal.reason)})`, false, undefined, { cause: error });
            const cause = (error as { cause?: { code?: string; message?: string } }).cause;
            const why = (error as Error).name === 'TimeoutError' ? `no answer within ${options.timeoutMs / 1000} s` : redact(cause?.code ?? cause?.message ?? (error as Error).message);
            throw new DeliveryError(`webhook ${where}: cannot deliver (${why})`, true, undefined, { cause: error });
          }
          await response.body?.cancel().catch(() => undefined);
          if (response.ok) return;
          const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
          if (response.status === 429 || response.status >= 500) {
            throw new DeliveryError(`webhook ${where} answered ${status}`, true, parseRetryAfter(response.headers.get('retry-after')));
          }
          throw new DeliveryError(`webhook ${where} refused the notification (${status}): check the URL and what the receiver expects`, false);
        }, {
          attempts: options.retries + 1,
          signal: ctx.signal,
          retryable: (error) => error instanceof DeliveryError && error.retryable,
          delayFor: (error, computed) => (error instanceof DeliveryError && error.retryAfterMs !== undefined ? error.retryAfterMs : computed),
          onRetry: (error, attempt, delayMs) => ctx.logger.debug(`[webhook] ${(error as Error).message}; trying again in ${Math.round(delayMs)} ms (attempt ${attempt + 1})`),
        });
      },
    };
  },
});

/**
 * fetch refuses URLs with credentials, so `https://user:pass@host/…` becomes the URL without them
 * and a Basic Authorization header (an `authorization` in `headers` wins).
 */
function splitCredentials(raw: string): { url: string; basicAuth?: string } {
  const parsed = new URL(raw);
  if (!parsed.username && !parsed.password) return { url: raw };
  const credentials = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.href, basicAuth: `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}` };
}

function stripQuery(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.username ? `${parsed.username}:***@` : ''}${parsed.host}${parsed.pathname}${parsed.search ? '?…' : ''}`;
}

/** Seconds or an HTTP date, capped; undefined when absent or unreadable. */
function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) ? Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms)) : undefined;
}
