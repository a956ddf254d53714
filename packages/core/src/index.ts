export * from './errors.js';
export * from './contracts.js';
export type { Logger } from './logger.js';
export type * from '@cairn/repository';
