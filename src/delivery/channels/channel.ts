// One small interface for every integration. A channel sends one notification and says what
// happened; it never sleeps or retries by itself: the worker (delivery/worker.ts) owns retries,
// backoff and bookkeeping, so every retry concern lives in one place.
import type { Destination, EventObject, Template, TemplateEscape } from '../../config/types.js';
import type { Digest } from '../../dispatch/digest.js';

export type SendResult =
  /** The receiver accepted it. `code`: HTTP status, SMTP code or Slack's `ok`. */
  | { outcome: 'delivered'; code: string | null; detail?: string }
  /** Failed; worth trying again. `retryAfterMs`: the receiver's own earliest retry time, if it said. */
  | { outcome: 'retry'; code: string | null; error: string; retryAfterMs?: number }
  /** Failed for good (bad channel, bad auth, a 4xx that will not change): not retried. */
  | { outcome: 'permanent'; code: string | null; error: string };

export interface Notification {
  /** Stable across attempts: sent as Idempotency-Key by the webhook channel. */
  deliveryId: string;
  /** 1-based attempt number. */
  attempt: number;
  rule: string;
  destination: Destination;
  event: EventObject;
  /** The event exactly as B3OS sent it (raw body text). */
  rawEvent: string;
  eventType: string | null;
  /** The rule's `message`, or the default summary when it has none or it fails, escaped for `escape`. */
  message(escape: TemplateEscape): string;
  /** Renders a destination template (subject, body); `fallback` when it is null or fails to render. */
  render(template: Template | null, escape: TemplateEscape, fallback: () => string): string;
  /** True for `b3os-router ping`: the channel may mark the message as a test. */
  test?: boolean;
  /** Noise control: set when this notification carries several events (dispatch/digest.ts);
   * `event` is then the first of them, and channels use their digest defaults. */
  digest?: Digest;
}

/** What channels may read from the process environment, resolved once at start. */
export interface ChannelEnv {
  slackBotToken: string | null;
  /** Base URL of the Slack Web API, ending in '/'. */
  slackApiUrl: string | null;
  smtpUrl: string | null;
}

export interface Channel {
  send(n: Notification, signal: AbortSignal): Promise<SendResult>;
  /** Releases pooled connections. */
  close(): Promise<void>;
}
