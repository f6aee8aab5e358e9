// The delivery worker's hooks into noise control, just before each send: the events a digest
// carries (read once per attempt, only for a delivery that carries several), the silences checked
// again (a silence added while a delivery waits, for its first send or a retry, holds it back), and
// the digest's notification for the channels.
import { NOISE_DEFAULTS } from '../config/defaults.js';
import type { CompiledRule, EventObject, RouterConfig } from '../config/types.js';
import type { Notification } from '../delivery/channels/channel.js';
import { eventType } from '../ingest/event.js';
import type { SilenceCache } from '../silence/cache.js';
import { silencedReason } from '../silence/model.js';
import type { ClaimedDelivery, Store } from '../store/store.js';
import { digestNotification, type Digest } from './digest.js';

export class SendTimeNoise {
  constructor(
    private readonly store: Store,
    private readonly silences: SilenceCache,
  ) {}

  /** The digest this delivery carries, or null when it carries one event. */
  async digest(c: ClaimedDelivery, config: RouterConfig): Promise<Digest | null> {
    if ((c.eventCount ?? 1) <= 1) return null;
    const carried = await this.store.notificationEvents(c.id, NOISE_DEFAULTS.digestEvents);
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
        return { event, raw: e.payload, type: e.type ?? eventType(event, config.server.fields) };
      }),
    };
  }

  /**
   * The reason a silence holds this delivery back now, or null. A digest is held when the silence
   * matches every event it carries (one gathered before a maintenance window, of another workflow,
   * must still go).
   */
  silenced(c: ClaimedDelivery, event: EventObject, digest: Digest | null, now: number): string | null {
    const events = digest ? digest.events.map((e) => e.event) : [event];
    const first = this.silences.find(events[0] ?? {}, c.rule, c.destination, now);
    if (first === null) return null;
    for (const e of events.slice(1)) if (this.silences.find(e, c.rule, c.destination, now) === null) return null;
    return silencedReason(first);
  }

  notification(n: Notification, digest: Digest, rule: CompiledRule | null, onError: (what: string) => (err: Error) => void): Notification {
    return digestNotification(n, digest, rule, onError);
  }
}
