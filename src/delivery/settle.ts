// What an attempt's result does to its delivery: delivered, failed (to be retried after a backoff,
// or the receiver's Retry-After), or dead (a permanent failure, or out of attempts). Pure: the
// worker records what this returns (test/delivery-settle.test.ts has the table).
import type { DeliverySettings } from '../config/types.js';
import type { DeliveryUpdate, StoredDelivery } from '../store/store.js';
import { nextAttemptDelay } from './backoff.js';
import type { SendResult } from './channels/channel.js';

export interface AttemptOutcome {
  result: SendResult;
  startedAt: number;
  durationMs: number;
  /** Shutdown cut the send short: not an attempt (the delivery stays pending, resumed at start). */
  cut: boolean;
}

export function settle(
  delivery: Pick<StoredDelivery, 'id' | 'attempts' | 'roundAttempts'>,
  outcome: AttemptOutcome,
  settings: Pick<DeliverySettings, 'maxAttempts' | 'backoffInitialMs' | 'backoffMaxMs'>,
  now: number,
  random: () => number = Math.random,
): DeliveryUpdate | null {
  const { result } = outcome;
  if (outcome.cut && result.outcome !== 'delivered') return null;
  const attempt = {
    deliveryId: delivery.id,
    attempt: delivery.attempts + 1,
    startedAt: outcome.startedAt,
    durationMs: outcome.durationMs,
    outcome: result.outcome,
    code: result.code,
    error: result.outcome === 'delivered' ? null : result.error,
  };
  if (result.outcome === 'delivered') return { id: delivery.id, attempt, status: 'delivered', nextAttemptAt: null, reason: null };
  const round = delivery.roundAttempts + 1;
  if (result.outcome === 'permanent') return { id: delivery.id, attempt, status: 'dead', nextAttemptAt: null, reason: result.error };
  if (round >= settings.maxAttempts) {
    return { id: delivery.id, attempt, status: 'dead', nextAttemptAt: null, reason: `${result.error} (gave up after ${round} attempts)` };
  }
  const delay = nextAttemptDelay(settings as DeliverySettings, round, result.retryAfterMs, random);
  return { id: delivery.id, attempt, status: 'failed', nextAttemptAt: now + delay, reason: result.error };
}
