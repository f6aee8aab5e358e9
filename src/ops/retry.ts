// `retry`: dead deliveries back to pending. A delivery to a privileged destination goes through
// the full policy again first (grant, `when`, max_event_age, max_per_hour, as of now): a payment
// that died weeks ago is not re-sent just because an operator retried "everything dead".
import type { EventObject, RouterConfig } from '../config/types.js';
import { eventTime } from '../ingest/event.js';
import { decide } from '../policy/policy.js';
import type { Store, StoredDelivery } from '../store/store.js';

const HOUR_MS = 3_600_000;

export interface RetryResult {
  requeued: string[];
  refused: { id: string; destination: string; reason: string }[];
}

export async function retryDead(store: Store, config: () => RouterConfig, dead: StoredDelivery[], now = Date.now()): Promise<RetryResult> {
  const allowed: string[] = [];
  const refused: RetryResult['refused'] = [];
  for (const d of dead) {
    const cfg = d.privileged || config().destinations.get(d.destination)?.privileged ? config() : null;
    const dest = cfg?.destinations.get(d.destination);
    if (!cfg || !dest?.privileged) {
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
    const decision = decide({
      rule: d.rule,
      destination: dest,
      event,
      eventTimeMs: eventTime(event, cfg.server.fields),
      grants: cfg.grants,
      allowedInLastHour: await store.allowedSince(d.rule, d.destination, now - HOUR_MS),
      now,
      replay: d.origin === 'replay',
    });
    if (decision.allowed) allowed.push(d.id);
    else refused.push({ id: d.id, destination: d.destination, reason: decision.reason });
  }
  return { requeued: await store.requeueDead(allowed, now), refused };
}
