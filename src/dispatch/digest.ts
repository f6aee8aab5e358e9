// The events a digest carries (contract §9), read for the worker just before each send (and for the
// console's "text sent"): only for a
// delivery that carries several (a group's flush made it, Store.flushGroups). What the digest says
// is composed with everything else a destination receives, in delivery/compose.ts.
import { NOISE_DEFAULTS } from '../config/defaults.js';
import type { EventFields } from '../config/types.js';
import { eventType } from '../event/accessors.js';
import type { Digest, EventObject } from '../event/model.js';
import type { NotificationEvents, Store, StoredDelivery, StoredEvent } from '../store/store.js';

/** The digest this delivery carries, or null when it carries one event. */
export async function loadDigest(store: Store, c: Pick<StoredDelivery, 'id' | 'eventCount'>, fields: EventFields): Promise<Digest | null> {
  if ((c.eventCount ?? 1) <= 1) return null;
  const { digestEvents, digestBytes, digestPage } = NOISE_DEFAULTS;
  const carried = await store.notificationEvents(c.id, digestPage);
  if (carried === null) return null;
  // The first digestEvents events, or as many of them as fit in digestBytes (at least one), read a
  // page at a time: never more than a page past the budget in memory.
  const events: StoredEvent[] = [];
  let bytes = 0;
  let page = carried.events;
  for (;;) {
    for (const e of page) {
      bytes += Buffer.byteLength(e.payload);
      if (events.length > 0 && (bytes > digestBytes || events.length >= digestEvents)) return digestOf(carried, events, fields);
      events.push(e);
    }
    if (page.length < digestPage || events.length >= digestEvents) return digestOf(carried, events, fields);
    page = await store.carriedAfter(c.id, page.at(-1)!.seq, digestPage);
  }
}

function digestOf(carried: NotificationEvents, events: StoredEvent[], fields: EventFields): Digest {
  return {
    count: carried.count,
    group: carried.group,
    events: events.map((e) => {
      const event = carriedEvent(e.payload);
      return { seq: e.seq, event, raw: e.payload, type: e.type ?? eventType(event, fields) };
    }),
  };
}

/** A carried event's stored payload, read back (stored as received and verified as JSON at
 * ingest; an unreadable one reads as empty). */
export function carriedEvent(payload: string): EventObject {
  try {
    return JSON.parse(payload) as EventObject;
  } catch {
    return {};
  }
}
