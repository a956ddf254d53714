export { run, processIO, version } from './main.js';
export type { CliIO } from './command.js';
export { describeError, exitCodes, UsageError, CommandFailed } from './errors.js';
export type { UsageErrorCode, DescribedError } from './errors.js';
export { parseDuration, parseTime, parseInteger } from './args.js';
export type { Duration } from './args.js';
