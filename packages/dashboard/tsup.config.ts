import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base.js';

// Vite writes the web app to dist/app after this, so this build must not wipe dist.
export default defineConfig({ ...packageBuild(), clean: false });
