import { fileURLToPath } from 'node:url';

/**
 * The absolute path of the built dashboard (index.html and its assets), for a server to serve at
 * `/`: `createCairnApi({ dashboardDir })`. The same from the source and from the built package.
 */
export const dashboardDir: string = fileURLToPath(new URL('../dist/app', import.meta.url));
