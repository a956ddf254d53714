export { labelStudioSource } from './label-studio-source.js';
export { labelStudioSourceOptions, labelStudioLocation } from './options.js';
export type { LabelStudioSourceOptions } from './options.js';
export { parseLabelStudioUrl } from './url.js';
export { jsonArrayItems } from './json-array.js';
