export { minioSource, minioSourceOptions, minioLocation } from './minio-source.js';
export type { MinioSourceOptions } from './minio-source.js';
export { parseMinioUrl } from './minio-url.js';
