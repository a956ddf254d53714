import { isIP } from 'node:net';
import { CairnError, ConfigError, defineNotifier, redact, withRetry } from '@cairn/core';
import type { RunNotification } from '@cairn/core';
import nodemailer from 'nodemailer';
import { z } from 'zod';
import { htmlOf, subjectOf, textOf } from './message.js';

const address = z.string().regex(/^[^\s@<>]+@[^\s@<>]+$/, 'expected an email address such as ops@example.com');

/** Where the password is read from when neither `password` nor the URL gives one. */
export const SMTP_PASSWORD_ENV = 'CAIRN_SMTP_PASSWORD';

const smtpServer = z.strictObject({
  host: z.string().min(1).describe('Host name or IP address of the mail server.'),
  port: z.number().int().min(1).max(65_535).optional().describe('Default 465 with `secure`, else 587.'),
  secure: z.boolean().default(false).describe('true: TLS from the start (smtps, port 465); false: STARTTLS on a plain connection.'),
  user: z.string().min(1).optional().describe('User to log in as; without it, no login.'),
});

export const emailNotifierOptions = z.object({
  smtp: z.union([
    z.string().regex(/^smtps?:\/\//i, 'expected smtp://[user@]host[:port] or smtps://[user@]host[:port]'),
    smtpServer,
  ], { error: 'expected smtp://[user@]host[:port], smtps://[user@]host[:port] or { host, port, secure, user }' })
    .describe('The mail server: `smtp://user@host:587` (STARTTLS, required by default), `smtps://user@host:465` (TLS from the start), or the same as `{ host, port, secure, user }`. A password in the URL works but is better given as `password`.'),
  password: z.union([z.string().min(1), z.strictObject({ env: z.string().min(1).describe('Environment variable holding the password.') })]).optional()
    .describe(`The SMTP password, or \`{ env: "VARIABLE" }\` to read it when sending. With a user and no password anywhere, \`${SMTP_PASSWORD_ENV}\` is read. Never logged.`),
  from: address.describe('The sender address.'),
  to: z.union([address, z.array(address).min(1)]).describe('One recipient or several.'),
  subjectPrefix: z.string().default('[cairn]').describe('Put before every subject, for mail filters.'),
  requireTls: z.boolean().default(true)
    .describe('For smtp://: refuse to send unless the server upgrades the connection with STARTTLS. false sends in the clear when it does not.'),
  insecureSkipCertificateCheck: z.boolean().default(false)
    .describe('Accept any TLS certificate. Anyone on the network path could then read the mail and the password; for tests only.'),
  timeoutMs: z.number().int().min(100).max(300_000).default(30_000).describe('How long connecting, the greeting and each command may take.'),
  retries: z.number().int().min(0).max(10).default(3).describe('How often a delivery is tried again after a network failure or a temporary (4xx) refusal.'),
});
export type EmailNotifierOptions = z.input<typeof emailNotifierOptions>;

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

/** Sends each run notification as an email: an actionable subject, every field in plain text and HTML. */
export const emailNotifier = defineNotifier({
  name: 'email',
  options: emailNotifierOptions,
  create(options) {
    const server = typeof options.smtp === 'string' ? parseServer(options.smtp)
      : { ...options.smtp, port: options.smtp.port ?? (options.smtp.secure ? 465 : 587), password: undefined };
    const where = `${server.host}:${server.port}`;
    const recipients = Array.isArray(options.to) ? options.to : [options.to];
    return {
      description: `email to ${recipients.join(', ')} via ${server.secure ? 'smtps' : 'smtp'}://${server.user ? `${server.user}@` : ''}${where}`,
      async notify(notification: RunNotification, ctx) {
        const subject = subjectOf(notification, options.subjectPrefix);
        const password = server.user ? passwordOf(options.password, server.password) : undefined;
        const transport = nodemailer.createTransport({
          host: server.host,
          port: server.port,
          secure: server.secure,
          requireTLS: !server.secure && options.requireTls,
          ...(server.user ? { auth: { user: server.user, pass: password ?? '' } } : {}),
          // SNI carries host names only; for an IP address the certificate is still checked against it.
          tls: { rejectUnauthorized: !options.insecureSkipCertificateCheck, ...(isIP(server.host) ? {} : { servername: server.host }) },
          connectionTimeout: options.timeoutMs,
          greetingTimeout: options.timeoutMs,
          socketTimeout: options.timeoutMs,
        });
        try {
          await withRetry(async () => {
            try {
              await untilAborted(transport.sendMail({ from: options.from, to: recipients, subject, text: textOf(notification), html: htmlOf(notification, subject) }), ctx.signal);
            } catch (error) {
              if (ctx.signal.aborted) throw new CairnError('NOTIFY_FAILED', `sending through ${where} given up (${String(ctx.signal.reason)})`, { plugin: 'email', cause: error });
              throw describe(error as SmtpError, where, server.user, password);
            }
          }, {
            attempts: options.retries + 1,
            signal: ctx.signal,
            retryable: (error) => error instanceof CairnError && (error as CairnError & { retryable?: boolean }).retryable === true,
            onRetry: (error, attempt, delayMs) => ctx.logger.debug(`[email] ${(error as Error).message}; trying again in ${Math.round(delayMs)} ms (attempt ${attempt + 1})`),
          });
        } finally {
          transport.close();
        }
      },
    };
  },
});

/**
 * Settles with `promise`, or rejects as soon as `signal` aborts. nodemailer cannot cancel a send:
 * its connection then ends by its own timeouts, but the caller (a deadline) is not kept waiting.
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The password from the options, the URL or the environment, read when sending (a host app may set it late). */
function passwordOf(option: string | { env: string } | undefined, fromUrl: string | undefined): string {
  if (typeof option === 'string') return option;
  if (option === undefined && fromUrl !== undefined) return fromUrl;
  const variable = option?.env ?? SMTP_PASSWORD_ENV;
  const value = process.env[variable];
  if (!value) {
    throw new CairnError('NOTIFY_FAILED', `environment variable ${variable} is ${value === undefined ? 'not set' : 'empty'}: set it to the SMTP password, or give password in the notifier's options`, { plugin: 'email' });
  }
  return value;
}

function parseServer(url: string): { host: string; port: number; secure: boolean; user?: string; password?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('email: smtp is not a URL: expected smtp://[user@]host[:port]', { plugin: 'email' });
  }
  const secure = parsed.protocol === 'smtps:';
  if (!parsed.hostname) throw new ConfigError('email: smtp has no host', { plugin: 'email' });
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port ? Number(parsed.port) : secure ? 465 : 587,
    secure,
    ...(parsed.username ? { user: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
  };
}

/** A one-line, secret-free error; `retryable` for what may pass (the network, a 4xx answer). */
function describe(error: SmtpError, where: string, user: string | undefined, password: string | undefined): CairnError {
  const scrub = (text: string) => redact(password ? text.split(password).join('***') : text).replace(/\s+/g, ' ').trim();
  // The server's own reply (`535 Invalid username or password`) says most; nodemailer keeps it in `response`.
  const reply = scrub(error.response ?? error.message);
  let message: string;
  let retryable = false;
  if (error.code === 'EAUTH') {
    message = `the mail server ${where} refused the login${user ? ` as "${user}"` : ''} (${reply}): check the user and password`;
  } else if (/certificate|self[- ]signed|unable to verify|altnames/i.test(error.message)) {
    message = `the certificate of the mail server ${where} is not trusted (${scrub(error.message)}): add its CA to NODE_EXTRA_CA_CERTS, or connect by the name it was issued for`;
  } else if (error.command === 'STARTTLS' && error.responseCode !== undefined) {
    // With requireTLS, nodemailer sends STARTTLS even when the server does not list it; the refusal comes back as ETLS.
    message = `the mail server ${where} does not offer STARTTLS (${reply}), and requireTls is on: use smtps://, or set requireTls: false to send in the clear`;
  } else if (error.code === 'ETLS') {
    message = `the TLS handshake with the mail server ${where} failed (${scrub(error.message)}): check the port (465 is smtps://, 587 and 25 are smtp:// with STARTTLS)`;
  } else if (error.code === 'ECONNECTION' || error.code === 'ETIMEDOUT' || error.code === 'ESOCKET' || error.code === 'EDNS' || error.code === 'ECONNREFUSED') {
    message = `cannot reach the mail server ${where} (${scrub(error.message)})`;
    retryable = true;
  } else if (error.responseCode !== undefined) {
    message = `the mail server ${where} refused the message (${reply})`;
    retryable = error.responseCode >= 400 && error.responseCode < 500;
  } else {
    message = `sending through ${where} failed (${scrub(error.message)})`;
  }
  return Object.assign(new CairnError('NOTIFY_FAILED', message, { plugin: 'email', cause: error }), { retryable });
}
