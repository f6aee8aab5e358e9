// The full policy for a delivery that already exists: one queued before its destination became
// privileged (decided at send time), or a dead one being retried. Decided as if it were new, now.
// Called by Store.admit inside its write transaction, with its counts: the count and the stamp
// that follows an allowance cannot be separated (max_per_hour holds with many sends at once).
import { eventTime } from '../event/accessors.js';
import type { Destination, RouterConfig } from '../event/config.js';
import type { EventObject } from '../event/model.js';
import type { PlanCounts, StoredDelivery } from '../store/store.js';
import { allowedInWindow, decide, type PolicyDecision } from './policy.js';

export function decideExisting(
  counts: PlanCounts,
  config: RouterConfig,
  delivery: Pick<StoredDelivery, 'rule' | 'destination' | 'origin'>,
  destination: Destination,
  event: EventObject,
  now: number,
): PolicyDecision {
  return decide({
    rule: delivery.rule,
    destination,
    event,
    eventTimeMs: eventTime(event, config.server.fields),
    grants: config.grants,
    allowedInLastHour: allowedInWindow(counts, delivery.rule, delivery.destination, now),
    now,
    replay: delivery.origin === 'replay',
  });
}
