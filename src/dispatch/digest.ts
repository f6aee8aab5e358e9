// The events a digest carries (contract §9), read for the worker just before each send (and for the
// console's "text sent"): only for a
// delivery that carries several (a group's flush made it, Store.flushGroups). What the digest says
// is composed with everything else a destination receives, in delivery/compose.ts.
import { NOISE_DEFAULTS } from '../config/defaults.js';
import type { EventFields } from '../config/types.js';
import { eventType } from '../event/accessors.js';
import type { Digest, EventObject } from '../event/model.js';
import type { Store, StoredDelivery } from '../store/store.js';

/** The digest this delivery carries, or null when it carries one event. */
export async function loadDigest(store: Store, c: Pick<StoredDelivery, 'id' | 'eventCount'>, fields: EventFields): Promise<Digest | null> {
  if ((c.eventCount ?? 1) <= 1) return null;
  const carried = await store.notificationEvents(c.id, NOISE_DEFAULTS.digestEvents);
  if (carried === null) return null;
  return {
    count: carried.count,
    group: carried.group,
    events: carried.events.map((e) => {
      let event: EventObject = {};
      try {
        event = JSON.parse(e.payload) as EventObject;
      } catch {
        // stored as received and verified as JSON at ingest; an unreadable one shows as empty
      }
      return { seq: e.seq, event, raw: e.payload, type: e.type ?? eventType(event, fields) };
    }),
  };
}
