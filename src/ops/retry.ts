// `retry`: dead deliveries back to pending. A delivery to a privileged destination goes through
// the full policy again first (grant, `when`, max_event_age, max_per_hour, as of now): a payment
// that died weeks ago is not re-sent just because an operator retried "everything dead". It is
// decided, counted and requeued in one store transaction (Store.admit): ten dead deliveries under a
// cap of two requeue two, and those two are counted as of the retry, not again when sent.
import type { Destination, EventObject, RouterConfig } from '../config/types.js';
import { decideExisting } from '../policy/stored.js';
import type { Store, StoredDelivery } from '../store/store.js';

export interface RetryResult {
  requeued: string[];
  refused: { id: string; destination: string; reason: string }[];
}

export async function retryDead(store: Store, config: () => RouterConfig, dead: StoredDelivery[], now = Date.now()): Promise<RetryResult> {
  const plain: string[] = [];
  const gated = new Map<string, { cfg: RouterConfig; dest: Destination; event: EventObject }>();
  for (const d of dead) {
    const cfg = config();
    const dest = cfg.destinations.get(d.destination);
    if (!dest?.privileged) {
      plain.push(d.id);
      continue;
    }
    const stored = await store.getEvent(d.eventSeq);
    let event: EventObject = {};
    try {
      event = stored ? (JSON.parse(stored.payload) as EventObject) : {};
    } catch {
      // An unreadable event has no time: max_event_age refuses it, and `when` sees nothing.
    }
    gated.set(d.id, { cfg, dest, event });
  }
  const admitted = await store.admit(
    [...gated.keys()],
    (row, counts) => {
      const g = gated.get(row.id)!;
      return decideExisting(counts, g.cfg, row, g.dest, g.event, now);
    },
    { now, requeueDead: true },
  );
  const moved = new Set([...(await store.requeueDead(plain, now)), ...admitted.filter((a) => a.outcome === 'admitted').map((a) => a.id)]);
  const byId = new Map(dead.map((d) => [d.id, d]));
  return {
    requeued: dead.filter((d) => moved.has(d.id)).map((d) => d.id),
    refused: admitted.filter((a) => a.outcome === 'refused').map((a) => ({ id: a.id, destination: byId.get(a.id)!.destination, reason: a.reason! })),
  };
}
