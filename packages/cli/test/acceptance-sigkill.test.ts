import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { built, keystream, manifest, prng, spawnCairn, writeRandomFile, type Spawned } from './acceptance-helpers.js';
import { tempDir } from './helpers.js';

/**
 * Acceptance: killing `cairn backup` with SIGKILL at random moments leaves a repository that
 * passes `check --read-data`, and the next backup completes, reuses what the killed runs stored,
 * and restores exactly. A real process is needed here: SIGKILL cannot be caught, so nothing of
 * the CLI's clean-up runs. One kill is tied to the work itself (right after the first index file
 * appears, so reuse is tested whatever the machine's speed); five more come from a seeded PRNG,
 * one in each fifth of the duration of an uncut backup measured first, so they are the same
 * fractions of the work on every run.
 */

const MiB = 1024 * 1024;
const KILLS = 5;
const SEED = 20_241_122;
const env = { CAIRN_PASSWORD: 'killed but not broken' };

let dir: { path: string; cleanup: () => Promise<void> };
let data: string;

beforeAll(async () => {
  dir = await tempDir('cairn-acceptance-kill-');
  data = join(dir.path, 'data');
});
afterAll(async () => {
  await dir?.cleanup();
});

/** About 300 MiB: 2,400 small files in 48 directories and three large ones, all incompressible. */
async function buildTree(root: string): Promise<number> {
  const random = prng(SEED);
  const bytes = keystream(SEED);
  let total = 0;
  for (let d = 0; d < 48; d++) {
    const sub = join(root, `small ${String(d).padStart(2, '0')}`);
    await mkdir(sub, { recursive: true });
    for (let f = 0; f < 50; f++) {
      const size = f === 0 ? 0 : Math.floor(random() * 64 * 1024);
      await writeFile(join(sub, `file-${f}.bin`), bytes.next(size));
      total += size;
    }
  }
  await mkdir(join(root, 'large'));
  for (const [i, size] of [96 * MiB, 72 * MiB, 48 * MiB + 12_345].entries()) {
    await writeRandomFile(join(root, 'large', `large-${i}.bin`), SEED + i, size);
    total += size;
  }
  return total;
}

async function cairn(args: string[]): Promise<Spawned> {
  return spawnCairn(args, { env, cwd: dir.path });
}

async function expectOk(args: string[]): Promise<string> {
  const result = await cairn(args);
  if (result.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${result.code ?? result.signal}: ${result.stderr}`);
  return result.stdout;
}

interface Summary { bytesAdded: number; bytesTotal: number; bytesRead: number; filesNew: number; filesUnchanged: number }

// Needs `pnpm build` (which `pnpm test` runs first); in CI a missing build is a failure, not a skip.
describe.skipIf(!built && !process.env.CI)('acceptance: SIGKILL during backup', () => {
  it('leaves a repository that passes check --read-data; the next backup reuses the stored data and restores exactly', async () => {
    const total = await buildTree(data);
    expect(total).toBeGreaterThan(280 * MiB);
    const expected = await manifest(data);

    // One uncut backup, into a repository of its own, tells how long the work takes here.
    const measureRepo = join(dir.path, 'measure-repo');
    await expectOk(['init', '--repo', measureRepo]);
    const started = performance.now();
    await expectOk(['backup', data, '--repo', measureRepo, '--json']);
    const duration = performance.now() - started;

    const repo = join(dir.path, 'repo');
    await expectOk(['init', '--repo', repo]);
    // Only finished objects count: a temp file beside them is what an interrupted write leaves.
    const indexFiles = async (): Promise<number> =>
      (await readdir(join(repo, 'index')).catch(() => [])).filter((name) => /^[0-9a-f]{64}$/.test(name)).length;
    const outcomes: Array<{ moment: string; killed: boolean }> = [];
    let completed = 0;
    let verified = { packs: 0, bytesRead: 0 };
    /** One backup, killed at `moment`; then the repository must pass check --read-data and list no partial snapshot. */
    const killedBackup = async (host: string, moment: string, kill: { killAfterMs?: number; killWhen?: () => Promise<boolean> }): Promise<void> => {
      // Each run has its own --host, so none finds a parent snapshot: every run does the whole work again.
      const run = await spawnCairn(['backup', data, '--repo', repo, '--host', host, '--json'], { env, cwd: dir.path, ...kill });
      const killed = run.signal === 'SIGKILL';
      outcomes.push({ moment, killed });
      if (!killed) {
        // Finished before the kill landed (the machine was faster this time): then it must have succeeded.
        expect(run.code, run.stderr).toBe(0);
        completed++;
      }
      const check = await cairn(['check', '--repo', repo, '--read-data', '--json']);
      expect(check.code, `check after a kill at ${moment}: ${check.stdout}${check.stderr}`).toBe(0);
      const report = JSON.parse(check.stdout) as { ok: boolean; problems: unknown[]; packs: number; bytesRead: number };
      expect(report).toMatchObject({ ok: true, problems: [] });
      verified = { packs: report.packs, bytesRead: report.bytesRead };
      // A snapshot is written last, after everything it names: a run killed before that leaves none,
      // one killed after it (between the write and the exit) leaves a whole one, which check has just verified.
      const snapshots = JSON.parse(await expectOk(['snapshots', '--repo', repo, '--json'])) as Array<{ summary: { complete: boolean } }>;
      expect(snapshots.length).toBeGreaterThanOrEqual(completed);
      expect(snapshots.length).toBeLessThanOrEqual(outcomes.length);
      expect(snapshots.every((snapshot) => snapshot.summary.complete)).toBe(true);
    };

    // First, the moment that matters most for reuse, whatever the machine's speed: right after the
    // first index file (naming the first packs) became visible, with most of the work still to do.
    await killedBackup('kill-after-index', 'the first index file', { killWhen: async () => (await indexFiles()) > 0 });
    expect(outcomes[0]!.killed).toBe(true);
    expect(verified.packs).toBeGreaterThan(0);

    // Then random moments, one in each fifth of the run: early (locks, first packs) and late (index, snapshot).
    const random = prng(SEED);
    for (let i = 0; i < KILLS; i++) {
      const delayMs = Math.round(duration * ((i + random()) / KILLS));
      await killedBackup(`kill-${i}`, `${delayMs} ms`, { killAfterMs: delayMs });
    }
    expect(outcomes.filter((o) => o.killed).length, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(4);

    const final = JSON.parse(await expectOk(['backup', data, '--repo', repo, '--json'])) as { id: string; summary: Summary };
    expect(final.summary.bytesTotal).toBe(total);
    // What the killed runs stored and indexed (verified.bytesRead: the indexed packs) is not stored again.
    expect(final.summary.bytesAdded).toBeLessThan(total - verified.bytesRead + 4 * MiB);
    expect(final.summary.bytesAdded).toBeLessThan(total * 0.9);

    // The killed runs' locks do not block an exclusive operation (their processes are gone), and
    // prune removes what they uploaded but never indexed without harming the snapshot.
    const pruned = JSON.parse(await expectOk(['prune', '--repo', repo, '--json'])) as { packsDeleted: number; dryRun: boolean };
    expect(pruned.dryRun).toBe(false);
    const afterFinal = JSON.parse(await expectOk(['check', '--repo', repo, '--read-data', '--json'])) as { ok: boolean };
    expect(afterFinal.ok).toBe(true);
    const out = join(dir.path, 'restored');
    await expectOk(['restore', final.id, '--repo', repo, '--target', out]);
    expect(await manifest(join(out, 'data'))).toEqual(expected);
  });
});
