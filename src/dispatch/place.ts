// Ingest's hook into noise control: each planned delivery, after policy, meets the silences (one
// that matches is recorded `silenced`, never sent or gathered) and, for a grouped rule, is given
// its group (the store gathers it in the same transaction). Synchronous: it runs inside the
// ingest transaction, against the silences held in memory (silence/cache.ts).
import type { CompiledRule, EventObject, RouterConfig } from '../config/types.js';
import type { PlannedDelivery } from '../rules/route.js';
import type { SilenceCache } from '../silence/cache.js';
import { silencedReason } from '../silence/model.js';
import { placement } from './group.js';
import type { PlacedDelivery } from './types.js';

const byName = new WeakMap<RouterConfig, Map<string, CompiledRule>>();

export function ruleOf(config: RouterConfig, name: string): CompiledRule | null {
  let m = byName.get(config);
  if (!m) byName.set(config, (m = new Map(config.rules.map((r) => [r.name, r]))));
  return m.get(name) ?? null;
}

export function placeDeliveries(config: RouterConfig, event: EventObject, planned: PlannedDelivery[], silences: SilenceCache | null, now: number): PlacedDelivery[] {
  return planned.map((d): PlacedDelivery => {
    if (d.status !== 'pending') return d;
    const silence = silences?.find(event, d.rule, d.destination, now) ?? null;
    if (silence) return { ...d, status: 'silenced', reason: silencedReason(silence) };
    const group = ruleOf(config, d.rule)?.group;
    // Never a privileged one (check refuses `group` there): actions that move money are not batched.
    if (!group || d.privileged) return d;
    return { ...d, group: placement(group, event) };
  });
}
