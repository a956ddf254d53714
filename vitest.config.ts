import { existsSync, readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

loadServiceSettings();

export default defineConfig({
  resolve: { conditions: ['@cairn/source'] },
  ssr: { resolve: { conditions: ['@cairn/source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'plugins/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});

/**
 * Takes the test servers' settings from the file `scripts/services up` writes, so `vitest` run
 * by hand finds them too. Variables already set win, except NODE_EXTRA_CA_CERTS: the file's is a
 * bundle of the machine's own extra certificates and the test servers'. The forked test workers
 * inherit them, which is how NODE_EXTRA_CA_CERTS reaches them before their TLS stack starts.
 */
function loadServiceSettings(): void {
  const file = `${process.env.CAIRN_SERVICES_DIR ?? '/tmp/cairn-services'}/env`;
  if (!existsSync(file)) return;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (match && (process.env[match[1]!] === undefined || match[1] === 'NODE_EXTRA_CA_CERTS')) process.env[match[1]!] = match[2]!;
  }
}
