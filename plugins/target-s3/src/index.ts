export { s3Target, s3TargetOptions } from './s3-target.js';
export type { S3TargetOptions } from './s3-target.js';
export { parseS3Url } from './s3-url.js';
