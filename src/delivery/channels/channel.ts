// One small interface for every integration. A channel belongs to one configured destination
// (createChannel in ./index.ts), carries one composed payload (delivery/compose.ts) and says what
// happened; it never sleeps or retries by itself: the worker (delivery/worker.ts) owns retries,
// backoff and bookkeeping, so every retry concern lives in one place.
import type { Composed } from '../compose.js';

export type SendResult =
  /** The receiver accepted it. `code`: HTTP status, SMTP code or Slack's `ok`. */
  | { outcome: 'delivered'; code: string | null; detail?: string }
  /** Failed; worth trying again. `retryAfterMs`: the receiver's own earliest retry time, if it said. */
  | { outcome: 'retry'; code: string | null; error: string; retryAfterMs?: number }
  /** Failed for good (bad channel, bad auth, a 4xx that will not change): not retried. */
  | { outcome: 'permanent'; code: string | null; error: string };

export type { ChannelEnv } from '../../config/options.js';

export interface Channel {
  send(payload: Composed, signal: AbortSignal): Promise<SendResult>;
  /** Releases its pooled connections (its own: no channel shares any with another). */
  close(): Promise<void>;
}
