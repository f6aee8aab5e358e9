// The channel registry: one channel instance per destination type, created on first use, all
// closed together. The worker and `b3os-router ping` go through here.
import type { Destination } from '../../config/types.js';
import type { Channel, ChannelEnv } from './channel.js';
import { EmailChannel } from './email.js';
import { SlackChannel } from './slack.js';
import { WebhookChannel } from './webhook.js';

export type { Channel, ChannelEnv, Notification, SendResult } from './channel.js';
export { parseRetryAfter } from './http.js';
export { buildSlackMessage, PERMANENT_SLACK_ERRORS } from './slack.js';
export { defaultWebhookBody, webhookBody, webhookHeaders } from './webhook.js';
export { defaultSubject } from './email.js';

export interface Channels {
  channelFor(dest: Destination): Channel;
  /** Closes every channel created so far (pooled SMTP connections). Idempotent. */
  close(): Promise<void>;
}

export function createChannels(env: ChannelEnv): Channels {
  const made = new Map<Destination['type'], Channel>();
  const factories: Record<Destination['type'], () => Channel> = {
    slack: () => new SlackChannel(env),
    email: () => new EmailChannel(env),
    webhook: () => new WebhookChannel(),
  };
  return {
    channelFor(dest: Destination): Channel {
      let c = made.get(dest.type);
      if (!c) {
        const factory = factories[dest.type];
        if (!factory) throw new Error(`no channel for destination type ${String(dest.type)}`);
        c = factory();
        made.set(dest.type, c);
      }
      return c;
    },
    async close(): Promise<void> {
      const all = [...made.values()];
      made.clear();
      await Promise.allSettled(all.map((c) => c.close()));
    },
  };
}
