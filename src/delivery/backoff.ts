// When to try a failed delivery again. The delay is stored in the database (next_attempt_at), not
// slept on, so retry libraries that run the loop themselves do not fit; the formula is this one:
// exponential growth from `initial`, capped at `max`, with full jitter inside [initial, ceiling]
// so that a burst of failures does not come back as a burst of retries.
import type { DeliverySettings } from '../config/types.js';

/** Delay before attempt `failedAttempts + 1`, given `failedAttempts` (≥ 1) failures so far. */
export function backoffDelay(settings: Pick<DeliverySettings, 'backoffInitialMs' | 'backoffMaxMs'>, failedAttempts: number, random = Math.random): number {
  const initial = Math.max(0, settings.backoffInitialMs);
  const max = Math.max(initial, settings.backoffMaxMs);
  const ceiling = Math.min(max, initial * 2 ** Math.min(failedAttempts - 1, 40));
  return Math.round(initial + random() * (ceiling - initial));
}

/** A receiver's Retry-After is honoured, but never beyond a day (a typo must not park a delivery forever). */
export const MAX_RETRY_AFTER_MS = 24 * 3600_000;

export function nextAttemptDelay(settings: DeliverySettings, failedAttempts: number, retryAfterMs: number | undefined, random = Math.random): number {
  const base = backoffDelay(settings, failedAttempts, random);
  if (retryAfterMs === undefined || !(retryAfterMs > 0)) return base;
  return Math.max(base, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}
