// The send-time check, in one place: policy again just before a privileged send (the rules may
// have changed since the delivery was created), later silences too. Either the delivery may go,
// or here is what to record instead, or it is no longer waiting at all.
import type { Destination, EventObject, RouterConfig } from '../config/types.js';
import { recheck } from '../policy/policy.js';
import { decideExisting } from '../policy/stored.js';
import type { ClaimedDelivery, DeliveryUpdate, Store } from '../store/store.js';

export type GateVerdict =
  | { allowed: true }
  | { allowed: false; update: DeliveryUpdate; reason: string }
  /** Someone else settled it meanwhile (retry, replay, another worker): neither send nor record. */
  | { allowed: false; update: null; reason: string };

export async function gate(c: ClaimedDelivery, dest: Destination | null, config: RouterConfig, event: EventObject, store: Store, now: number): Promise<GateVerdict> {
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
