import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { AbortedError, historyRecorder, loadConfig, redact } from '@cairn/core';
import type { Cairn, CairnConfig, Logger } from '@cairn/core';
import { findPositional, globalOptions, parseOptions, resolvePassword, resolveRepository, type OptionSpecs } from './args.js';
import type { CliIO, CommandContext, CommandSpec } from './command.js';
import { commands } from './commands/index.js';
import { UsageError, debugDetails, describeError, exitCodes } from './errors.js';
import { commandHelp, mainHelp } from './help.js';
import { createProgressBar } from './progress.js';
import { openHistory } from './state.js';

export type { CliIO } from './command.js';

/** The package version; `../package.json` is the same file from `src/` and from `dist/`. */
export const version: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The real process: stdout, stderr, environment, and SIGINT/SIGTERM handling. */
export function processIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), handleSignals: true };
}

interface RunState {
  debug: boolean;
  /** The repository as the user wrote it, once known, for error messages. */
  repo?: string;
  signal?: 'SIGINT' | 'SIGTERM';
  /** The command is a service stopped by SIGINT/SIGTERM (`worker`, `serve`): a clean stop exits with its own status. */
  service?: boolean;
}

/**
 * Runs one `cairn` command line and resolves to its exit status. Never throws and never calls
 * `process.exit`: errors become one line on `io.stderr` (plus the stack with `--debug`).
 */
export async function run(argv: string[] = process.argv.slice(2), io: CliIO = processIO()): Promise<number> {
  const terminator = argv.indexOf('--');
  const state: RunState = { debug: (terminator < 0 ? argv : argv.slice(0, terminator)).includes('--debug') };
  const controller = new AbortController();
  const cleanups: Array<() => void> = [];
  if (io.signal) cleanups.push(forwardAbort(io.signal, controller, state));
  if (io.handleSignals) cleanups.push(installSignalHandlers(controller, state));
  let cairn: Cairn | undefined;
  let afterClose: (() => Promise<void>) | undefined;
  try {
    const code = await dispatch(argv, io, state, controller.signal, (created, closing) => { cairn = created; afterClose = closing; });
    return state.signal && !state.service ? signalExit(state.signal) : code;
  } catch (error) {
    const described = describeError(error, { ...(state.repo ? { repo: state.repo } : {}), ...(state.signal ? { signal: state.signal } : {}) });
    if (state.debug) io.stderr.write(`${debugDetails(error)}\n`);
    io.stderr.write(`cairn: ${described.message}\n`);
    return state.signal ? signalExit(state.signal) : described.exitCode;
  } finally {
    if (cairn) {
      try {
        await (cairn as Cairn).close();
        await afterClose?.();
      } catch (error) {
        if (state.debug) io.stderr.write(`cairn: closing failed: ${debugDetails(error)}\n`);
      }
    }
    for (const cleanup of cleanups) cleanup();
  }
}

async function dispatch(argv: string[], io: CliIO, state: RunState, signal: AbortSignal, onCairn: (cairn: Cairn, afterClose: () => Promise<void>) => void): Promise<number> {
  const out = (text: string): void => void io.stdout.write(`${text}\n`);
  const at = findPositional(argv, 0, globalOptions);
  if (at < 0) {
    const { values } = parseOptions(argv, { ...globalOptions, version: { type: 'boolean', short: 'V', description: '' } }, 'cairn');
    if (values.version) {
      out(version);
      return exitCodes.ok;
    }
    if (values.help) {
      out(mainHelp(commands, version));
      return exitCodes.ok;
    }
    io.stderr.write(`${mainHelp(commands, version)}\n`);
    return exitCodes.usage;
  }

  let word = argv[at]!;
  const used = [at];
  if (word === 'help') {
    const rest = argv.slice(at + 1).filter((arg) => !arg.startsWith('-'));
    if (rest.length === 0) {
      out(mainHelp(commands, version));
      return exitCodes.ok;
    }
    const spec = findCommand(rest.join(' '));
    if (!spec) throw unknownCommand(rest.join(' '));
    out(commandHelp(spec));
    return exitCodes.ok;
  }

  const group = commands.filter((c) => c.name.startsWith(`${word} `));
  if (group.length > 0) {
    const groupOptions: OptionSpecs = Object.assign({}, globalOptions, ...group.map((c) => c.options));
    const next = findPositional(argv, at + 1, groupOptions);
    const subcommands = group.map((c) => c.name.slice(word.length + 1));
    if (next < 0) {
      if (argv.includes('--help') || argv.includes('-h')) {
        out(group.map(commandHelp).join('\n\n'));
        return exitCodes.ok;
      }
      throw new UsageError('CLI_UNKNOWN_COMMAND', `\`cairn ${word}\` needs a subcommand: ${subcommands.join(', ')}`);
    }
    if (!subcommands.includes(argv[next]!)) {
      throw new UsageError('CLI_UNKNOWN_COMMAND', `unknown subcommand \`cairn ${word} ${argv[next]}\`; try: ${subcommands.map((s) => `cairn ${word} ${s}`).join(', ')}`);
    }
    word = `${word} ${argv[next]}`;
    used.push(next);
  }
  const spec = findCommand(word);
  if (!spec) throw unknownCommand(word);

  const label = `cairn ${spec.name}`;
  const { values, positionals } = parseOptions(argv.filter((_, i) => !used.includes(i)), { ...globalOptions, ...spec.options }, label);
  state.debug = values.debug === true;
  if (values.help) {
    out(commandHelp(spec));
    return exitCodes.ok;
  }
  if (positionals.length < spec.positionals.min || positionals.length > spec.positionals.max) {
    throw new UsageError('CLI_BAD_ARGUMENTS', positionalProblem(spec, positionals));
  }

  const json = values.json === true;
  const quiet = values.quiet === true;
  let cairn: Cairn | undefined;
  let config: CairnConfig | undefined;
  let configFile: string | undefined;
  /** Where history and schedule state live: CAIRN_STATE_DIR, else the config's stateDir beside it; undefined without either. */
  let ownStateDir: string | undefined;
  const knownStateDir = (): string | undefined => {
    if (io.env.CAIRN_STATE_DIR) return resolve(io.cwd, io.env.CAIRN_STATE_DIR);
    if (ownStateDir) return ownStateDir;
    if (config && configFile) return resolve(dirname(configFile), config.stateDir ?? '.cairn');
    return undefined;
  };
  const ctx: CommandContext = {
    io, values, positionals, json, quiet, debug: state.debug, signal,
    string: (name) => (typeof values[name] === 'string' ? values[name] : undefined),
    strings: (name) => (Array.isArray(values[name]) ? values[name] : []),
    flag: (name) => values[name] === true,
    print: out,
    info: (text) => { if (!quiet) out(text); },
    warn: (text) => void io.stderr.write(`cairn: warning: ${text}\n`),
    async repository() {
      const { location, display } = resolveRepository(values, io.env, io.cwd);
      state.repo = display;
      const password = await resolvePassword(values, io.env, io.cwd);
      return { target: location, password };
    },
    noteRepository(location) {
      state.repo = redact(location);
    },
    async config() {
      if (!config) {
        configFile = findConfigFile(typeof values.config === 'string' ? values.config : undefined, io.cwd);
        config = await loadConfig(configFile);
      }
      return config;
    },
    async configIfAny() {
      if (config) return config;
      if (typeof values.config !== 'string' && !CONFIG_NAMES.some((name) => existsSync(join(io.cwd, name)))) return undefined;
      return ctx.config();
    },
    useConfig(given, dir) {
      config = given;
      ownStateDir = dir;
    },
    async stateDir() {
      if (!io.env.CAIRN_STATE_DIR && !ownStateDir) await ctx.config();
      return knownStateDir()!;
    },
    async cairn() {
      if (!cairn) {
        const { createCliCairn } = await import('./plugins.js');
        cairn = createCliCairn(cliLogger(io, state.debug), io.env, config);
        // Runs are recorded wherever a state folder is known, so `cairn history` and `cairn logs` find them.
        const stateDir = knownStateDir();
        // Each job's verbosity (`logLevel`) decides which of its lines history keeps.
        const jobLevels = Object.fromEntries(Object.entries(config?.jobs ?? {}).flatMap(([name, job]) => (job.logLevel ? [[name, job.logLevel]] : [])));
        const recorder = stateDir ? historyRecorder(openHistory(stateDir), { jobLevels }) : undefined;
        if (recorder) cairn.use(recorder);
        onCairn(cairn, async () => {
          if (!recorder) return;
          await recorder.flush();
          await recorder.store.close();
        });
      }
      return cairn;
    },
    progress: (progressLabel) => createProgressBar(io.stderr, { enabled: io.stderr.isTTY === true && !json && !quiet, label: progressLabel }),
  };
  state.service = spec.service === true;
  return spec.run(ctx);
}

const CONFIG_NAMES = ['cairn.config.ts', 'cairn.config.mts', 'cairn.config.mjs', 'cairn.config.js'];

/** `--config FILE` as given, or the first cairn.config.* in the working directory. */
function findConfigFile(given: string | undefined, cwd: string): string {
  if (given !== undefined) {
    if (!given.trim()) throw new UsageError('CLI_BAD_VALUE', '--config needs a file');
    return resolve(cwd, given);
  }
  const found = CONFIG_NAMES.map((name) => join(cwd, name)).find((path) => existsSync(path));
  if (!found) throw new UsageError('CLI_MISSING_CONFIG', `no config: pass --config FILE or create ${CONFIG_NAMES[0]} in ${cwd} (see docs/operations.md)`);
  return found;
}

function findCommand(name: string): CommandSpec | undefined {
  return commands.find((c) => c.name === name);
}

function unknownCommand(word: string): UsageError {
  const names = commands.map((c) => c.name.split(' ')[0]!);
  const close = names
    .map((name) => ({ name, distance: editDistance(word, name) }))
    .filter((c) => c.distance <= 2)
    .sort((a, b) => a.distance - b.distance)[0];
  return new UsageError('CLI_UNKNOWN_COMMAND', `unknown command \`${word}\`; ${close ? `did you mean \`cairn ${close.name}\`? ` : ''}run \`cairn --help\` for the list`);
}

function positionalProblem(spec: CommandSpec, positionals: string[]): string {
  const label = `cairn ${spec.name}`;
  if (spec.positionals.max === 0) return `\`${label}\` takes no arguments, got ${positionals.map((p) => `'${p}'`).join(' ')}; see \`${label} --help\``;
  if (positionals.length < spec.positionals.min) return `\`${label}\` needs ${spec.positionals.names}; usage: cairn ${spec.usage}`;
  return `too many arguments for \`${label}\` (expected ${spec.positionals.names}); usage: cairn ${spec.usage}`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** Library log lines go to stderr only with `--debug`: the command prints its own results and warnings. */
/**
 * The library's log lines on stderr: all of them with --debug. Otherwise warnings and errors that
 * are not about one run (a scheduler that cannot queue, history that cannot be written, an FTP
 * retry): a run's own lines (unreadable entries, its failure) are what the command reports from
 * the run's result, and stay in its log (`cairn logs RUN`), so they are not printed twice.
 */
function cliLogger(io: CliIO, debug: boolean): Logger {
  const write = (level: 'debug' | 'info' | 'warning' | 'error') => (message: string, fields?: Record<string, unknown>): void => {
    if (!debug && (level === 'debug' || level === 'info' || fields?.run !== undefined)) return;
    const details = debug && fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : '';
    io.stderr.write(`cairn: ${level}: ${message}${details}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warning'), error: write('error') };
}

function signalExit(signal: 'SIGINT' | 'SIGTERM'): number {
  return signal === 'SIGTERM' ? exitCodes.sigterm : exitCodes.sigint;
}

function forwardAbort(outer: AbortSignal, controller: AbortController, state: RunState): () => void {
  const onAbort = (): void => {
    state.signal ??= outer.reason === 'SIGTERM' ? 'SIGTERM' : 'SIGINT';
    controller.abort(new AbortedError(`interrupted by ${state.signal}`));
  };
  if (outer.aborted) onAbort();
  else outer.addEventListener('abort', onAbort, { once: true });
  return () => outer.removeEventListener('abort', onAbort);
}

/**
 * The first SIGINT/SIGTERM aborts the running operation, which then stops cleanly (locks released,
 * nothing half-written visible); a second one exits at once.
 */
function installSignalHandlers(controller: AbortController, state: RunState): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    if (state.signal) process.exit(signalExit(signal === 'SIGTERM' ? 'SIGTERM' : 'SIGINT'));
    state.signal = signal === 'SIGTERM' ? 'SIGTERM' : 'SIGINT';
    controller.abort(new AbortedError(`interrupted by ${signal}`));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
