// The policy decision for one (rule, destination, event): a pure function of its inputs, so that
// ingest, replay, `test`, `check` examples and `diff` all decide exactly alike.
//
// Default-deny: a privileged destination is sent to only when some grant names this rule and this
// destination and every one of that grant's conditions holds. Non-privileged destinations are
// always allowed.
import type { Destination, Grant } from '../event/config.js';
import { showDuration } from '../event/duration.js';
import type { EventObject } from '../event/model.js';

/** The sliding window `max_per_hour` counts over. */
const RATE_WINDOW_MS = 3_600_000;

/** Deliveries policy allowed to (rule, destination) since a time: the store's counts (Store.PlanCounts,
 * inside the transaction that holds the write lock), or a dry run's. */
export interface RateCounts {
  allowedSince(rule: string, destination: string, since: number): number;
}

/** A dry run's counts: nothing sent in the last hour. */
export const NO_COUNTS: RateCounts = { allowedSince: () => 0 };

/** What policy counts against `max_per_hour` at `now`: deliveries allowed within the window. The
 * window is policy's; callers only count. */
export function allowedInWindow<N extends number | Promise<number>>(
  counts: { allowedSince(rule: string, destination: string, since: number): N },
  rule: string,
  destination: string,
  now: number,
): N {
  return counts.allowedSince(rule, destination, now - RATE_WINDOW_MS);
}

/** How far in the future an event's own time may be (clock skew) before max_event_age refuses it. */
export const CLOCK_SKEW_MS = 5 * 60_000;

export interface PolicyInput {
  rule: string;
  destination: Destination;
  event: EventObject;
  /** The event's own time (ms), or null when it carries none readable. */
  eventTimeMs: number | null;
  grants: readonly Grant[];
  /** Deliveries to this (rule, destination) that policy allowed during the last hour. */
  allowedInLastHour: number;
  now: number;
  /** A replay (not a first delivery): the grant must also say `allow_replay: true`. */
  replay: boolean;
}

export interface PolicyDecision {
  allowed: boolean;
  /** A sentence a person can read, e.g. in `explain` or the blocked delivery's row. */
  reason: string;
  /** The grant that allowed it, or the first one that named the pair but refused. */
  grantLine: number | null;
}

export function decide(input: PolicyInput): PolicyDecision {
  const { rule, destination } = input;
  if (!destination.privileged) {
    return { allowed: true, reason: 'not privileged', grantLine: null };
  }
  const named = input.grants.filter((g) => g.rule === rule && g.destination === destination.name);
  if (named.length === 0) {
    return {
      allowed: false,
      reason: `"${destination.name}" is privileged and no grant in policy.allow_privileged names rule "${rule}" with it`,
      grantLine: null,
    };
  }
  let firstRefusal: PolicyDecision | null = null;
  for (const grant of named) {
    const refusal = refuse(grant, input);
    if (refusal === null) {
      return { allowed: true, reason: `allowed by the grant at line ${grant.line}`, grantLine: grant.line };
    }
    firstRefusal ??= { allowed: false, reason: refusal, grantLine: grant.line };
  }
  return firstRefusal!;
}

/** Why this grant does not allow the delivery, or null when it does. */
function refuse(grant: Grant, input: PolicyInput): string | null {
  const at = `the grant at line ${grant.line}`;
  if (input.replay && !grant.allowReplay) {
    return `this is a replay and ${at} does not say allow_replay: true`;
  }
  if (grant.maxEventAgeMs !== null) {
    if (input.eventTimeMs === null) {
      return `${at} sets max_event_age, and the event carries no readable time (by default createdAt, created_at, timestamp, occurredAt, finishedAt or startedAt)`;
    }
    const age = input.now - input.eventTimeMs;
    if (age < -CLOCK_SKEW_MS) {
      return `the event's time is ${showDuration(-age, 'rounded')} in the future, and ${at} sets max_event_age (clocks allow ${showDuration(CLOCK_SKEW_MS, 'rounded')})`;
    }
    if (age > grant.maxEventAgeMs) {
      return `the event is ${showDuration(age, 'rounded')} old, older than the max_event_age of ${showDuration(grant.maxEventAgeMs, 'rounded')} in ${at}`;
    }
  }
  if (grant.when !== null && !grant.when(input.event)) {
    return `the "when" condition of ${at} does not hold for this event`;
  }
  if (grant.maxPerHour !== null && input.allowedInLastHour >= grant.maxPerHour) {
    return `max_per_hour of ${grant.maxPerHour} in ${at} is used up (${input.allowedInLastHour} in the last hour)`;
  }
  return null;
}

/**
 * The check made again just before a privileged send: the rules may have changed since the
 * delivery was created (grant removed, `when` changed). Rate and age limits were spent when the
 * delivery was created and are not counted twice. (A delivery created before its destination
 * became privileged gets the full decide() instead; see delivery/worker.ts.)
 */
export function recheck(rule: string, destination: Destination, event: EventObject, grants: readonly Grant[], replay: boolean): PolicyDecision {
  if (!destination.privileged) return { allowed: true, reason: 'not privileged', grantLine: null };
  const named = grants.filter((g) => g.rule === rule && g.destination === destination.name);
  for (const g of named) {
    if (replay && !g.allowReplay) continue;
    if (g.when !== null && !g.when(event)) continue;
    return { allowed: true, reason: `allowed by the grant at line ${g.line}`, grantLine: g.line };
  }
  return {
    allowed: false,
    reason: `no grant in the current rules allows rule "${rule}" to send to privileged "${destination.name}" for this event`,
    grantLine: null,
  };
}
