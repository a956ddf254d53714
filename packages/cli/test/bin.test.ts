import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/cairn.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../dist/main.js', import.meta.url)));

function cairn(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 60_000 });
}

// Needs `pnpm build` (which `pnpm test` runs first); in CI a missing build is a failure, not a skip.
describe.skipIf(!built && !process.env.CI)('the built `cairn` binary', () => {
  it('prints help and exits 0', () => {
    const result = cairn(['--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Usage: cairn <command>');
    expect(result.stderr).toBe('');
  });

  it('prints one error line and no stack trace for bad usage (exit 2) and for a failure (exit 1)', () => {
    const usage = cairn(['backup', '--bogus']);
    expect(usage.status).toBe(2);
    expect(usage.stdout).toBe('');
    expect(usage.stderr).toBe('cairn: unknown option --bogus for `cairn backup`; see `cairn backup --help`\n');

    const failure = cairn(['snapshots', '--repo', '/nonexistent/cairn-repo'], { CAIRN_PASSWORD: 'pw' });
    expect(failure.status).toBe(1);
    expect(failure.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(failure.stderr).toMatch(/^cairn: /);
    expect(failure.stderr).not.toMatch(/^\s+at /m);
  });
});
