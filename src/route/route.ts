// The one route of an event: its type, whether server.accept_types takes it, which rules match it
// (in file order, honouring `stop` and `enabled`, through the type index), and the deliveries that
// follow, each through policy with its reason. Ingest, `test`, the rules' examples, `diff` and
// `replay` all call routeEvent, so that every tool tells the same story. Noise control (contract
// §9) is part of the plan: a pair a silence holds is `silenced` (before policy), and a pending
// delivery of a grouped rule says which group it joins (route/group.ts).
import { eventTime, eventType } from '../event/accessors.js';
import type { CompiledRule, IndexKey, RouterConfig } from '../event/config.js';
import type { EventObject, RoutedDelivery, RoutePair, RoutingDecision, RuleOutcome } from '../event/model.js';
import { allowedInWindow, decide, type RateCounts } from '../policy/policy.js';
import { typeFilter } from './accept-types.js';
import { placement } from './group.js';

export type { PlannedDelivery, RoutedDelivery, RoutePair, RoutingDecision, RuleOutcome } from '../event/model.js';

export interface RouteContext {
  now: number;
  /** A replay (not a first delivery): grants must also say allow_replay. */
  replay: boolean;
  /** The type as stored with the event (replay, diff); default: read from the event. */
  type?: string | null;
  /** Only these (rule, destination) pairs go on to policy (replay: the ones with no delivery yet). */
  only?: (pair: RoutePair) => boolean;
  /**
   * Ingest: an event that server.accept_types ignores is not evaluated at all (it costs nothing).
   * Without it, the rules are evaluated anyway so that `test` can show them.
   */
  skipIgnored?: boolean;
  /**
   * Ingest: the silences in force (silence/cache.ts). A pair one holds is planned `silenced` with
   * this reason, before policy, so a silenced privileged delivery uses none of `max_per_hour`.
   * Without it (dry runs, replay) nothing is silenced here; the send-time gate checks again.
   */
  silenced?: (pair: RoutePair) => string | null;
  /**
   * Ingest: only the rules that can match are tested (the rule index), and the decision lists
   * only those that matched (RoutingDecision.matchedOnly); `explain` recomputes the others.
   */
  matchedOnly?: boolean;
}

export interface Routing {
  type: string | null;
  /** The event's own time (ms), or null when it carries none readable (read on the first call). */
  time(): number | null;
  /** false when server.accept_types ignores this type (answered 204, neither stored nor routed). */
  accepted: boolean;
  decision: RoutingDecision;
  /** Matching rule → enabled, existing destination, after `only`. */
  pairs: RoutePair[];
  /**
   * Policy for each pair, with rate counts. Ingest calls it inside the transaction that stores the
   * event (the counts and the decisions that use them cannot be separated); dry runs pass
   * NO_COUNTS. Counts grow as the plan allows deliveries, so one event cannot exceed a cap.
   */
  plan(counts: RateCounts): RoutedDelivery[];
}

export function routeEvent(config: RouterConfig, event: EventObject, ctx: RouteContext): Routing {
  const type = ctx.type !== undefined ? ctx.type : eventType(event, config.server.fields);
  const accepted = typeFilter(config.server.acceptTypes)(type);
  const { decision, pairs: all } =
    !accepted && ctx.skipIgnored
      ? { decision: { rules: config.hash, outcomes: [], skipped: config.rules.length, stoppedBy: null }, pairs: [] }
      : evaluate(config, event, type, ctx.matchedOnly ?? false);
  const pairs = ctx.only ? all.filter(ctx.only) : all;
  // Read when first asked: policy needs it only for a privileged destination (max_event_age).
  let time: number | null | undefined;
  const timeOf = (): number | null => {
    if (time === undefined) time = eventTime(event, config.server.fields);
    return time;
  };
  return {
    type,
    time: timeOf,
    accepted,
    decision,
    pairs,
    plan: (counts) => plan(config, event, pairs, timeOf, ctx, counts),
  };
}

function plan(
  config: RouterConfig,
  event: EventObject,
  pairs: RoutePair[],
  time: () => number | null,
  ctx: RouteContext,
  counts: RateCounts,
): RoutedDelivery[] {
  const extra = new Map<string, number>();
  const out: RoutedDelivery[] = [];
  for (const { rule, destination } of pairs) {
    const dest = config.destinations.get(destination)!;
    const silence = ctx.silenced?.({ rule, destination }) ?? null;
    if (silence !== null) {
      out.push({ rule, destination, privileged: dest.privileged, status: 'silenced', reason: silence, policyReason: 'not asked: silenced', grantLine: null });
      continue;
    }
    const key = `${rule}\u0000${destination}`;
    const d = decide({
      rule,
      destination: dest,
      event,
      // decide reads it (and the count) only for a privileged destination.
      eventTimeMs: dest.privileged ? time() : null,
      grants: config.grants,
      // Asked only for privileged pairs: a count is a query, and the rest never need one.
      allowedInLastHour: dest.privileged ? allowedInWindow(counts, rule, destination, ctx.now) + (extra.get(key) ?? 0) : 0,
      now: ctx.now,
      replay: ctx.replay,
    });
    if (d.allowed && dest.privileged) extra.set(key, (extra.get(key) ?? 0) + 1);
    out.push({
      rule,
      destination,
      privileged: dest.privileged,
      status: d.allowed ? 'pending' : 'blocked',
      reason: d.allowed ? null : d.reason,
      policyReason: d.reason,
      grantLine: d.grantLine,
      ...grouped(config, rule, dest.privileged, d.allowed, event),
    });
  }
  return out;
}

/** The group a delivery joins: one of a grouped rule, a replayed one too (a backfill after an
 * outage is gathered into digests like the events it stands for), never a privileged one (check
 * refuses `group` there: actions that move money are not batched). */
function grouped(config: RouterConfig, name: string, privileged: boolean, pending: boolean, event: EventObject): Pick<RoutedDelivery, 'group'> {
  if (!pending || privileged) return {};
  const group = ruleNamed(config, name)?.group;
  return group ? { group: placement(group, event) } : {};
}

const byName = new WeakMap<RouterConfig, Map<string, CompiledRule>>();

/** The rule of this name in these rules, or null (a delivery's rule may have left the file). */
export function ruleNamed(config: RouterConfig, name: string): CompiledRule | null {
  let m = byName.get(config);
  if (!m) {
    m = new Map(config.rules.map((r) => [r.name, r]));
    byName.set(config, m);
  }
  return m.get(name) ?? null;
}

interface TypeIndex {
  /** Rules that can only match these literal types. */
  byType: Map<string, CompiledRule[]>;
  /** Rules that can match any type; always evaluated. */
  anyType: CompiledRule[];
}

const indexes = new WeakMap<RouterConfig, TypeIndex>();

function typeIndex(config: RouterConfig): TypeIndex {
  let idx = indexes.get(config);
  if (idx) return idx;
  idx = { byType: new Map(), anyType: [] };
  for (const rule of config.rules) {
    if (rule.types === null) {
      idx.anyType.push(rule);
      continue;
    }
    for (const t of rule.types) {
      const list = idx.byType.get(t);
      if (list) list.push(rule);
      else idx.byType.set(t, [rule]);
    }
  }
  indexes.set(config, idx);
  return idx;
}

/** The rules worth testing for an event of this type, in file order. */
export function candidates(config: RouterConfig, type: string | null): CompiledRule[] {
  const idx = typeIndex(config);
  const typed = type === null ? undefined : idx.byType.get(type);
  if (!typed) return idx.anyType;
  if (idx.anyType.length === 0) return typed;
  return mergeByIndex(typed, idx.anyType);
}

function mergeByIndex(a: CompiledRule[], b: CompiledRule[]): CompiledRule[] {
  const out: CompiledRule[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]!.index < b[j]!.index)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}

// The rule index (ingest). Per event type, once: the enabled rules whose `match.type` admits it
// (wildcards included), split into those the index cannot skip and, for the others, a lookup by
// one equality each needs (IndexKey). An event then tests only the rules filed under the values
// it carries, plus the unskippable ones, in file order.

interface TypeBucket {
  always: CompiledRule[];
  /** One per IndexKey id. Prefix keys: `lengths` are the prefixes' lengths, longest first. */
  groups: { lookup: IndexKey['lookup']; byValue: Map<string, CompiledRule[]>; lengths: number[] | null }[];
}

/** Types remembered per rules version; an event of yet another type is bucketed on the spot. */
const MAX_BUCKETS = 1024;
const buckets = new WeakMap<RouterConfig, Map<string | null, TypeBucket>>();

function bucketFor(config: RouterConfig, type: string | null): TypeBucket {
  let byType = buckets.get(config);
  if (!byType) {
    byType = new Map();
    buckets.set(config, byType);
  }
  const known = byType.get(type);
  if (known) return known;
  const b: TypeBucket = { always: [], groups: [] };
  const groups = new Map<string, TypeBucket['groups'][number]>();
  for (const rule of config.rules) {
    if (!rule.enabled || (rule.admitsType && !rule.admitsType(type))) continue;
    const key = rule.keys?.[0];
    if (!key) {
      b.always.push(rule);
      continue;
    }
    let g = groups.get(key.id);
    if (!g) {
      g = { lookup: key.lookup, byValue: new Map(), lengths: key.prefix ? [] : null };
      groups.set(key.id, g);
    }
    for (const v of new Set(key.values)) {
      if (g.lengths && !g.lengths.includes(v.length)) g.lengths.push(v.length);
      const list = g.byValue.get(v);
      if (list) list.push(rule);
      else g.byValue.set(v, [rule]);
    }
  }
  b.groups = [...groups.values()];
  if (byType.size < MAX_BUCKETS) byType.set(type, b);
  return b;
}

/** The rules an event of this type can match, in file order (what ingest tests). */
export function indexedCandidates(config: RouterConfig, event: EventObject, type: string | null): CompiledRule[] {
  const b = bucketFor(config, type);
  if (b.groups.length === 0) return b.always;
  const found = new Set<CompiledRule>();
  const add = (list: CompiledRule[] | undefined) => {
    if (list) for (const r of list) found.add(r);
  };
  for (const g of b.groups) {
    for (const v of g.lookup(event)) {
      if (g.lengths === null) add(g.byValue.get(v));
      else for (const n of g.lengths) if (n <= v.length) add(g.byValue.get(v.slice(0, n)));
    }
  }
  if (found.size === 0) return b.always;
  return [...b.always, ...found].sort((x, y) => x.index - y.index);
}

/**
 * The rules that match, in file order, up to the first with `stop`. Every candidate of the type
 * index with its reason; or, `matchedOnly` (ingest), only the rule index's candidates, and only
 * those that matched.
 */
function evaluate(config: RouterConfig, event: EventObject, type: string | null, matchedOnly: boolean): { decision: RoutingDecision; pairs: RoutePair[] } {
  const rules = matchedOnly ? indexedCandidates(config, event, type) : candidates(config, type);
  const outcomes: RuleOutcome[] = [];
  const pairs: RoutePair[] = [];
  let stoppedBy: string | null = null;
  for (const rule of rules) {
    // (The rule index holds only enabled rules.)
    if (!rule.enabled) {
      outcomes.push({ rule: rule.name, matched: false, reason: 'the rule is disabled (enabled: false)' });
      continue;
    }
    if (matchedOnly) {
      const reason = rule.matchedReason(event);
      if (reason === null) continue;
      outcomes.push({ rule: rule.name, matched: true, reason });
    } else {
      const result = rule.test(event);
      outcomes.push({ rule: rule.name, matched: result.matched, reason: result.reason });
      if (!result.matched) continue;
    }
    for (const name of rule.sendTo) {
      const dest = config.destinations.get(name);
      if (dest?.enabled) pairs.push({ rule: rule.name, destination: name });
    }
    if (rule.stop) {
      stoppedBy = rule.name;
      break;
    }
  }
  return {
    decision: matchedOnly
      ? { rules: config.hash, outcomes, skipped: 0, stoppedBy, matchedOnly: true }
      : { rules: config.hash, outcomes, skipped: config.rules.length - rules.length, stoppedBy },
    pairs,
  };
}

/** Rule names and rules hashes as JSON texts: few, and seen again with every event. */
const quoted = new Map<string, string>();
function quote(text: string): string {
  let q = quoted.get(text);
  if (q === undefined) {
    q = JSON.stringify(text);
    if (quoted.size >= 4096) quoted.clear();
    quoted.set(text, q);
  }
  return q;
}

/**
 * JSON.stringify(decision), the same text (test/rules-index.test.ts compares them), written
 * directly: ingest stores one with every event, and the generic walk costs several times this.
 */
export function decisionText(d: RoutingDecision): string {
  let outcomes = '';
  for (const o of d.outcomes) {
    outcomes += `${outcomes === '' ? '' : ','}{"rule":${quote(o.rule)},"matched":${o.matched},"reason":${JSON.stringify(o.reason)}}`;
  }
  const stoppedBy = d.stoppedBy === null ? 'null' : quote(d.stoppedBy);
  return `{"rules":${quote(d.rules)},"outcomes":[${outcomes}],"skipped":${d.skipped},"stoppedBy":${stoppedBy}${d.matchedOnly ? ',"matchedOnly":true' : ''}}`;
}

/**
 * Why each rule of the version that decided (`version`, whose hash is decision.rules) did or did
 * not match a stored event, in file order: the matched ones as stored, the others evaluated
 * again, against the same event with the same rules. What `explain` shows for a matchedOnly
 * decision.
 */
export function explainStored(
  version: RouterConfig,
  decision: Pick<RoutingDecision, 'outcomes' | 'stoppedBy'>,
  event: EventObject,
  type: string | null,
): RuleOutcome[] {
  const decided = new Map(decision.outcomes.map((o) => [o.rule, o]));
  const stopAt =
    decision.stoppedBy === null ? Number.POSITIVE_INFINITY : (version.rules.find((r) => r.name === decision.stoppedBy)?.index ?? Number.POSITIVE_INFINITY);
  const out = version.rules.map((rule): RuleOutcome => {
    const o = decided.get(rule.name);
    if (o) return o;
    if (rule.index > stopAt) return { rule: rule.name, matched: false, reason: `not evaluated: rule "${decision.stoppedBy}" above has stop: true` };
    if (!rule.enabled) return { rule: rule.name, matched: false, reason: 'the rule is disabled (enabled: false)' };
    if (rule.types !== null && (type === null || !rule.types.includes(type))) return { rule: rule.name, matched: false, reason: typeMismatch(rule, type) };
    const r = rule.test(event);
    return { rule: rule.name, matched: false, reason: r.matched ? 'it did not match when the event arrived' : r.reason };
  });
  const inVersion = new Set(version.rules.map((r) => r.name));
  for (const o of decision.outcomes) if (!inVersion.has(o.rule)) out.push(o);
  return out;
}

const typeMismatch = (rule: CompiledRule, type: string | null) =>
  `type does not match: the rule takes ${(rule.types ?? []).join(', ')}, and this event is ${type ?? 'of no type'}`;

/**
 * Why each rule did or did not match, in file order, the rules the type index skipped included:
 * what `test`, `explain` and the console show. `decision` is the one just made or the one stored
 * with the event (whose rules may have changed since: outcomes of rules no longer in the file
 * follow at the end).
 */
export function explainRules(config: RouterConfig, decision: Pick<RoutingDecision, 'outcomes' | 'stoppedBy'>, type: string | null): RuleOutcome[] {
  const decided = new Map(decision.outcomes.map((o) => [o.rule, o]));
  const tested = new Set(candidates(config, type).map((r) => r.name));
  const out = config.rules.map((rule): RuleOutcome => {
    const o = decided.get(rule.name);
    if (o) return o;
    let reason: string;
    if (!tested.has(rule.name)) reason = typeMismatch(rule, type);
    else if (decision.stoppedBy !== null) reason = `not evaluated: rule "${decision.stoppedBy}" above has stop: true`;
    else reason = 'not evaluated: the rule was not in the rules file when the event arrived';
    return { rule: rule.name, matched: false, reason };
  });
  const inFile = new Set(config.rules.map((r) => r.name));
  for (const o of decision.outcomes) if (!inFile.has(o.rule)) out.push(o);
  return out;
}
