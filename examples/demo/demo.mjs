// Cairn's main job on an embedded default, as a new user would run it by hand: back up a sample
// folder into a local encrypted repository, change the folder, back it up again, list the
// snapshots and restore the first one, then prove the restore equals the original. Then it starts
// `cairn serve` on the embedded default, which prints where to open the dashboard and the token to
// sign in with, and serves until Ctrl-C (CAIRN_DEMO_SERVE=0 stops after the restore instead).
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'packages/cli/bin/cairn.js');
const work = join(root, '.cache/demo');
const sample = join(work, 'sample');
const repo = join(work, 'repository');
const restored = join(work, 'restored');
const env = { ...process.env, CAIRN_PASSWORD: process.env.CAIRN_PASSWORD ?? 'demo-password-change-me' };

function cairn(...args) {
  console.log(`\n$ cairn ${args.join(' ')}`);
  const out = execFileSync(process.execPath, [cli, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(out);
  return out;
}

function treeDigest(dir) {
  const hash = createHash('sha256');
  const walk = (d) => {
    const entries = readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const path = join(d, entry.name);
      hash.update(relative(dir, path));
      if (entry.isDirectory()) walk(path);
      else hash.update(readFileSync(path));
    }
  };
  walk(dir);
  return hash.digest('hex');
}

rmSync(work, { recursive: true, force: true });
mkdirSync(join(sample, 'notes'), { recursive: true });
mkdirSync(join(sample, 'photos'), { recursive: true });
for (let i = 0; i < 20; i++) writeFileSync(join(sample, 'notes', `note-${i}.txt`), `Note ${i}\n`.repeat(200 + i));
for (let i = 0; i < 3; i++) writeFileSync(join(sample, 'photos', `photo-${i}.jpg`), createHash('sha512').update(String(i)).digest().toString('hex').repeat(40_000));
console.log(`Sample folder with 23 files in ${relative(process.cwd(), sample)}; the password comes from CAIRN_PASSWORD.`);

cairn('init', '--repo', repo);
const first = JSON.parse(cairn('backup', sample, '--repo', repo, '--tag', 'first', '--json'));
const before = treeDigest(sample);

appendFileSync(join(sample, 'notes', 'note-0.txt'), 'An edit after the first backup.\n');
rmSync(join(sample, 'notes', 'note-1.txt'));
writeFileSync(join(sample, 'notes', 'new.txt'), 'A file added after the first backup.\n');
console.log('\nChanged the sample: edited note-0.txt, removed note-1.txt, added new.txt.');

cairn('backup', sample, '--repo', repo, '--tag', 'second');
cairn('snapshots', '--repo', repo);
cairn('diff', first.id.slice(0, 8), 'latest', '--repo', repo);
cairn('restore', first.id.slice(0, 8), '--repo', repo, '--target', restored);
cairn('check', '--repo', repo, '--read-data');

const after = treeDigest(join(restored, 'sample'));
if (after !== before) {
  console.error('\nThe restored first snapshot differs from the folder as it was backed up.');
  process.exit(1);
}
console.log(`\nRestored the first snapshot into ${relative(process.cwd(), restored)}/sample: identical to the folder as it was first backed up.`);

if (process.env.CAIRN_DEMO_SERVE === '0') process.exit(0);
const embedded = join(work, 'embedded');
console.log(`\n$ cairn serve   (the embedded default in ${relative(process.cwd(), embedded)}: a sample folder, an encrypted repository, history)`);
console.log('Open the url below in a browser and sign in with the token (or open url?token=…); Ctrl-C stops the server.\n');
const server = spawn(process.execPath, [cli, 'serve'], { env: { ...env, CAIRN_EMBEDDED_DIR: embedded }, stdio: 'inherit' });
// Ctrl-C reaches the server too (same process group); wait for it to stop cleanly.
process.on('SIGINT', () => {});
server.on('close', (code) => process.exit(code ?? 0));
