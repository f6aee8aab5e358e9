// What `explain EVENT` says about noise control: the group an event was gathered into, and the
// notification that carried it (or that will, and when).
import type { GatheredEvent, StoredDelivery } from '../store/store.js';
import { describeGroup } from './group.js';

const time = (ms: number) => new Date(ms).toISOString();

export function gatheredSentences(gathered: GatheredEvent[], deliveries: StoredDelivery[]): string[] {
  return gathered.map((g) => {
    const head = `Gathered into the group of rule "${g.rule}" → "${g.destination}" (${describeGroup(g.group)}) at ${time(g.gatheredAt)}`;
    if (g.deliveryId === null) {
      return `${head}; it waits for the group's next notification${g.flushAt !== null ? `, due at ${time(g.flushAt)}` : ''}.`;
    }
    const d = deliveries.find((x) => x.id === g.deliveryId);
    const count = d?.eventCount ?? 1;
    return count > 1
      ? `${head}; carried by the digest ${g.deliveryId} with ${count} events${d ? `, ${d.status}` : ''}.`
      : `${head}; it opened the group and went alone in delivery ${g.deliveryId}${d ? `, ${d.status}` : ''}.`;
  });
}
