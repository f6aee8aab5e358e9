// `explain EVENT`: the event, which rules matched and which did not and why, each policy decision,
// every delivery and each of its attempts. The routing decision stored at ingest is the source of
// truth. Ingest stores only the rules that matched and the version of the rules file that decided;
// the others' reasons are evaluated again here, against the event, with that version's text (kept
// by the store), so explain tells why by the rules in force when the event arrived. Decisions stored
// before that listed every rule evaluated; rules the type index skipped are listed from the current
// rules file. Noise control (contract §9): the groups the event was gathered into, and the
// notification that carried it.
import { loadRulesText } from '../config/load.js';
import type { EventObject, RouterConfig, RoutingDecision } from '../config/types.js';
import { describeGroup } from '../route/group.js';
import { explainRules, explainStored } from '../route/route.js';
import type { RuleOutcome } from '../route/route.js';
import type { GatheredEvent, Store, StoredAttempt, StoredDelivery, StoredEvent } from '../store/store.js';
import { isoTime } from '../event/accessors.js';

/** Compiled past versions, by hash: explaining a page of events compiles each version once. */
const versions = new Map<string, RouterConfig | null>();
const MAX_VERSIONS = 8;

async function versionOf(store: Store, current: RouterConfig, hash: string): Promise<RouterConfig | null> {
  if (hash === current.hash) return current;
  if (versions.has(hash)) return versions.get(hash)!;
  const text = await store.rulesVersion(hash);
  // Compiled as the router compiled it (examples aside, which decide nothing).
  const version = text === null ? null : loadRulesText(text, current.file, process.env, { examples: false }).config;
  if (versions.size >= MAX_VERSIONS) versions.delete(versions.keys().next().value!);
  versions.set(hash, version);
  return version;
}

async function ruleOutcomes(
  store: Store,
  config: RouterConfig,
  decision: RoutingDecision | null,
  payload: unknown,
  type: string | null,
): Promise<RuleOutcome[]> {
  if (decision === null || !decision.matchedOnly) return explainRules(config, decision ?? { outcomes: [], stoppedBy: null }, type);
  const version = await versionOf(store, config, decision.rules);
  const event = payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? (payload as EventObject) : null;
  if (version === null || event === null) {
    // The version's text is not in this database (or no longer compiles): what was stored.
    const why = version === null ? 'not recorded: the rules file version that decided is not in this database' : 'not recorded';
    const matched = new Set(decision.outcomes.map((o) => o.rule));
    return [
      ...decision.outcomes,
      ...config.rules.filter((r) => !matched.has(r.name)).map((r) => ({ rule: r.name, matched: false, reason: `did not match (${why})` })),
    ];
  }
  return explainStored(version, decision, event, type);
}

export interface ExplainReport {
  event: Omit<StoredEvent, 'payload' | 'routing'> & { payload: unknown };
  rulesChanged: boolean;
  rules: { rule: string; matched: boolean; reason: string }[];
  stoppedBy: string | null;
  deliveries: (StoredDelivery & { attemptsMade: StoredAttempt[] })[];
  /** Noise control: the groups the event was gathered into, and the notification that carried it. */
  gathered: GatheredEvent[];
  /** The same story in plain sentences, for people. */
  sentences: string[];
}

export async function explainEvent(store: Store, config: RouterConfig, idOrKey: string): Promise<ExplainReport | null> {
  const ev = await store.findEvent(idOrKey);
  if (!ev) return null;
  const decision: RoutingDecision | null = ev.routing ? (JSON.parse(ev.routing) as RoutingDecision) : null;

  const deliveries = await Promise.all((await store.deliveriesForEvent(ev.seq)).map(async (d) => ({ ...d, attemptsMade: await store.attemptsFor(d.id) })));
  const { payload, routing: _routing, ...meta } = ev;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    parsed = payload;
  }
  const rules = await ruleOutcomes(store, config, decision, parsed, ev.type);
  const rulesChanged = decision !== null && decision.rules !== config.hash;
  const gathered = await store.gatheredFor(ev.seq);
  return {
    event: { ...meta, payload: parsed },
    rulesChanged,
    rules,
    stoppedBy: decision?.stoppedBy ?? null,
    deliveries,
    gathered,
    sentences: [
      ...sentences(ev, rules, deliveries, rulesChanged, decision?.stoppedBy ?? null, gathered.length > 0),
      ...gatheredSentences(gathered, deliveries),
    ],
  };
}

function sentences(
  ev: StoredEvent,
  rules: ExplainReport['rules'],
  deliveries: ExplainReport['deliveries'],
  rulesChanged: boolean,
  stoppedBy: string | null,
  gathered: boolean,
): string[] {
  const out: string[] = [];
  out.push(
    `Event ${ev.eventId ?? ev.key} (${ev.type ?? 'no type'}) was received at ${isoTime(ev.receivedAt)}` +
      (ev.duplicates > 0 ? ` and seen ${ev.duplicates} more time(s) as a duplicate, last at ${isoTime(ev.lastSeenAt)}.` : '.'),
  );
  if (rulesChanged) out.push('The rules file has changed since; rule outcomes below are those decided when the event arrived.');
  const matched = rules.filter((r) => r.matched);
  out.push(matched.length === 0 ? 'No rule matched.' : `${matched.length} rule(s) matched: ${matched.map((r) => r.rule).join(', ')}.`);
  for (const r of rules) out.push(`  Rule "${r.rule}" ${r.matched ? 'matched' : 'did not match'}: ${r.reason}.`);
  if (stoppedBy) out.push(`Rule "${stoppedBy}" has stop: true, so no later rule was evaluated.`);
  if (deliveries.length === 0 && matched.length > 0 && !gathered) out.push('No delivery was created (the matching rules send to disabled destinations).');
  for (const d of deliveries) {
    const digest = (d.eventCount ?? 1) > 1 ? `, a digest of ${d.eventCount} events` : '';
    const head = `Delivery ${d.id} (rule "${d.rule}" → "${d.destination}"${d.privileged ? ', privileged' : ''}${d.origin === 'replay' ? ', from a replay' : ''}${digest})`;
    switch (d.status) {
      case 'silenced':
        out.push(`${head} was not sent: ${d.reason}. \`b3os-router retry ${d.id}\` sends it (through policy and the silences again).`);
        break;
      case 'blocked':
        out.push(`${head} was blocked by policy: ${d.reason}.`);
        break;
      case 'delivered':
        out.push(`${head} was delivered at ${isoTime(d.updatedAt)} after ${d.attempts} attempt(s).`);
        break;
      case 'dead':
        out.push(`${head} is dead after ${d.attempts} attempt(s): ${d.reason}. \`b3os-router retry ${d.id}\` sends it again.`);
        break;
      case 'failed':
        out.push(`${head} failed ${d.attempts} time(s), last: ${d.reason}; next attempt at ${d.nextAttemptAt ? isoTime(d.nextAttemptAt) : 'soon'}.`);
        break;
      default:
        out.push(`${head} is pending since ${isoTime(d.createdAt)}.`);
    }
    for (const a of d.attemptsMade) {
      out.push(
        `    attempt ${a.attempt} at ${isoTime(a.startedAt)}: ${a.outcome === 'delivered' ? 'delivered' : a.outcome === 'retry' ? 'failed, retryable' : 'failed for good'}` +
          `${a.code ? ` (${a.code})` : ''}${a.error ? `: ${a.error}` : ''}, ${a.durationMs} ms`,
      );
    }
  }
  return out;
}

/** Where a gathered event went: the digest that carried it, the notification it opened, or the flush it waits for. */
function gatheredSentences(gathered: GatheredEvent[], deliveries: StoredDelivery[]): string[] {
  return gathered.map((g) => {
    const head = `Gathered into the group of rule "${g.rule}" → "${g.destination}" (${describeGroup(g.group)}) at ${isoTime(g.gatheredAt)}`;
    if (g.deliveryId === null) {
      return `${head}; it waits for the group's next notification${g.flushAt !== null ? `, due at ${isoTime(g.flushAt)}` : ''}.`;
    }
    const d = deliveries.find((x) => x.id === g.deliveryId);
    const count = d?.eventCount ?? 1;
    return count > 1
      ? `${head}; carried by the digest ${g.deliveryId} with ${count} events${d ? `, ${d.status}` : ''}.`
      : `${head}; it opened the group and went alone in delivery ${g.deliveryId}${d ? `, ${d.status}` : ''}.`;
  });
}
