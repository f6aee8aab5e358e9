// `diff`: the last N stored events run through the current and the new rules, side by side, so an
// operator sees what a rules change will do before restarting. Policy is applied as if each event
// arrived now under each file, with empty rate counters (max_per_hour is not simulated).
import type { EventObject, PlannedDelivery, RouterConfig } from '../config/types.js';
import { NO_COUNTS } from '../policy/policy.js';
import { routeEvent } from '../route/route.js';
import type { Store, StoredEvent } from '../store/store.js';

export interface DiffReport {
  events: number;
  destinations: Record<string, { added: number; removed: number }>;
  rules: Record<string, { before: number; after: number }>;
  privileged: { newlyAllowed: number; newlyBlocked: number };
  /** A few changed events, for looking at with `test` or `explain`. */
  samples: { event: string; added: string[]; removed: string[] }[];
  sentences: string[];
}

function route(config: RouterConfig, event: EventObject, type: string | null, now: number) {
  const { decision, plan } = routeEvent(config, event, { now, replay: false, type });
  const planned = plan(NO_COUNTS);
  return { matched: decision.outcomes.filter((o) => o.matched).map((o) => o.rule), planned };
}

const sent = (list: PlannedDelivery[]) => new Set(list.filter((d) => d.status === 'pending').map((d) => d.destination));
const pairKey = (d: PlannedDelivery) => `${d.rule} → ${d.destination}`;

const PAGE = 100;

/**
 * The newest `last` events, oldest first, or as many of the newest as fit in `maxBytes` of payload
 * (at least one; `cut` says so): read a page at a time, so that what is held stays bounded however
 * large the events are (1,000 events of 900 KB were a gigabyte).
 */
export async function recentEventsWithin(store: Store, last: number, maxBytes: number): Promise<{ events: StoredEvent[]; cut: boolean }> {
  const newest: StoredEvent[] = [];
  let bytes = 0;
  let beforeSeq: number | undefined;
  while (newest.length < last) {
    const page = await store.eventPage({ limit: Math.min(PAGE, last - newest.length), beforeSeq });
    for (const e of page) {
      bytes += Buffer.byteLength(e.payload);
      if (newest.length > 0 && bytes > maxBytes) return { events: newest.reverse(), cut: true };
      newest.push(e);
    }
    if (page.length === 0) break;
    beforeSeq = page.at(-1)!.seq;
  }
  return { events: newest.reverse(), cut: false };
}

export function diffRules(current: RouterConfig, next: RouterConfig, events: StoredEvent[], now = Date.now()): DiffReport {
  const report: DiffReport = { events: 0, destinations: {}, rules: {}, privileged: { newlyAllowed: 0, newlyBlocked: 0 }, samples: [], sentences: [] };
  const dest = (name: string) => (report.destinations[name] ??= { added: 0, removed: 0 });
  const rule = (name: string) => (report.rules[name] ??= { before: 0, after: 0 });
  for (const r of current.rules) rule(r.name);
  for (const r of next.rules) rule(r.name);

  for (const e of events) {
    let event: EventObject;
    try {
      event = JSON.parse(e.payload) as EventObject;
    } catch {
      continue;
    }
    report.events++;
    const a = route(current, event, e.type, now);
    const b = route(next, event, e.type, now);
    for (const m of a.matched) rule(m).before++;
    for (const m of b.matched) rule(m).after++;
    const sa = sent(a.planned);
    const sb = sent(b.planned);
    const added = [...sb].filter((d) => !sa.has(d));
    const removed = [...sa].filter((d) => !sb.has(d));
    for (const d of added) dest(d).added++;
    for (const d of removed) dest(d).removed++;
    const allowedBefore = new Set(a.planned.filter((d) => d.privileged && d.status === 'pending').map(pairKey));
    const allowedAfter = new Set(b.planned.filter((d) => d.privileged && d.status === 'pending').map(pairKey));
    for (const k of allowedAfter) if (!allowedBefore.has(k)) report.privileged.newlyAllowed++;
    for (const k of allowedBefore) if (!allowedAfter.has(k)) report.privileged.newlyBlocked++;
    if ((added.length || removed.length) && report.samples.length < 10) report.samples.push({ event: e.eventId ?? e.key, added, removed });
  }

  const s: string[] = [];
  const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  for (const [name, d] of Object.entries(report.destinations)) {
    if (d.added) s.push(`${plural(d.added, 'event', 'events')} would now also go to ${name}`);
    if (d.removed) s.push(`${plural(d.removed, 'event', 'events')} would no longer go to ${name}`);
  }
  if (report.privileged.newlyAllowed) s.push(`${plural(report.privileged.newlyAllowed, 'privileged delivery', 'privileged deliveries')} newly allowed`);
  if (report.privileged.newlyBlocked) s.push(`${plural(report.privileged.newlyBlocked, 'privileged delivery', 'privileged deliveries')} newly blocked`);
  for (const [name, r] of Object.entries(report.rules)) {
    if (r.before !== r.after) s.push(`rule "${name}" would match ${plural(r.after, 'event', 'events')} (now ${r.before})`);
  }
  if (s.length === 0) s.push(`no change for the last ${plural(report.events, 'event', 'events')}`);
  report.sentences = s;
  return report;
}
