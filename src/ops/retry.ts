// `retry`: dead deliveries back to pending. A delivery to a privileged destination goes through
// the full policy again first (grant, `when`, max_event_age, max_per_hour, as of now): a payment
// that died weeks ago is not re-sent just because an operator retried "everything dead".
import type { EventObject, RouterConfig } from '../config/types.js';
import { decideExisting } from '../policy/stored.js';
import type { Store, StoredDelivery } from '../store/store.js';

export interface RetryResult {
  requeued: string[];
  refused: { id: string; destination: string; reason: string }[];
}

export async function retryDead(store: Store, config: () => RouterConfig, dead: StoredDelivery[], now = Date.now()): Promise<RetryResult> {
  const allowed: string[] = [];
  const refused: RetryResult['refused'] = [];
  for (const d of dead) {
    const cfg = config();
    const dest = cfg.destinations.get(d.destination);
    if (!dest?.privileged) {
      allowed.push(d.id);
      continue;
    }
    const stored = await store.getEvent(d.eventSeq);
    let event: EventObject = {};
    try {
      event = stored ? (JSON.parse(stored.payload) as EventObject) : {};
    } catch {
      // An unreadable event has no time: max_event_age refuses it, and `when` sees nothing.
    }
    const decision = await decideExisting(store, cfg, d, dest, event, now);
    if (decision.allowed) allowed.push(d.id);
    else refused.push({ id: d.id, destination: d.destination, reason: decision.reason });
  }
  return { requeued: await store.requeueDead(allowed, now), refused };
}
