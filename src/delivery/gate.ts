// The send-time check, in one place: the silences (contract §9: a silence added while a delivery
// waits, for its first send or a retry, holds it back), then policy again just before a privileged
// send (the rules may have changed since the delivery was created). Silences come first, so a
// silenced privileged delivery is never counted against max_per_hour. Either the delivery may go,
// or here is what to record instead, or it is no longer waiting at all.
import { NOISE_DEFAULTS } from '../config/defaults.js';
import { carriedEvent } from '../dispatch/digest.js';
import type { Destination, EventObject, RouterConfig } from '../config/types.js';
import type { Digest } from '../event/model.js';
import { recheck } from '../policy/policy.js';
import { decideExisting } from '../policy/stored.js';
import type { SilenceCache } from '../silence/cache.js';
import { silencedReason } from '../silence/model.js';
import type { ClaimedDelivery, DeliveryUpdate, Store } from '../store/store.js';

export type GateVerdict =
  | { allowed: true }
  | { allowed: false; update: DeliveryUpdate; reason: string; silenced?: boolean }
  /** Someone else settled it meanwhile (retry, replay, another worker): neither send nor record. */
  | { allowed: false; update: null; reason: string };

export interface GateNoise {
  /** The silences in force (silence/cache.ts). */
  silences: SilenceCache;
  /** The digest the delivery carries, or null for one event. */
  digest: Digest | null;
}

export async function gate(
  c: ClaimedDelivery,
  dest: Destination | null,
  config: RouterConfig,
  event: EventObject,
  store: Store,
  now: number,
  noise: GateNoise,
): Promise<GateVerdict> {
  const silence = await silenced(c, event, noise, store, now);
  if (silence !== null)
    return { allowed: false, silenced: true, reason: silence, update: { id: c.id, attempt: null, status: 'silenced', nextAttemptAt: null, reason: silence } };
  if (!dest?.privileged) return { allowed: true };
  let reason: string;
  if (c.privileged) {
    // Rate and age limits were spent when it was created; grant and `when` are checked again.
    const d = recheck(c.rule, dest, event, config.grants, c.origin === 'replay');
    if (d.allowed) return { allowed: true };
    reason = d.reason;
  } else {
    // Created before its destination became privileged: the full policy, as if new, counted
    // against max_per_hour in the store's transaction (many are claimed at once).
    const [r] = await store.admit([c.id], (row, counts) => decideExisting(counts, config, row, dest, event, now), { now, requeueDead: false });
    if (r!.outcome === 'skipped') return { allowed: false, update: null, reason: 'no longer waiting' };
    if (r!.outcome === 'admitted') return { allowed: true };
    reason = r!.reason ?? 'refused by policy';
  }
  return { allowed: false, reason, update: { id: c.id, attempt: null, status: 'blocked', nextAttemptAt: null, reason: `at send time: ${reason}` } };
}

/**
 * The reason a silence holds this delivery back now, or null. A digest is held when a silence
 * matches every event it carries (one gathered before a maintenance window, of another workflow,
 * must still go): the ones loaded for its text first, then, only while every one so far is
 * silenced, the rest of them page by page from the store (a digest can carry more events than
 * its text lists).
 */
async function silenced(c: ClaimedDelivery, event: EventObject, noise: GateNoise, store: Store, now: number): Promise<string | null> {
  const { silences, digest } = noise;
  const find = (e: EventObject) => silences.find(e, c.rule, c.destination, now);
  if (digest === null) {
    const s = find(event);
    return s === null ? null : silencedReason(s);
  }
  const first = find(digest.events[0]?.event ?? {});
  if (first === null) return null;
  for (const e of digest.events.slice(1)) if (find(e.event) === null) return null;
  let after = digest.events.at(-1)?.seq;
  let seen = digest.events.length;
  while (after !== undefined && seen < digest.count) {
    const page = await store.carriedAfter(c.id, after, NOISE_DEFAULTS.digestCheckPage);
    for (const e of page) if (find(carriedEvent(e.payload)) === null) return null;
    seen += page.length;
    after = page.length < NOISE_DEFAULTS.digestCheckPage ? undefined : page.at(-1)!.seq;
  }
  return silencedReason(first);
}
