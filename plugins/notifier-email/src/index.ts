export { emailNotifier, emailNotifierOptions } from './email-notifier.js';
export type { EmailNotifierOptions } from './email-notifier.js';
