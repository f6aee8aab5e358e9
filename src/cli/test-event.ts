// `b3os-router test --event FILE [--rules FILE] [--json]`: a dry run of one event through the
// rules. For every rule: matched or not, and why (rules the type index skips are listed too). For
// every delivery: the policy decision and its reason, and the text the destination would receive,
// rendered by the same channel code that sends it. Nothing is sent and nothing is written.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatProblem, loadRules, shownPath } from '../config/load.js';
import { rulesPath } from '../config/options.js';
import type { CompiledRule, Destination, EventObject, Problem, RouterConfig, Template, TemplateEscape } from '../config/types.js';
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
import { UsageError, bool, parse, str } from './args.js';
import { previewGroup, type GroupPreview } from '../dispatch/group.js';

const USAGE = 'usage: b3os-router test --event FILE [--rules FILE] [--json]\n';

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

type EventRead = { ok: true; event: EventObject; raw: string } | { ok: false; message: string };

function readEvent(file: string): EventRead {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, message: `the event file ${file} does not exist` };
    if (code === 'EISDIR') return { ok: false, message: `${file} is a folder; pass the JSON file of one event` };
    return { ok: false, message: `the event file ${file} cannot be read: ${(err as Error).message}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    return { ok: false, message: `the event file ${file} is not valid JSON: ${(err as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, message: `the event file ${file} holds ${Array.isArray(value) ? 'a list' : 'a single value'}; an event is a JSON object like {"type": "run.failed", "data": {...}}` };
  }
  return { ok: true, event: value as EventObject, raw };
}

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { event: { type: 'string' } });
  if (bool(p, 'help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const json = bool(p, 'json');
  const eventFlag = str(p, 'event');
  if (!eventFlag) throw new UsageError('--event FILE is required: the JSON file of one B3OS event, e.g. --event examples/events/run-failed-payroll.json');

  const rulesFile = rulesPath(str(p, 'rules'));
  const { config, problems } = loadRules(rulesFile);
  if (!config) return refuseRules(problems, json);

  const eventFile = resolve(eventFlag);
  const read = readEvent(eventFile);
  if (!read.ok) {
    if (json) process.stdout.write(JSON.stringify({ error: read.message }, null, 2) + '\n');
    process.stderr.write(`b3os-router test: ${read.message}\n`);
    return 1;
  }
  const report = dryRun(config, read.event, read.raw, eventFlag, Date.now());
  report.warnings = problems.map(formatProblem);
  if (json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else {
    for (const w of report.warnings) process.stderr.write(w + '\n');
    process.stdout.write(human(report));
  }
  return 0;
}

function refuseRules(problems: Problem[], json: boolean): number {
  const lines = problems.map(formatProblem);
  if (json) {
    process.stdout.write(JSON.stringify({ error: 'the rules file has errors', problems }, null, 2) + '\n');
    process.stderr.write(lines.join('\n') + '\n');
  } else {
    process.stdout.write(lines.join('\n') + '\n');
    process.stdout.write('the rules file has errors (listed above); fix them, then run test again\n');
  }
  return 1;
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

function delivery(
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
    ...groupOf(rule, d, event),
  };
}

/** Noise control: `group` only for a delivery that would join one. */
function groupOf(rule: CompiledRule, d: PlannedDelivery, event: EventObject): { group?: GroupPreview } {
  const group = d.status === 'pending' ? previewGroup(rule, d.privileged, event) : null;
  return group ? { group } : {};
}

function rendered(dest: Destination, n: Notification): Record<string, string> {
  switch (dest.type) {
    case 'slack':
      return dest.channel !== null ? { channel: dest.channel, text: buildSlackMessage(n).text } : { text: buildSlackMessage(n).text };
    case 'email':
      return { to: dest.to.join(', '), subject: emailSubject(n, dest), text: emailText(n) };
    case 'webhook':
      return { method: dest.method, url: dest.url, body: webhookBody(n, dest) };
  }
}

function indent(text: string): string {
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `      | ${l}`)
    .join('\n');
}

function human(r: TestReport): string {
  const out: string[] = [];
  const e = r.event;
  out.push(`event ${e.file}: ${e.type ?? '(no type)'}`);
  const facts = [e.id && `id ${e.id}`, e.runId && `run ${e.runId}`, e.executionId && `execution ${e.executionId}`, `time ${e.time ?? 'none readable'}`, `key ${e.key}`];
  out.push(`  ${facts.filter(Boolean).join(', ')}`);
  if (!e.accepted) out.push(`  server.accept_types does not include ${e.type ?? 'untyped events'}: the router would answer 204 and ignore it`);
  out.push('', `rules (${shownPath(r.rulesFile)}, in file order):`);
  const width = Math.max(...r.rules.map((x) => x.rule.length), 4);
  for (const x of r.rules) out.push(`  ${x.matched ? 'MATCH' : 'no   '}  ${x.rule.padEnd(width)}  ${x.reason}`);
  if (r.stoppedBy) out.push(`  (rule "${r.stoppedBy}" has stop: true; later rules were not evaluated)`);
  out.push('', r.deliveries.length === 0 ? 'deliveries: none' : `deliveries (${r.deliveries.length}):`);
  for (const d of r.deliveries) {
    const verdict = d.allowed ? (d.privileged ? `would be sent (${d.reason})` : 'would be sent') : `BLOCKED: ${d.reason}`;
    const target = d.type === 'slack' ? ` ${d.rendered.channel ?? 'incoming webhook'}` : '';
    out.push(`  ${d.rule} -> ${d.destination} (${d.type}${target}${d.privileged ? ', privileged' : ''}): ${verdict}`);
    const body =
      d.type === 'email'
        ? `To: ${d.rendered.to}\nSubject: ${d.rendered.subject}\n\n${d.rendered.text}`
        : d.type === 'webhook'
          ? `${d.rendered.method} ${d.rendered.url}\n\n${d.rendered.body}`
          : d.rendered.text!;
    out.push(indent(body));
    if (d.group) out.push(`    group ${d.group.key} (${Object.entries(d.group.group).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ') || 'one group for the rule'}); wait ${d.group.wait}, interval ${d.group.interval}: sent ${d.group.sends}`);
    for (const note of d.notes) out.push(`    note: ${note}`);
  }
  out.push('', 'dry run: nothing was sent and nothing was written.');
  return out.join('\n') + '\n';
}
