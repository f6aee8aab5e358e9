// The send-time check, in one place: the silences (contract §9: a silence added while a delivery
// waits, for its first send or a retry, holds it back), then policy again just before a privileged
// send (the rules may have changed since the delivery was created). Silences come first, so a
// silenced privileged delivery is never counted against max_per_hour. Either the delivery may go,
// or here is what to record instead, or it is no longer waiting at all.
import type { Destination, EventObject, RouterConfig } from '../config/types.js';
import type { Digest } from '../event/model.js';
import { recheck } from '../policy/policy.js';
import { decideExisting } from '../policy/stored.js';
import type { SilenceCache } from '../silence/cache.js';
import { silencedReason } from '../silence/model.js';
import type { ClaimedDelivery, DeliveryUpdate, Store } from '../store/store.js';

export type GateVerdict =
  | { allowed: true }
  | { allowed: false; update: DeliveryUpdate; reason: string; silenced?: boolean }
  /** Someone else settled it meanwhile (retry, replay, another worker): neither send nor record. */
  | { allowed: false; update: null; reason: string };

export interface GateNoise {
  /** The silences in force (silence/cache.ts). */
  silences: SilenceCache;
  /** The digest the delivery carries, or null for one event. */
  digest: Digest | null;
}

export async function gate(
  c: ClaimedDelivery,
  dest: Destination | null,
  config: RouterConfig,
  event: EventObject,
  store: Store,
  now: number,
  noise: GateNoise,
): Promise<GateVerdict> {
  const silence = silenced(c, event, noise, now);
  if (silence !== null)
    return { allowed: false, silenced: true, reason: silence, update: { id: c.id, attempt: null, status: 'silenced', nextAttemptAt: null, reason: silence } };
  if (!dest?.privileged) return { allowed: true };
  let reason: string;
  if (c.privileged) {
    // Rate and age limits were spent when it was created; grant and `when` are checked again.
    const d = recheck(c.rule, dest, event, config.grants, c.origin === 'replay');
    if (d.allowed) return { allowed: true };
    reason = d.reason;
  } else {
    // Created before its destination became privileged: the full policy, as if new, counted
    // against max_per_hour in the store's transaction (many are claimed at once).
    const [r] = await store.admit([c.id], (row, counts) => decideExisting(counts, config, row, dest, event, now), { now, requeueDead: false });
    if (r!.outcome === 'skipped') return { allowed: false, update: null, reason: 'no longer waiting' };
    if (r!.outcome === 'admitted') return { allowed: true };
    reason = r!.reason ?? 'refused by policy';
  }
  return { allowed: false, reason, update: { id: c.id, attempt: null, status: 'blocked', nextAttemptAt: null, reason: `at send time: ${reason}` } };
}

/**
 * The reason a silence holds this delivery back now, or null. A digest is held when a silence
 * matches every event it carries (one gathered before a maintenance window, of another workflow,
 * must still go).
 */
function silenced(c: ClaimedDelivery, event: EventObject, noise: GateNoise, now: number): string | null {
  const { silences, digest } = noise;
  const events = digest ? digest.events.map((e) => e.event) : [event];
  const first = silences.find(events[0] ?? {}, c.rule, c.destination, now);
  if (first === null) return null;
  for (const e of events.slice(1)) if (silences.find(e, c.rule, c.destination, now) === null) return null;
  return silencedReason(first);
}
