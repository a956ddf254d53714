import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base.js';

// main.ts is what bin/cairn.js loads; index.ts is the library surface (`run` for embedding and tests).
export default defineConfig(packageBuild(['src/index.ts', 'src/main.ts']));
