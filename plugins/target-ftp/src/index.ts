export { ftpTarget, ftpTargetOptions } from './ftp-target.js';
export type { FtpTargetOptions } from './ftp-target.js';
export { parseFtpUrl } from './ftp-url.js';
