import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { resolvePassword } from '@cairn/core';
import { parseInteger } from '../args.js';
import { configOption, type CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { embeddedDefault, secretFile } from '../embedded.js';
import type { EmbeddedDefault } from '../embedded.js';
import { startJobService, untilStopped } from '../job-service.js';
import { formatTime } from '../output.js';
import { openHistory } from '../state.js';

/** The admin token `cairn serve` prints is valid this long; sign others with `signToken` from @cairn/server. */
const TOKEN_LIFETIME = '12h';

export const serveCommand: CommandSpec = {
  name: 'serve',
  summary: 'serve the HTTP API and the web dashboard (the embedded default without a config)',
  usage: 'serve [--port P] [--host H] [--config FILE]',
  description: 'Serves the HTTP API (under /api, see docs/api.md) and the dashboard (at /) until SIGINT or SIGTERM, fires the\n'
    + 'config\'s schedules, and — with the local executor — runs the jobs it queues; with a shared queue, `cairn worker`\n'
    + 'processes run them. Without a config it serves the embedded default: a generated sample folder, an encrypted\n'
    + 'local repository and SQLite history in one folder ($CAIRN_EMBEDDED_DIR, default ~/.local/share/cairn/embedded).\n'
    + 'Tokens are checked against $CAIRN_API_SECRET (HS256) or the JWKS at $CAIRN_API_JWKS_URL; without either, a secret\n'
    + 'is made once in the state folder. Restores into a folder (POST /api/restores) go inside $CAIRN_RESTORE_DIR, default\n'
    + 'the state folder\'s restores/ (made owner-only), never elsewhere. It prints the URL and, when it knows the secret,\n'
    + 'an admin token valid 12 hours, each on its own line (`url: …`, `token: …`). It listens on 127.0.0.1 unless --host\n'
    + 'says otherwise.',
  examples: ['cairn serve', 'cairn serve --port 8080 --config /etc/cairn/cairn.config.ts', 'cairn serve --host 0.0.0.0 --port 443'],
  options: {
    port: { type: 'string', value: 'P', description: 'TCP port, 0 for any free one (default 7420)' },
    host: { type: 'string', value: 'H', description: 'address to listen on (default 127.0.0.1: this machine only)' },
    ...configOption,
  },
  positionals: { min: 0, max: 0, names: '' },
  service: true,
  async run(ctx) {
    const port = parseInteger('port', ctx.string('port') ?? '7420', { min: 0, max: 65_535 });
    const host = ctx.string('host') ?? '127.0.0.1';
    if (!host.trim()) throw new UsageError('CLI_BAD_VALUE', '--host needs an address, e.g. 127.0.0.1');
    const say = (line: string) => ctx.print(`${formatTime(new Date())}  ${line}`);

    let config = await ctx.configIfAny();
    let embedded: EmbeddedDefault | undefined;
    if (!config) {
      embedded = await embeddedDefault(ctx.io.env);
      ctx.useConfig(embedded.config, embedded.stateDir);
      config = embedded.config;
      say(`no config here: serving the embedded default in ${embedded.dir} (sample data in ${embedded.sample})`);
    }
    const stateDir = await ctx.stateDir();
    const cairn = await ctx.cairn();
    // The embedded default's repository is made on first use; a config's repositories must exist already.
    if (embedded && !existsSync(embedded.repository)) {
      await cairn.init({ repository: { target: embedded.repository, password: resolvePassword({ file: embedded.passwordFile }) }, requestedBy: 'cli:serve' });
      say(`created the encrypted repository ${embedded.repository} (its password is in ${embedded.passwordFile})`);
    }

    const { createCairnApi, signToken } = await import('@cairn/server');
    const { dashboardDir } = await import('@cairn/dashboard');
    const jwksUrl = ctx.io.env.CAIRN_API_JWKS_URL;
    const secret = ctx.io.env.CAIRN_API_SECRET ?? (jwksUrl ? undefined : await secretFile(join(stateDir, 'api-secret'), () => randomBytes(32).toString('base64url')));
    // The API restores into folders inside this one only: an admin token must not write anywhere the server may.
    const restoreDir = resolve(ctx.io.cwd, ctx.io.env.CAIRN_RESTORE_DIR || join(stateDir, 'restores'));
    await mkdir(restoreDir, { recursive: true, mode: 0o700 });
    const history = openHistory(stateDir);
    const service = await startJobService(ctx, cairn, config, stateDir, say);
    const api = createCairnApi({
      cairn, config, queue: service.queue, history, env: ctx.io.env, logger: cairn.logger, dashboardDir, restoreDir,
      ...(service.scheduler ? { scheduler: service.scheduler } : {}),
      auth: secret ? { secret } : { jwksUrl: jwksUrl! },
    });
    // Imported here: an ESM import of node:http costs every other command ~50 ms of start-up (it loads undici).
    const { createServer } = await import('node:http');
    const server = createServer(api.handler);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
    } catch (error) {
      await api.close();
      await service.stop();
      await history.close();
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new UsageError('CLI_BAD_VALUE', `port ${port} on ${host} is in use: pick another with --port`);
      if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError('CLI_BAD_VALUE', `--host ${host}: not an address of this machine`);
      throw error;
    }
    try {
      const address = server.address() as AddressInfo;
      const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      ctx.print(`url: http://${shown}:${address.port}/`);
      if (secret) ctx.print(`token: ${await signToken(secret, { sub: 'admin', roles: ['admin'] }, { expiresIn: TOKEN_LIFETIME })}`);
      say(`restores into a folder go inside ${restoreDir}`);
      say(`serving the API and the dashboard (${service.queue.shared ? `runs queued on the ${service.queue.kind} queue for workers` : 'runs in this process'}); stop with Ctrl-C or SIGTERM`);
      await untilStopped(ctx.signal);
    } finally {
      await api.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await service.stop();
      await history.close();
    }
    say('stopped');
    return 0;
  },
};
