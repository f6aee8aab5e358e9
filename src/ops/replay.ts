// Replay: the current rules run again on stored events. A delivery is created only for an
// (event, rule, destination) pair that has none yet, or only blocked ones, through the full policy
// (a privileged destination also needs `allow_replay: true`; max_event_age is measured from the
// event's own time). Pending, failed, delivered and dead pairs are never touched: `retry` is for
// dead ones.
import type { EventObject, RouterConfig } from '../config/types.js';
import { eventTime } from '../ingest/event.js';
import { evaluate, plan } from '../rules/route.js';
import type { NewDelivery, Store, StoredEvent } from '../store/store.js';

const HOUR_MS = 3_600_000;

export interface ReplayLine {
  event: string;
  rule: string;
  destination: string;
  action: 'create' | 'skip' | 'blocked';
  reason: string;
}

export async function replay(store: Store, config: RouterConfig, events: StoredEvent[], opts: { dryRun: boolean; now?: number }): Promise<ReplayLine[]> {
  const now = opts.now ?? Date.now();
  const lines: ReplayLine[] = [];
  await store.addDeliveries(
    events,
    (stored, existing, counts) => {
      let event: EventObject;
      try {
        event = JSON.parse(stored.payload) as EventObject;
      } catch {
        return [];
      }
      const name = stored.eventId ?? stored.key;
      const { pairs } = evaluate(config, event, stored.type);
      const fresh = pairs.filter(({ rule, destination }) => {
        const taken = existing.find((d) => d.rule === rule && d.destination === destination && d.status !== 'blocked');
        if (taken) lines.push({ event: name, rule, destination, action: 'skip', reason: `already ${taken.status} (delivery ${taken.id})` });
        return !taken;
      });
      const planned = plan(config, event, fresh, {
        now,
        eventTimeMs: eventTime(event, config.server.fields),
        replay: true,
        allowedInLastHour: (rule, destination) => counts.allowedSince(rule, destination, now - HOUR_MS),
      });
      const add: NewDelivery[] = [];
      for (const d of planned) {
        if (d.status === 'pending') {
          lines.push({ event: name, rule: d.rule, destination: d.destination, action: 'create', reason: d.privileged ? 'privileged; allowed by policy' : 'no delivery yet' });
          add.push({ ...d, eventSeq: stored.seq, origin: 'replay' });
        } else {
          lines.push({ event: name, rule: d.rule, destination: d.destination, action: 'blocked', reason: d.reason ?? 'blocked by policy' });
        }
      }
      return opts.dryRun ? [] : add;
    },
    now,
  );
  return lines;
}
