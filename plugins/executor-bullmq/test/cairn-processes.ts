import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Real `cairn` processes for the queue's acceptance tests, run from this checkout's sources (see
 * fixtures/cairn-from-source.mjs), so no build is needed. Every process started is remembered, so
 * a timeout can show what each printed and `stopAll` leaves none behind.
 */

const entry = fileURLToPath(new URL('./fixtures/cairn-from-source.mjs', import.meta.url));

export interface CairnProcess {
  child: ChildProcess;
  out: string;
  err: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface CairnProcesses {
  /** Starts `cairn ARGS` in `cwd` with `env` (plus PATH and the extra variables given). */
  start(args: string[], extraEnv?: Record<string, string>): CairnProcess;
  /** Runs `cairn ARGS` to the end and returns its status and output. */
  done(args: string[], extraEnv?: Record<string, string>): Promise<{ code: number | null; out: string; err: string }>;
  /** Polls `condition` every 50 ms; on timeout, throws with what every process printed. */
  until(what: string, condition: () => boolean | Promise<boolean>, ms?: number): Promise<void>;
  /** SIGKILLs what still runs and waits for every process to end. */
  stopAll(): Promise<void>;
}

export function cairnProcesses(cwd: string, env: Record<string, string>): CairnProcesses {
  const processes: CairnProcess[] = [];
  const describe = (): string => processes.map((p, i) => `--- process ${i} (cairn ${p.child.spawnargs.slice(5).join(' ')}):\n${p.out}${p.err}`).join('\n');
  const start = (args: string[], extraEnv: Record<string, string> = {}): CairnProcess => {
    const child = spawn(process.execPath, ['--conditions=@cairn/source', '--experimental-transform-types', '--no-warnings', entry, ...args], {
      cwd,
      env: { PATH: process.env.PATH, ...env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc: CairnProcess = {
      child, out: '', err: '',
      exited: new Promise((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (code, signal) => resolve({ code, signal }));
      }),
    };
    child.stdout!.setEncoding('utf8').on('data', (text: string) => { proc.out += text; });
    child.stderr!.setEncoding('utf8').on('data', (text: string) => { proc.err += text; });
    processes.push(proc);
    return proc;
  };
  return {
    start,
    async done(args, extraEnv) {
      const proc = start(args, extraEnv);
      const { code } = await proc.exited;
      return { code, out: proc.out, err: proc.err };
    },
    async until(what, condition, ms = 60_000) {
      const deadline = Date.now() + ms;
      while (!(await condition())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${describe()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stopAll() {
      // CAIRN_DEBUG_WORKERS=1 shows what every cairn process printed.
      if (process.env.CAIRN_DEBUG_WORKERS) console.log(describe());
      for (const proc of processes) if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
      await Promise.all(processes.map((proc) => proc.exited.catch(() => undefined)));
    },
  };
}
