import type { Cairn, CairnConfig, RepositoryRef } from '@cairn/core';
import type { OptionSpecs, OptionValues } from './args.js';
import type { ProgressBar, ProgressStream } from './progress.js';

/** Where a run reads and writes; `run()` defaults to the real process. */
export interface CliIO {
  stdout: { write(text: string): unknown };
  stderr: ProgressStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Cancels the running operation (tests; the process IO aborts on SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** Install SIGINT/SIGTERM handlers for the duration of the run: only for the real process. */
  handleSignals?: boolean;
}

export interface CommandSpec {
  /** `backup`, or two words for a subcommand (`key passwd`). */
  name: string;
  summary: string;
  /** Usage line after `cairn `, e.g. `backup PATH... --repo R [options]`. */
  usage: string;
  /** Longer help, shown by `cairn <command> --help`. */
  description?: string;
  examples: string[];
  options: OptionSpecs;
  positionals: { min: number; max: number; names: string };
  /**
   * A service that runs until SIGINT or SIGTERM (`worker`, `schedule run`, `serve`): a signal is
   * how it is stopped, so a clean stop exits with the command's status (0), not 130/143.
   */
  service?: boolean;
  run(ctx: CommandContext): Promise<number>;
}

export interface CommandContext {
  readonly io: CliIO;
  readonly values: OptionValues;
  readonly positionals: string[];
  readonly json: boolean;
  readonly quiet: boolean;
  readonly debug: boolean;
  /** Aborted on SIGINT/SIGTERM (or `io.signal`). */
  readonly signal: AbortSignal;
  string(name: string): string | undefined;
  strings(name: string): string[];
  flag(name: string): boolean;
  /** A line of output on stdout. */
  print(text: string): void;
  /** A line on stdout that `--quiet` suppresses. */
  info(text: string): void;
  /** `cairn: warning: …` on stderr (never suppressed: warnings matter). */
  warn(text: string): void;
  /** Resolves `--repo`/`$CAIRN_REPOSITORY` and the password; usage errors (exit 2) when missing. */
  repository(passwordOverride?: string): Promise<RepositoryRef>;
  /** Names the repository a command works on (secret-free) for error messages, when it does not come from --repo. */
  noteRepository(location: string): void;
  /** The config (`--config FILE`, or cairn.config.{ts,mts,mjs,js} in the working directory), loaded and validated once. */
  config(): Promise<CairnConfig>;
  /** The config when there is one (`--config FILE`, or a cairn.config.* in the working directory); undefined otherwise. */
  configIfAny(): Promise<CairnConfig | undefined>;
  /** Makes `config` and `stateDir` this command's own (a config built in code, like `cairn serve`'s embedded default). */
  useConfig(config: CairnConfig, stateDir: string): void;
  /** The state folder (history, schedule state): `$CAIRN_STATE_DIR`, else the config's `stateDir` beside the config file (loading the config). */
  stateDir(): Promise<string>;
  /** The orchestrator, created on first use (with the config's targets and plugins once `config()` was called) and closed when the command ends. */
  cairn(): Promise<Cairn>;
  /** A progress bar on stderr; a no-op unless stderr is a TTY and neither --json nor --quiet is set. */
  progress(label: string): ProgressBar;
}

export const jsonOption = { json: { type: 'boolean', description: 'print one JSON value on stdout' } } satisfies OptionSpecs;

export const configOption = {
  config: { type: 'string', value: 'FILE', description: 'config file (default: cairn.config.ts, .mts, .mjs or .js in the working directory)' },
} satisfies OptionSpecs;
