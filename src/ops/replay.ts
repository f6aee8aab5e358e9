// Replay: the current rules run again on stored events. A delivery is created only for an
// (event, rule, destination) pair that has none yet, or only blocked ones, through the full policy
// (a privileged destination also needs `allow_replay: true`; max_event_age is measured from the
// event's own time). Pending, failed, delivered and dead pairs are never touched: `retry` is for
// dead ones.
import type { EventObject, RouterConfig } from '../config/types.js';
import { allowedInWindow, type RateCounts } from '../policy/policy.js';
import { routeEvent } from '../route/route.js';
import type { NewDelivery, Store, StoredDelivery, StoredEvent } from '../store/store.js';

/** Events per write transaction: the server's writes wait at most this long behind a replay. */
export const REPLAY_CHUNK = 200;

export interface ReplayLine {
  event: string;
  rule: string;
  destination: string;
  action: 'create' | 'skip' | 'blocked';
  reason: string;
}

/** What replaying one event would do, given its existing deliveries and the policy counts. */
function planEvent(
  config: RouterConfig,
  stored: StoredEvent,
  existing: StoredDelivery[],
  counts: RateCounts,
  now: number,
  waiting: readonly { rule: string; destination: string }[],
): { add: NewDelivery[]; lines: ReplayLine[] } {
  let event: EventObject;
  try {
    event = JSON.parse(stored.payload) as EventObject;
  } catch {
    return { add: [], lines: [] };
  }
  const lines: ReplayLine[] = [];
  const name = stored.eventId ?? stored.key;
  const only = ({ rule, destination }: { rule: string; destination: string }) => {
    const taken = existing.find((d) => d.rule === rule && d.destination === destination && d.status !== 'blocked');
    if (taken) lines.push({ event: name, rule, destination, action: 'skip', reason: `already ${taken.status} (delivery ${taken.id})` });
    // Gathered into a group whose digest is not made yet: that digest will carry it.
    const gathered = !taken && waiting.some((w) => w.rule === rule && w.destination === destination);
    if (gathered) lines.push({ event: name, rule, destination, action: 'skip', reason: "waiting in its group: the group's next digest carries it" });
    return !taken && !gathered;
  };
  const planned = routeEvent(config, event, { now, replay: true, type: stored.type, only }).plan(counts);
  const add: NewDelivery[] = [];
  for (const d of planned) {
    if (d.status === 'pending') {
      lines.push({
        event: name,
        rule: d.rule,
        destination: d.destination,
        action: 'create',
        reason: d.privileged ? 'privileged; allowed by policy' : d.group ? 'no delivery yet; joins its group (sent with it)' : 'no delivery yet',
      });
      add.push({ ...d, eventSeq: stored.seq, origin: 'replay' });
    } else {
      lines.push({ event: name, rule: d.rule, destination: d.destination, action: 'blocked', reason: d.reason ?? 'blocked by policy' });
    }
  }
  return { add, lines };
}

/** Every (rule, destination) a grant names on a privileged destination: what a replay may count. */
function grantPairs(config: RouterConfig): { rule: string; destination: string }[] {
  return config.grants.filter((g) => config.destinations.get(g.destination)?.privileged).map((g) => ({ rule: g.rule, destination: g.destination }));
}

/**
 * Replays stored events, given as a list or as pages (read one at a time, so that what is held
 * stays one page however many events are replayed).
 */
export async function replay(
  store: Store,
  config: RouterConfig,
  events: StoredEvent[] | AsyncIterable<StoredEvent[]>,
  opts: { dryRun: boolean; now?: number },
): Promise<ReplayLine[]> {
  const now = opts.now ?? Date.now();
  const lines: ReplayLine[] = [];
  const pages = Array.isArray(events) ? [events] : events;
  if (opts.dryRun) {
    // Reads only (the store may be read-only). Counts start from the database and grow with
    // what this dry run would allow, so a cap is shown being reached as it would be.
    const used = new Map<string, number>();
    const key = (rule: string, destination: string) => `${rule}\u0000${destination}`;
    for await (const page of pages)
      for (const stored of page) {
        const waiting = (await store.gatheredFor(stored.seq)).filter((g) => g.deliveryId === null);
        const existing = await store.deliveriesForEvent(stored.seq);
        for (const d of config.destinations.values()) {
          if (!d.privileged) continue;
          for (const g of config.grants) {
            if (g.destination === d.name && !used.has(key(g.rule, d.name))) used.set(key(g.rule, d.name), await allowedInWindow(store, g.rule, d.name, now));
          }
        }
        // The window was applied when `used` was read from the store.
        const r = planEvent(config, stored, existing, { allowedSince: (rule, destination) => used.get(key(rule, destination)) ?? 0 }, now, waiting);
        for (const d of r.add) if (d.privileged) used.set(key(d.rule, d.destination), (used.get(key(d.rule, d.destination)) ?? 0) + 1);
        lines.push(...r.lines);
      }
    return lines;
  }
  for await (const page of pages)
    for (let i = 0; i < page.length; i += REPLAY_CHUNK) {
      await store.addDeliveries(
        page.slice(i, i + REPLAY_CHUNK),
        (stored, existing, counts, waiting) => {
          const r = planEvent(config, stored, existing, counts, now, waiting);
          lines.push(...r.lines);
          return r.add;
        },
        now,
        grantPairs(config),
      );
    }
  return lines;
}
