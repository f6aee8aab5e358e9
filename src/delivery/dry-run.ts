// The `test` report: one event through the rules as the router would take it on arrival, with
// nothing sent in the last hour. For every rule: matched or not, and why (the rules the type index
// skips too). For every delivery: the policy decision and its reason, and what the destination
// would receive, composed by the very function the worker sends with; for a grouped rule, the
// group it would join and when it would be sent (contract §9). Nothing is sent or written.
// `b3os-router test` prints it; the console shows it.
import type { CompiledRule, Destination, Digest, EventObject, GroupPlacement, RouterConfig } from '../config/types.js';
import { executionId, runId } from '../event/accessors.js';
import { showDuration } from '../event/duration.js';
import { withholdEnv } from '../event/escape.js';
import { idempotencyKey } from '../event/key.js';
import { NO_COUNTS } from '../policy/policy.js';
import { explainRules, routeEvent } from '../route/route.js';
import { compose, type Composed } from './compose.js';

/** The stable `--json` document. */
export interface TestReport {
  rulesFile: string;
  event: {
    file: string;
    type: string | null;
    id: string | null;
    runId: string | null;
    executionId: string | null;
    /** The event's own time (ISO-8601), or null when it carries none readable. */
    time: string | null;
    /** The idempotency key the router would store it under. */
    key: string;
    /** false when server.accept_types would ignore this type (answered 204, not routed). */
    accepted: boolean;
  };
  rules: { rule: string; matched: boolean; reason: string }[];
  deliveries: TestDelivery[];
  stoppedBy: string | null;
  /** Warnings about the rules file (it is still valid). */
  warnings: string[];
}

export interface TestDelivery {
  rule: string;
  destination: string;
  type: Destination['type'];
  privileged: boolean;
  /** false: recorded as blocked, never sent. */
  allowed: boolean;
  reason: string;
  /** What the destination would receive (shown even when blocked, to check the wording). */
  rendered: Record<string, string>;
  /** Template failures: the default was used instead, as the router would. */
  notes: string[];
  /** Noise control: the group this delivery would join, and when it would be sent; absent when the rule does not group. */
  group?: GroupPreview;
}

/** What `test --event` says about a grouped delivery: its group, and when it would be sent. */
export interface GroupPreview {
  key: string;
  group: Record<string, unknown>;
  wait: string;
  interval: string;
  /** A sentence: when this event's notification would go. */
  sends: string;
}

function previewGroup(p: GroupPlacement): GroupPreview {
  const wait = showDuration(p.waitMs);
  const interval = showDuration(p.intervalMs);
  const first = p.waitMs === 0 ? 'at once' : `after ${wait}, with every event of the group gathered by then`;
  return {
    key: p.key,
    group: p.values,
    wait: p.waitMs === 0 ? '0s' : wait,
    interval,
    sends: `if it opens the group (no notification of the group in the last ${interval}): ${first}; otherwise it is gathered and sent in one digest at the end of the group's interval (${interval} after its last notification)`,
  };
}

/** Evaluates one event as the router would on arrival, with nothing sent in the last hour. */
export function dryRun(config: RouterConfig, event: EventObject, raw: string, file: string, now: number): TestReport {
  const fields = config.server.fields;
  const routing = routeEvent(config, event, { now, replay: false });
  const { type, accepted, decision } = routing;
  const time = routing.time();
  const byName = new Map(config.rules.map((r) => [r.name, r]));
  const deliveries = (accepted ? routing.plan(NO_COUNTS) : []).map((d): TestDelivery => {
    const dest = config.destinations.get(d.destination)!;
    const { rendered, notes } = renderFor(config, byName.get(d.rule) ?? null, d.rule, dest, event, raw, type, now);
    return {
      rule: d.rule,
      destination: dest.name,
      type: dest.type,
      privileged: d.privileged,
      allowed: d.status === 'pending',
      reason: d.policyReason,
      rendered,
      notes,
      ...(d.group ? { group: previewGroup(d.group) } : {}),
    };
  });
  const key = idempotencyKey(event, type, Buffer.from(raw), fields);
  return {
    rulesFile: config.file,
    event: {
      file,
      type,
      id: key.eventId,
      runId: runId(event, fields),
      executionId: executionId(event, fields),
      time: time === null ? null : new Date(time).toISOString(),
      key: key.key,
      accepted,
    },
    rules: explainRules(config, decision, type),
    deliveries,
    stoppedBy: decision.stoppedBy,
    warnings: [],
  };
}

/**
 * What one (rule, destination) receives for this event, composed by the code that sends it and
 * shown as `test` shows it (also the console's "text sent" of a stored delivery).
 */
export function renderFor(
  config: RouterConfig,
  rule: CompiledRule | null,
  ruleName: string,
  destination: Destination,
  event: EventObject,
  raw: string,
  type: string | null,
  now: number,
  digest: Digest | null = null,
): { rendered: Record<string, string>; notes: string[] } {
  const { payload, notes } = compose({
    destination,
    rule,
    ruleName,
    event,
    raw,
    type,
    digest,
    deliveryId: 'dry-run',
    attempt: 1,
    fields: config.server.fields,
    now,
  });
  // Exactly what is sent, but for the values from the environment (a token in a URL, a key in a
  // header or body): shown as the variable's name, as check does.
  const shown = Object.fromEntries(Object.entries(rendered(payload)).map(([k, v]) => [k, withholdEnv(v, config.fromEnv)]));
  return { rendered: shown, notes: notes.map((n) => withholdEnv(n, config.fromEnv)) };
}

/** The composed payload, as `test` shows it. */
function rendered(p: Composed): Record<string, string> {
  switch (p.kind) {
    case 'slack':
      return p.channel !== null ? { channel: p.channel, text: p.text } : { text: p.text };
    case 'email':
      return { to: p.to.join(', '), subject: p.subject, text: p.text };
    case 'webhook':
      return { method: p.method, url: p.url, body: p.body };
  }
}
