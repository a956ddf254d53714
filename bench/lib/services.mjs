// The connection settings `scripts/services` writes for the test servers, for the bench sections.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Reads the `export NAME=value` lines of the services' env file. */
export function readServiceEnv(file = join(process.env.CAIRN_SERVICES_DIR ?? '/tmp/cairn-services', 'env')) {
  const env = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (match) env[match[1]] = match[2];
  }
  return env;
}
