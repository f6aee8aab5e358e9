// Routing: which rules an event matches (in file order, honouring `stop` and `enabled`), and the
// deliveries that follow, each through policy. Used alike by ingest, replay, `test`, `check`
// examples and `diff`, so that every tool tells the same story.
import type { CompiledRule, EventObject, RouterConfig } from '../config/types.js';
import { decide } from '../policy/policy.js';

export interface RuleOutcome {
  rule: string;
  matched: boolean;
  reason: string;
}

/** Stored with the event so `explain` can say later why it was routed as it was. */
export interface RoutingDecision {
  /** Hash of the rules file that decided. */
  rules: string;
  /** Every rule evaluated, in file order (rules skipped by the type index are not listed). */
  outcomes: RuleOutcome[];
  /** How many rules the type index skipped ("type does not match"). */
  skipped: number;
  /** The rule whose `stop: true` ended evaluation, if any. */
  stoppedBy: string | null;
}

export interface PlannedDelivery {
  rule: string;
  destination: string;
  privileged: boolean;
  status: 'pending' | 'blocked';
  /** Policy's reason when blocked; null otherwise. */
  reason: string | null;
}

/** Matching rule → destinations that are enabled and exist, before policy. */
export interface RoutePair {
  rule: string;
  destination: string;
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

export function evaluate(
  config: RouterConfig,
  event: EventObject,
  type: string | null,
): { decision: RoutingDecision; pairs: RoutePair[] } {
  const rules = candidates(config, type);
  const outcomes: RuleOutcome[] = [];
  const pairs: RoutePair[] = [];
  let stoppedBy: string | null = null;
  for (const rule of rules) {
    if (!rule.enabled) {
      outcomes.push({ rule: rule.name, matched: false, reason: 'the rule is disabled (enabled: false)' });
      continue;
    }
    const result = rule.test(event);
    outcomes.push({ rule: rule.name, matched: result.matched, reason: result.reason });
    if (!result.matched) continue;
    for (const name of rule.sendTo) {
      const dest = config.destinations.get(name);
      if (dest && dest.enabled) pairs.push({ rule: rule.name, destination: name });
    }
    if (rule.stop) {
      stoppedBy = rule.name;
      break;
    }
  }
  return {
    decision: { rules: config.hash, outcomes, skipped: config.rules.length - rules.length, stoppedBy },
    pairs,
  };
}

export interface PlanContext {
  now: number;
  eventTimeMs: number | null;
  replay: boolean;
  /** Deliveries policy allowed to (rule, destination) in the last hour, as the store counts them. */
  allowedInLastHour(rule: string, destination: string): number;
}

/** Applies policy to each pair. Counts grow as this plan allows deliveries, so one event cannot exceed a cap. */
export function plan(config: RouterConfig, event: EventObject, pairs: RoutePair[], ctx: PlanContext): PlannedDelivery[] {
  const extra = new Map<string, number>();
  const out: PlannedDelivery[] = [];
  for (const { rule, destination } of pairs) {
    const dest = config.destinations.get(destination)!;
    if (!dest.privileged) {
      out.push({ rule, destination, privileged: false, status: 'pending', reason: null });
      continue;
    }
    const key = `${rule}\u0000${destination}`;
    const d = decide({
      rule,
      destination: dest,
      event,
      eventTimeMs: ctx.eventTimeMs,
      grants: config.grants,
      allowedInLastHour: ctx.allowedInLastHour(rule, destination) + (extra.get(key) ?? 0),
      now: ctx.now,
      replay: ctx.replay,
    });
    if (d.allowed) extra.set(key, (extra.get(key) ?? 0) + 1);
    out.push({ rule, destination, privileged: true, status: d.allowed ? 'pending' : 'blocked', reason: d.allowed ? null : d.reason });
  }
  return out;
}
