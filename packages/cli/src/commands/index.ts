import type { CommandSpec } from '../command.js';
import { abortCommand } from './abort.js';
import { backupCommand } from './backup.js';
import { checkCommand } from './check.js';
import { diffCommand } from './diff.js';
import { estimateCommand } from './estimate.js';
import { forgetCommand } from './forget.js';
import { historyCommand } from './history.js';
import { initCommand } from './init.js';
import { jobsCommand } from './jobs.js';
import { keyPasswdCommand } from './key-passwd.js';
import { logsCommand } from './logs.js';
import { lsCommand } from './ls.js';
import { pauseCommand, resumeCommand } from './pause-resume.js';
import { pruneCommand } from './prune.js';
import { restoreCommand } from './restore.js';
import { runCommand } from './run.js';
import { scheduleListCommand } from './schedule-list.js';
import { scheduleRunCommand } from './schedule-run.js';
import { serveCommand } from './serve.js';
import { snapshotsCommand } from './snapshots.js';
import { unlockCommand } from './unlock.js';
import { workerCommand } from './worker.js';

/** Every command, in the order `cairn --help` lists them. */
export const commands: readonly CommandSpec[] = [
  initCommand,
  backupCommand,
  snapshotsCommand,
  lsCommand,
  diffCommand,
  restoreCommand,
  checkCommand,
  forgetCommand,
  pruneCommand,
  keyPasswdCommand,
  unlockCommand,
  jobsCommand,
  runCommand,
  estimateCommand,
  scheduleListCommand,
  scheduleRunCommand,
  workerCommand,
  serveCommand,
  pauseCommand,
  resumeCommand,
  historyCommand,
  logsCommand,
  abortCommand,
];
