// The dry run of one event through the rules, as `test` prints it and the console shows it: for
// every rule, matched or not and why (rules the type index skips are listed too); for every
// delivery, the policy decision and the text the destination would receive, rendered by the same
// channel code that sends it. Pure: nothing is sent and nothing is written.
import type { CompiledRule, Destination, EventObject, RouterConfig, Template, TemplateEscape } from '../config/types.js';
import type { Notification } from '../delivery/channels/channel.js';
import { emailSubject, emailText } from '../delivery/channels/email.js';
import { buildSlackMessage } from '../delivery/channels/slack.js';
import { webhookBody } from '../delivery/channels/webhook.js';
import { typeFilter } from '../ingest/accept-types.js';
import { eventTime, eventType, executionId, runId } from '../ingest/event.js';
import { idempotencyKey } from '../ingest/idempotency.js';
import { decide } from '../policy/policy.js';
import { candidates, evaluate, plan, type PlannedDelivery } from '../rules/route.js';
import { renderMessage } from '../rules/template.js';

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
}

/** Evaluates one event as the router would on arrival, with nothing sent in the last hour. */
export function dryRun(config: RouterConfig, event: EventObject, raw: string, file: string, now: number): TestReport {
  const fields = config.server.fields;
  const type = eventType(event, fields);
  const time = eventTime(event, fields);
  const accepted = typeFilter(config.server.acceptTypes)(type);
  const { decision, pairs } = evaluate(config, event, type);

  const tested = new Set(candidates(config, type).map((r) => r.name));
  const rules = config.rules.map((rule) => {
    const outcome = decision.outcomes.find((o) => o.rule === rule.name);
    if (outcome) return outcome;
    if (!tested.has(rule.name)) {
      return { rule: rule.name, matched: false, reason: `type does not match: the rule takes ${rule.types!.join(', ')}, and this event is ${type ?? 'of no type'}` };
    }
    return { rule: rule.name, matched: false, reason: `not evaluated: rule "${decision.stoppedBy}" above has stop: true` };
  });

  const planned = accepted ? plan(config, event, pairs, { now, eventTimeMs: time, replay: false, allowedInLastHour: () => 0 }) : [];
  const byName = new Map(config.rules.map((r) => [r.name, r]));
  const deliveries = planned.map((d) => delivery(config, byName.get(d.rule)!, d, event, raw, type, time, now));
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
    rules,
    deliveries,
    stoppedBy: decision.stoppedBy,
    warnings: [],
  };
}

export function delivery(
  config: RouterConfig,
  rule: CompiledRule,
  d: PlannedDelivery,
  event: EventObject,
  raw: string,
  type: string | null,
  time: number | null,
  now: number,
): TestDelivery {
  const dest = config.destinations.get(d.destination)!;
  const notes: string[] = [];
  const n: Notification = {
    deliveryId: 'dry-run',
    attempt: 1,
    rule: rule.name,
    destination: dest,
    event,
    rawEvent: raw,
    eventType: type,
    message: (escape: TemplateEscape) =>
      renderMessage(rule, event, type, escape, (err) => notes.push(`the message template failed (${err.message}); the default summary is used`)),
    render: (template: Template | null, escape: TemplateEscape, fallback: () => string) => {
      if (!template) return fallback();
      try {
        return template.render(event, escape);
      } catch (err) {
        notes.push(`a template of "${dest.name}" failed (${(err as Error).message}); the default is used`);
        return fallback();
      }
    },
  };
  let reason: string;
  if (d.status === 'blocked') reason = d.reason ?? 'blocked by policy';
  else if (!d.privileged) reason = 'not privileged';
  else {
    reason = decide({ rule: rule.name, destination: dest, event, eventTimeMs: time, grants: config.grants, allowedInLastHour: 0, now, replay: false }).reason;
  }
  return {
    rule: rule.name,
    destination: dest.name,
    type: dest.type,
    privileged: d.privileged,
    allowed: d.status === 'pending',
    reason,
    rendered: rendered(dest, n),
    notes: [...new Set(notes)],
  };
}

export function rendered(dest: Destination, n: Notification): Record<string, string> {
  switch (dest.type) {
    case 'slack':
      return dest.channel !== null ? { channel: dest.channel, text: buildSlackMessage(n).text } : { text: buildSlackMessage(n).text };
    case 'email':
      return { to: dest.to.join(', '), subject: emailSubject(n, dest), text: emailText(n) };
    case 'webhook':
      return { method: dest.method, url: dest.url, body: webhookBody(n, dest) };
  }
}
