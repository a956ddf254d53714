export { webhookNotifier, webhookNotifierOptions, webhookSignature, WEBHOOK_BODY_VERSION } from './webhook-notifier.js';
export type { WebhookNotifierOptions } from './webhook-notifier.js';
