#!/usr/bin/env node
// The `cairn` command: checks the Node.js version, then runs the built CLI (dist/main.js).
import module from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 15)) {
  process.stderr.write(`cairn: Node.js 22.15 or newer is needed (this is ${process.version}); install a newer Node.js and retry\n`);
  process.exit(2);
}

// Until run() returns, the process counts as failed: if the event loop ever drained with an operation
// still pending (a bug), exiting 0 in silence would read as success.
let finished = false;

// `cairn snapshots | head` closes the pipe early: that is not an error worth a stack trace.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') {
    finished = true;
    process.exit(0);
  }
  throw error;
});

process.exitCode = 1;
process.on('exit', () => {
  if (!finished) process.stderr.write('cairn: internal error: the operation stopped before it finished; nothing it reported can be trusted\n');
});

// Compiled code is cached on disk, which takes a good part of start-up off every command after the
// first (NODE_DISABLE_COMPILE_CACHE=1 turns it off). In the user's own cache folder, not the shared
// temp folder: another account could plant code there for this one to run.
module.enableCompileCache?.(join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'cairn', 'compile-cache'));

import('../dist/main.js').then(
  async ({ run }) => {
    const code = await run(process.argv.slice(2));
    finished = true;
    process.exitCode = code;
    // Interrupted: do not wait for stray timers or sockets of the aborted operation.
    if (code >= 128) process.exit(code);
  },
  (error) => {
    finished = true;
    process.stderr.write(`cairn: cannot load the command (${error instanceof Error ? error.message : String(error)}); run \`pnpm build\` first\n`);
    process.exitCode = 1;
  },
);
