export { emailNotifier, emailNotifierOptions, SMTP_PASSWORD_ENV } from './email-notifier.js';
export type { EmailNotifierOptions } from './email-notifier.js';
