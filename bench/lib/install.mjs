// Installs missing comparison tools with apt-get, only when we are root and apt-get exists.
// `apt-get update` runs only after a failed install, since package lists are usually present.
import { existsSync } from 'node:fs';
import { runPlain } from './measure.mjs';

const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

/** Tries to install Debian `packages`; resolves { ok, message }. Never throws. */
export async function aptInstall(packages, log) {
  if (packages.length === 0) return { ok: true, message: 'nothing to install' };
  if (!existsSync('/usr/bin/apt-get')) return { ok: false, message: 'apt-get is not available' };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { ok: false, message: 'not root, cannot apt-get install' };
  log(`installing ${packages.join(' ')} with apt-get ...`);
  let r = await runPlain('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { env: aptEnv });
  if (r.code !== 0) {
    log('apt-get install failed; running apt-get update and retrying ...');
    await runPlain('apt-get', ['update'], { env: aptEnv });
    r = await runPlain('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { env: aptEnv });
  }
  if (r.code !== 0) return { ok: false, message: `apt-get install ${packages.join(' ')} failed: ${r.stderr.trim().split('\n').pop()}` };
  return { ok: true, message: `installed ${packages.join(' ')}` };
}
