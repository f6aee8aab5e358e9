// What ingest hands the store for one event (Store.ingest's IngestItem), for the store suites:
// written once so that a field the store adds to NewEvent changes here alone.
import type { PlannedDelivery } from '../../src/event/model.js';
import type { IngestItem } from '../../src/store/store.js';

/** A delivery of the rule `all` to `destination`, waiting to be sent. */
export const pendingTo = (destination: string): PlannedDelivery => ({ rule: 'all', destination, privileged: false, status: 'pending', reason: null });

/**
 * The event `id` (key `id:ID`, payload {"id": ID} unless given), received at `receivedAt`; its
 * deliveries are `plan`'s, or one pending to each of `destinations` (default: `hook`).
 */
export function ingestItem(
  id: string,
  receivedAt: number,
  o: { type?: string; payload?: string; destinations?: readonly string[]; plan?: IngestItem['plan']; counted?: IngestItem['counted'] } = {},
): IngestItem {
  const destinations = o.destinations ?? ['hook'];
  const item: IngestItem = {
    event: {
      key: `id:${id}`,
      keyKind: 'event_id',
      eventId: id,
      runId: null,
      executionId: null,
      type: o.type ?? 'run.failed',
      receivedAt,
      payload: o.payload ?? JSON.stringify({ id }),
      routing: '{}',
    },
    plan: o.plan ?? (() => destinations.map(pendingTo)),
  };
  if (o.counted !== undefined) item.counted = o.counted;
  return item;
}
