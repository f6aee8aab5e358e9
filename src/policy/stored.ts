// The full policy for a delivery that already exists: one queued before its destination became
// privileged (decided at send time), or a dead one being retried. Decided as if it were new, now,
// with the store's count of what the grant allowed during the last hour.
import type { Destination, EventObject, RouterConfig } from '../config/types.js';
import { eventTime } from '../ingest/event.js';
import type { Store, StoredDelivery } from '../store/store.js';
import { RATE_WINDOW_MS, decide, type PolicyDecision } from './policy.js';

export async function decideExisting(
  store: Pick<Store, 'allowedSince'>,
  config: RouterConfig,
  delivery: Pick<StoredDelivery, 'rule' | 'destination' | 'origin'>,
  destination: Destination,
  event: EventObject,
  now: number,
): Promise<PolicyDecision> {
  return decide({
    rule: delivery.rule,
    destination,
    event,
    eventTimeMs: eventTime(event, config.server.fields),
    grants: config.grants,
    allowedInLastHour: await store.allowedSince(delivery.rule, delivery.destination, now - RATE_WINDOW_MS),
    now,
    replay: delivery.origin === 'replay',
  });
}
