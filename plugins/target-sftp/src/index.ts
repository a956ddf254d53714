export { sftpTarget } from './sftp-target.js';
export { sftpTargetOptions } from './sftp-options.js';
export type { SftpTargetOptions } from './sftp-options.js';
export { parseSftpUrl } from './sftp-url.js';
