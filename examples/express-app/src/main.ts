// Starts the projects app: `node src/main.ts` (after `pnpm build`, so @cairn packages resolve to
// their builds). DATA_DIR (default ./data) holds the projects and the recycle bin's repository;
// CAIRN_PASSWORD (required) encrypts it; PORT defaults to 3000, on 127.0.0.1.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createCairn } from '@cairn/core';
import { localTarget } from '@cairn/target-local';
import { createProjectsApp } from './app.ts';

const dataDir = resolve(process.env.DATA_DIR ?? 'data');
const password = process.env.CAIRN_PASSWORD;
if (!password) {
  console.error('projects-app: set CAIRN_PASSWORD to the recycle bin repository\'s password');
  process.exit(2);
}
const repository = { target: join(dataDir, 'recycle-bin'), password };
if (!existsSync(join(dataDir, 'recycle-bin', 'config'))) {
  const cairn = createCairn({ targets: [localTarget] });
  await cairn.init({ repository });
  await cairn.close();
}
const { app } = createProjectsApp({ dataDir, repository });
const port = Number(process.env.PORT ?? 3000);
app.listen(port, '127.0.0.1', () => console.log(`projects app on http://127.0.0.1:${port} (data in ${dataDir})`));
