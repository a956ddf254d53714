import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../src/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  signal?: AbortSignal;
  isTTY?: boolean;
}

/** Runs `cairn …` in-process with captured output and only the environment given. */
export async function cli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: { write: (text: string) => { stdout += text; return true; } },
    stderr: { write: (text: string) => { stderr += text; return true; }, isTTY: options.isTTY ?? false, columns: 100 },
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { code, stdout, stderr };
}

/** A fresh temporary directory, removed by the returned cleanup. */
export async function tempDir(prefix = 'cairn-cli-'): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** One line on stderr, starting `cairn: `, and no stack frame anywhere. */
export function expectOneErrorLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}:\n${stderr}`);
  if (!lines[0]!.startsWith('cairn: ')) throw new Error(`expected "cairn: …", got: ${lines[0]}`);
  // A stack frame: `at fn (/path/file.js:1:2)`, `at file:///x.mjs:1:2`, `at node:internal/…:1:2` (not a time such as "at 10:30:00").
  if (/\n\s+at /.test(stderr) || /\bat (?:\S+ \()?(?:file:\/\/|node:|\/)\S*:\d+:\d+\)?$/m.test(stderr)) throw new Error(`stack trace on stderr:\n${stderr}`);
  return lines[0]!;
}

const workspace = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * Makes `dir` look like a host app with @cairn packages installed: node_modules/@cairn/<name>
 * links to this workspace's packages (`core` → packages/core, `source-files` → plugins/source-files),
 * so a cairn.config there imports them as a user's would.
 */
export async function linkCairnPackages(dir: string, names: string[]): Promise<void> {
  await mkdir(join(dir, 'node_modules/@cairn'), { recursive: true });
  for (const name of names) {
    await symlink(join(workspace, name === 'core' ? 'packages/core' : `plugins/${name}`), join(dir, 'node_modules/@cairn', name));
  }
}
